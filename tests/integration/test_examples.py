"""The README's Python and curl examples run against the real gateway and agree with the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import Gateway
from tests.images import encode, image_part, make_image, make_pdf

EXAMPLES = Path(__file__).parents[2] / "examples"


def expected_answer(client: OpenAI, gateway: Gateway, image_path: Path) -> str:
    from PIL import Image

    image = Image.open(image_path).convert("RGB")
    messages = [
        {"role": "user", "content": [image_part(image), {"type": "text", "text": "Extract all text in this image."}]}
    ]
    completion = client.chat.completions.create(model=gateway.model, messages=messages, max_tokens=16, temperature=0)
    return completion.choices[0].message.content or ""


def test_python_example_streams_the_same_text_as_the_api(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    image_path = tmp_path / "scan.png"
    image_path.write_bytes(encode(make_image(180, 120, seed=900)))
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "ocr_openai.py"),
            str(image_path),
            "--base-url",
            gateway.base_url,
            "--max-tokens",
            "16",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.rstrip("\n") == expected_answer(client, gateway, image_path)
    assert "completion tokens" in result.stderr


def test_curl_example_returns_the_same_completion_as_the_api(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    image_path = tmp_path / "photo.png"
    image_path.write_bytes(encode(make_image(90, 200, seed=901)))
    result = subprocess.run(
        ["bash", str(EXAMPLES / "ocr_curl.sh"), str(image_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "OCR_GATEWAY_URL": gateway.base_url, "MAX_TOKENS": "16"},
    )
    completion = json.loads(result.stdout)
    assert completion["model"] == gateway.model
    assert completion["choices"][0]["message"]["content"] == expected_answer(client, gateway, image_path)


def run_example(command: list[str], gateway: Gateway, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
        env={**os.environ, "OCR_GATEWAY_URL": gateway.base_url, **env},
    )


def chat_answer(client: OpenAI, gateway: Gateway, image_path: Path, max_tokens: int, **extra: str) -> str:
    from PIL import Image

    completion = client.chat.completions.create(
        model=gateway.model,
        messages=[{"role": "user", "content": [image_part(Image.open(image_path).convert("RGB"))]}],
        max_tokens=max_tokens,
        extra_body=extra,
    )
    return completion.choices[0].message.content or ""


def test_sync_example_prints_the_answer_for_the_task_it_names(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    image_path = tmp_path / "invoice.png"
    image_path.write_bytes(encode(make_image(200, 120, seed=902)))
    result = run_example(
        [sys.executable, str(EXAMPLES / "ocr_sync.py"), str(image_path), "--task", "table", "--max-tokens", "12"],
        gateway,
    )
    assert result.stdout.rstrip("\n") == chat_answer(client, gateway, image_path, 12, task="table")
    assert result.stderr.startswith("[task table: ") and "12 completion tokens" in result.stderr


def test_async_example_prints_each_images_text_in_order(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    paths = []
    for seed, name in ((903, "first.png"), (904, "second.png")):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(encode(make_image(120, 150, seed=seed)))
    result = run_example(
        [sys.executable, str(EXAMPLES / "ocr_async.py"), *map(str, paths), "--max-tokens", "10"], gateway
    )
    expected = "".join(f"== {path.name} ==\n{chat_answer(client, gateway, path, 10, task='text')}\n" for path in paths)
    assert result.stdout == expected
    assert "2 images in" in result.stderr


@pytest.fixture(scope="module")
def node_example() -> Path:
    """examples/node with its locked dependencies installed (``npm ci`` when node_modules is missing)."""
    folder = EXAMPLES / "node"
    if not (folder / "node_modules" / "openai").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=folder, check=True, timeout=300)
    return folder


def test_node_example_streams_the_same_text_as_the_api(
    client: OpenAI, gateway: Gateway, node_example: Path, tmp_path: Path
) -> None:
    image_path = tmp_path / "scan.png"
    image_path.write_bytes(encode(make_image(180, 120, seed=905)))
    result = run_example(
        ["node", str(node_example / "ocr_stream.mjs"), str(image_path), "Extract all text in this image."],
        gateway,
        MAX_TOKENS="16",
    )
    assert result.stdout.rstrip("\n") == expected_answer(client, gateway, image_path)
    assert "16 completion tokens" in result.stderr


def test_ocr_endpoint_curl_example_answers_images_and_pdfs(client: OpenAI, gateway: Gateway, tmp_path: Path) -> None:
    image_path = tmp_path / "receipt.png"
    image_path.write_bytes(encode(make_image(140, 200, seed=906)))
    command = ["bash", str(EXAMPLES / "ocr_endpoint_curl.sh")]
    answer = json.loads(run_example([*command, str(image_path), "text"], gateway, MAX_TOKENS="12").stdout)
    assert answer["text"] == chat_answer(client, gateway, image_path, 12, task="text")
    assert answer["task"] == "text" and answer["model"] == gateway.model

    pdf_path = tmp_path / "two-pages.pdf"
    pdf_path.write_bytes(make_pdf([make_image(150, 200, seed=seed) for seed in (907, 908)]))
    answer = json.loads(run_example([*command, str(pdf_path)], gateway, MAX_TOKENS="6").stdout)
    assert [page["page"] for page in answer["pages"]] == [1, 2] and answer["task"] == "document"


def test_batch_example_writes_text_and_json_per_file_and_resumes(gateway: Gateway, tmp_path: Path) -> None:
    inputs, outputs = tmp_path / "scans", tmp_path / "out"
    (inputs / "nested").mkdir(parents=True)
    (inputs / "a.png").write_bytes(encode(make_image(100, 140, seed=909)))
    (inputs / "nested" / "b.jpg").write_bytes(encode(make_image(160, 100, seed=910), "JPEG"))
    (inputs / "c.pdf").write_bytes(make_pdf([make_image(120, 160, seed=seed) for seed in (911, 912)]))
    (inputs / "notes.md").write_text("not a scan")
    command = [sys.executable, str(EXAMPLES / "ocr_batch.py"), str(inputs), str(outputs), "--max-tokens", "6"]

    first = run_example([*command, "--concurrency", "3"], gateway)
    assert first.stdout.startswith(f"3 files (4 pages) OCR'd into {outputs} in ")
    assert first.stdout.rstrip().endswith("0 already done, 0 failed")
    assert "3/3" in first.stderr  # the progress bar's last state
    assert sorted(path.name for path in outputs.iterdir()) == ["a.json", "a.txt", "b.json", "b.txt", "c.json", "c.txt"]
    for stem in ("a", "b", "c"):
        result = json.loads((outputs / f"{stem}.json").read_text())
        assert (outputs / f"{stem}.txt").read_text() == result["text"] + "\n"
        assert result["model"] == gateway.model and result["usage"]["completion_tokens"] > 0
    assert len(json.loads((outputs / "c.json").read_text())["pages"]) == 2

    again = run_example(command, gateway)
    assert again.stdout.startswith("0 files (0 pages)") and "3 already done" in again.stdout
