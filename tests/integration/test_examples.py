"""The README's Python and curl examples run against the real gateway and agree with the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openai import OpenAI

from tests.conftest import Gateway
from tests.images import encode, image_part, make_image

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
