"""PaddleOCR's jobs API (``/api/v2/ocr/jobs``) against a real gateway on ``--engine rapidocr``: ``langchain-paddleocr``
0.2.2's own ``PaddleOCRVLLoader`` (through PaddleOCR 3.7's ``PaddleOCRClient``: multipart submit, polling, the
JSONL result downloaded from its signed URL without a key), and the API's error envelope over real sockets.

The loader needs ``paddleocr``, which pulls PaddleX, whose pins clash with ours: it lives in the virtualenv
``make test`` makes for ``paddleocr-mcp`` and names in ``PADDLEOCR_PYTHON``; without it that test is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.scans import ScannedPage, latin_and_cjk_scan, recall

LATIN = [
    "LangChain loads scanned pages through the gateway.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
]
CJK = ["今天天气很好，我们去公园散步。", "请在下周五之前提交报告。"]
MIN_RECALL = 0.9
PADDLEOCR_PYTHON = os.environ.get("PADDLEOCR_PYTHON", "")
JOBS = "/api/v2/ocr/jobs"

# What the test runs in the loader's virtualenv: the README's snippet, printing the Documents as JSON.
LOADER = """
import json, sys
from langchain_paddleocr import PaddleOCRVLLoader
from pydantic import SecretStr

loader = PaddleOCRVLLoader(
    file_path=sys.argv[1],
    base_url=sys.argv[2],  # the gateway's root, e.g. http://127.0.0.1:8000
    access_token=SecretStr("sk-anything"),  # one of --api-key, when the gateway has keys
)
documents = loader.load()
print(json.dumps([{"text": d.page_content, "metadata": d.metadata} for d in documents]))
"""


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    return latin_and_cjk_scan(tmp_path_factory.mktemp("paddleocr-jobs-scan"), LATIN, CJK)


def run_loader(path: Path, base_url: str) -> list[dict[str, object]]:
    if not os.access(PADDLEOCR_PYTHON, os.X_OK):
        pytest.skip("langchain-paddleocr lives in its own virtualenv: `make test` installs it, sets PADDLEOCR_PYTHON")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True",  # PaddleX would look for model hosts when imported
        "NO_PROXY": "127.0.0.1",
    }
    done = subprocess.run(
        [PADDLEOCR_PYTHON, "-c", LOADER, str(path), base_url], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    documents: list[dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return documents


def wait_until_finished(base_url: str, job_id: str, timeout: float = 300) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{base_url}{JOBS}/{job_id}", timeout=30)
        assert response.status_code == 200, response.text
        data: dict[str, object] = response.json()["data"]
        if data["state"] in ("done", "failed"):
            return data
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


def refused(response: httpx.Response, status: int) -> str:
    """The error message, once the response is the API's error envelope with ``status``."""
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"code", "msg"} and body["code"] == status
    return str(body["msg"])


def test_langchain_loader_reads_the_printed_words_of_a_scanned_pdf(
    rapidocr_root: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    _, path = scan
    (document,) = run_loader(path, rapidocr_root)
    text = str(document["text"])
    assert recall("\n".join(LATIN + CJK), text) >= MIN_RECALL, text
    raw = document["metadata"]["paddleocr_vl_raw_response"]  # type: ignore[index]
    assert len(raw["pages"]) == 2 and raw["job_id"]


def test_a_done_jobs_jsonl_has_a_line_per_page_and_downloads_without_a_key(
    rapidocr_root: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    with path.open("rb") as pdf:
        submitted = httpx.post(
            f"{rapidocr_root}{JOBS}", data={"model": "PP-OCRv5"}, files={"file": pdf}, timeout=60
        ).json()
    assert submitted["code"] == 0, submitted
    data = wait_until_finished(rapidocr_root, submitted["data"]["jobId"])
    assert data["state"] == "done", data
    assert data["extractProgress"]["totalPages"] == data["extractProgress"]["extractedPages"] == 2  # type: ignore[index]
    lines = httpx.get(data["resultUrl"]["jsonUrl"], timeout=30).text.strip().splitlines()  # type: ignore[index]
    results = [json.loads(line)["result"] for line in lines]
    assert len(results) == 2 and all(result["dataInfo"]["numPages"] == 2 for result in results)
    for page, result in zip(pages, results, strict=True):
        (read,) = result["ocrResults"]
        assert recall("\n".join(page.lines), "\n".join(read["prunedResult"]["rec_texts"])) >= MIN_RECALL


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"files": {"file": ("notes.pdf", b"%PDF-1.7 truncated, not a PDF")}}, "pdf"),
        ({"json": {"fileUrl": "http://127.0.0.1:1/scan.pdf", "model": "PaddleOCR-VL-1.6"}}, "not allowed"),
    ],
    ids=["broken-pdf", "loopback-url"],
)
def test_a_job_whose_file_is_bad_fails_with_a_message_and_the_gateway_carries_on(
    rapidocr_root: str, source: dict[str, object], reason: str
) -> None:
    form = {"data": {"model": "PaddleOCR-VL-1.6"}} if "files" in source else {}
    submitted = httpx.post(f"{rapidocr_root}{JOBS}", timeout=60, **form, **source)  # type: ignore[arg-type]
    assert submitted.status_code == 200, submitted.text
    data = wait_until_finished(rapidocr_root, submitted.json()["data"]["jobId"])
    assert data["state"] == "failed" and data["resultUrl"] is None
    assert reason in str(data["errorMsg"]).lower(), data
    assert httpx.get(f"{rapidocr_root}/health", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("request_args", "status"),
    [
        ({"data": {"model": "PaddleOCR-VL-9"}, "files": {"file": b"%PDF"}}, 400),  # no such model
        ({"data": {"model": "PP-OCRv5"}}, 400),  # no file
        ({"data": {"model": "PP-OCRv5", "optionalPayload": "{not json"}, "files": {"file": b"x"}}, 400),
        ({"data": {"model": "PP-OCRv5", "pageRanges": "1-2"}, "files": {"file": b"x"}}, 400),  # refused, not ignored
        ({"json": {"fileUrl": "file:///etc/passwd", "model": "PP-OCRv5"}}, 400),
        ({"content": b"x" * (200 * 2**20), "headers": {"content-type": "multipart/form-data; boundary=x"}}, 413),
    ],
    ids=["unknown-model", "no-file", "bad-optional-payload", "page-ranges", "not-http-url", "too-large"],
)
def test_submit_errors_come_in_the_apis_envelope(
    rapidocr_root: str, request_args: dict[str, object], status: int
) -> None:
    response = httpx.post(f"{rapidocr_root}{JOBS}", timeout=60, **request_args)  # type: ignore[arg-type]
    assert refused(response, status)


def test_an_unknown_job_is_a_404_in_the_apis_envelope(rapidocr_root: str) -> None:
    assert "not found" in refused(httpx.get(f"{rapidocr_root}{JOBS}/job-0123", timeout=30), 404)
