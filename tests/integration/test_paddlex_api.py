"""PaddleOCR's own MCP server (PyPI ``paddleocr-mcp`` 0.8.5) in ``self_hosted`` mode against a real gateway on
``--engine rapidocr``, and PaddleX's error envelope over real sockets.

``paddleocr-mcp`` is driven as a desktop agent drives it: started over stdio by the ``mcp`` client SDK with the
settings its README gives (``PADDLEOCR_MCP_PPOCR_SOURCE=self_hosted``, ``PADDLEOCR_MCP_SELF_HOSTED_BASE_URL``,
``PADDLEOCR_MCP_MODEL``), its tool called with the scan's path; its code reads the file, sends ``POST
{base}/ocr`` or ``{base}/layout-parsing`` with ``{file: base64, visualize: false, …}`` and parses our answer
(``inference/shared/http_result_parsers.py``). It pulls PaddleX (without PaddlePaddle), whose pins (PyYAML,
opencv-contrib-python 4.10) clash with ours, so it lives in a virtualenv of its own that ``make test`` makes and
names in ``PADDLEOCR_MCP_BIN``; without it those tests are skipped.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.scans import ScannedPage, latin_and_cjk_scan, recall

LATIN = [
    "PaddleOCR clients read scans through the gateway.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
]
CJK = ["今天天气很好，我们去公园散步。", "请在下周五之前提交报告。"]
MIN_RECALL = 0.9
PADDLEOCR_MCP_BIN = os.environ.get("PADDLEOCR_MCP_BIN", "")


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    return latin_and_cjk_scan(tmp_path_factory.mktemp("paddlex-scan"), LATIN, CJK)


def paddleocr_mcp(model: str, base_url: str) -> StdioServerParameters:
    """``paddleocr_mcp`` in self_hosted mode, as its README configures it for an MCP host."""
    if not os.access(PADDLEOCR_MCP_BIN, os.X_OK):
        pytest.skip("paddleocr-mcp lives in its own virtualenv: `make test` installs it and sets PADDLEOCR_MCP_BIN")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PADDLEOCR_MCP_PPOCR_SOURCE": "self_hosted",
        "PADDLEOCR_MCP_SELF_HOSTED_BASE_URL": base_url,
        "PADDLEOCR_MCP_MODEL": model,
        "PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK": "True",  # PaddleX would look for model hosts when imported
        "NO_PROXY": "127.0.0.1",
    }
    return StdioServerParameters(command=PADDLEOCR_MCP_BIN, args=[], env=env)


async def call_tool(server: StdioServerParameters, tool: str, arguments: dict[str, object]) -> tuple[bool, str]:
    """The tool's error flag and its text, from a fresh session with the server."""
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        assert tool in [found.name for found in listed.tools]
        result = await session.call_tool(tool, arguments, read_timeout_seconds=300)
        texts = [part.text for part in getattr(result, "content", []) if getattr(part, "type", "") == "text"]
        return bool(getattr(result, "isError", False)), "\n".join(texts)


def test_paddleocr_mcp_ocr_tool_reads_the_printed_words(
    rapidocr_root: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    server = paddleocr_mcp("PP-OCRv5", f"{rapidocr_root}/paddlex")
    failed, text = asyncio.run(call_tool(server, "ocr", {"input_data": str(path), "file_type": "pdf"}))
    assert not failed, text
    assert recall("\n".join(LATIN + CJK), text) >= MIN_RECALL, text
    assert "text lines" in text  # the tool's own summary, from rec_scores and the lines it parsed


def test_paddleocr_mcp_layout_tool_reads_each_page_into_markdown(
    rapidocr_root: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    server = paddleocr_mcp("PP-StructureV3", f"{rapidocr_root}/paddlex")
    failed, text = asyncio.run(
        call_tool(server, "pp_structurev3", {"input_data": str(path), "output_mode": "detailed"})
    )
    assert not failed, text
    assert recall("\n".join(LATIN + CJK), text) >= MIN_RECALL, text
    assert "Pages: 2" in text


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def test_layout_parsing_answers_in_paddlex_envelope_with_the_pdfs_pages(
    rapidocr_root: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    response = httpx.post(
        f"{rapidocr_root}/paddlex/layout-parsing", json={"file": b64(path), "fileType": 0}, timeout=300
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success"
    info = body["result"]["dataInfo"]
    assert info["type"] == "pdf" and info["numPages"] == 2 and len(info["pages"]) == 2
    markdown = [page["markdown"]["text"] for page in body["result"]["layoutParsingResults"]]
    for page, text in zip(pages, markdown, strict=True):
        assert recall("\n".join(page.lines), text) >= MIN_RECALL, text


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("ocr", {"file": "%%% not base64"}, 422),
        ("ocr", {"file": "aGVsbG8=", "fileType": 3}, 422),
        ("layout-parsing", {"file": "http://internal.invalid/scan.pdf"}, 422),  # unknown host: not fetched
        ("layout-parsing", {"file": "http://127.0.0.1:1/scan.pdf"}, 422),  # loopback: refused by the SSRF guard
        ("ocr", {"file": "A" * (30 * 2**20)}, 413),  # more than --max-image-mb once decoded
    ],
)
def test_errors_come_in_paddlex_envelope_and_the_gateway_carries_on(
    rapidocr_root: str, path: str, body: dict[str, object], status: int
) -> None:
    response = httpx.post(f"{rapidocr_root}/paddlex/{path}", json=body, timeout=120)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"logId", "errorCode", "errorMsg"} and answer["errorCode"] == status
    assert answer["errorMsg"]
    assert httpx.get(f"{rapidocr_root}/health", timeout=30).status_code == 200
