"""The MCP server, driven by the official ``mcp`` client as agents drive it: over Streamable HTTP at ``/mcp`` of
a gateway on ``--engine rapidocr`` with API keys, and over stdio through ``ocr-gateway mcp`` reading a local file.
The scan is an image-only PDF the test renders; the printed words must come back (recall)."""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from tests.integration.conftest import RAPIDOCR_KEYS
from tests.scans import ScannedPage, latin_and_cjk_scan, recall

KEY_A, KEY_B = RAPIDOCR_KEYS["mcp"]
LATIN = [
    "Scanned invoices become Markdown for agents.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
]
CJK = ["今天天气很好，我们去公园散步。", "请在下周五之前提交报告。"]
MIN_RECALL = 0.9
AGENTS_PAGE = Path(__file__).parents[2] / "docs" / "use" / "agents.md"
DOCS_URL, DOCS_KEY = "http://127.0.0.1:8000", "sk-your-key"


@pytest.fixture(scope="module")
def root_url(keyed_rapidocr_root: str) -> str:
    return keyed_rapidocr_root


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    return latin_and_cjk_scan(tmp_path_factory.mktemp("scan"), LATIN, CJK)


def documented_configurations(root_url: str, key: str) -> list[dict[str, Any]]:
    """The agents page's MCP client configurations, its URL and key replaced by the test gateway's."""
    section = AGENTS_PAGE.read_text().split("# Agents: MCP tools", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    written = [json.loads(block)["mcpServers"]["ocr"] for block in blocks]
    return json.loads(json.dumps(written).replace(DOCS_URL, root_url).replace(DOCS_KEY, key))


@asynccontextmanager
async def http_client(root_url: str, key: str = KEY_A) -> AsyncIterator[Client]:
    """A client configured as the agents page's Streamable HTTP configuration says."""
    configured = documented_configurations(root_url, key)[0]
    assert configured["type"] == "http"
    timeout = httpx2.Timeout(30, read=300)
    async with httpx2.AsyncClient(headers=configured["headers"], timeout=timeout) as http:
        async with Client(_transport(configured["url"], http)) as client:
            yield client


def _transport(url: str, http: httpx2.AsyncClient) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url, http_client=http)


def text_of(result: CallToolResult) -> str:
    return "".join(part.text for part in result.content if isinstance(part, TextContent))


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.mark.anyio
async def test_tools_are_listed_with_their_arguments(root_url: str) -> None:
    async with http_client(root_url) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"ocr_document", "ocr_task", "spot_text"}
    assert tools["ocr_document"].input_schema["required"] == ["source"]
    assert set(tools["ocr_task"].input_schema["properties"]) >= {"task", "fields", "target_lang", "pages", "offset"}
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools.values())


@pytest.mark.anyio
async def test_a_scanned_pdf_as_base64_comes_back_as_markdown_with_progress(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    progress: list[tuple[float, float | None]] = []

    async def on_progress(progress_made: float, total: float | None, message: str | None) -> None:
        progress.append((progress_made, total))

    async with http_client(root_url) as client:
        result = await client.call_tool("ocr_document", {"source": b64(path)}, progress_callback=on_progress)
    markdown = text_of(result)
    assert not result.is_error, markdown
    for page in pages:
        assert recall("\n".join(page.lines), markdown) >= MIN_RECALL, markdown
    assert progress and progress[-1][0] == progress[-1][1], progress  # told page by page, to the end


@pytest.mark.anyio
async def test_pages_spotting_and_tasks(root_url: str, scan: tuple[list[ScannedPage], Path]) -> None:
    pages, path = scan
    async with http_client(root_url) as client:
        second = text_of(await client.call_tool("ocr_document", {"source": b64(path), "pages": "2", "format": "text"}))
        spotted = json.loads(text_of(await client.call_tool("spot_text", {"source": b64(path), "pages": "1"})))
        text = await client.call_tool("ocr_task", {"source": b64(path), "task": "text", "pages": "1-2"})
    assert recall("\n".join(pages[1].lines), second) >= MIN_RECALL and recall("\n".join(pages[0].lines), second) == 0
    assert [page["page"] for page in spotted] == [1]
    lines = spotted[0]["lines"]
    assert recall("\n".join(pages[0].lines), "\n".join(line["text"] for line in lines)) >= MIN_RECALL
    width, height = spotted[0]["width"], spotted[0]["height"]
    assert all(0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height for x1, y1, x2, y2 in (line["box"] for line in lines))
    assert "## Page 1" in text_of(text) and "## Page 2" in text_of(text)


@pytest.mark.anyio
async def test_an_uploaded_file_is_read_by_its_owner_only(root_url: str, scan: tuple[list[ScannedPage], Path]) -> None:
    pages, path = scan
    with httpx.Client(base_url=root_url, timeout=60) as http:
        uploaded = http.post(
            "/v1/files",
            files={"file": ("scan.pdf", path.read_bytes(), "application/pdf")},
            data={"purpose": "ocr"},
            headers={"Authorization": f"Bearer {KEY_A}"},
        )
    assert uploaded.status_code == 200, uploaded.text
    file_id = uploaded.json()["id"]
    async with http_client(root_url) as client:
        own = await client.call_tool("ocr_document", {"source": file_id, "pages": "1"})
    async with http_client(root_url, KEY_B) as client:
        other = await client.call_tool("ocr_document", {"source": file_id})
    assert recall("\n".join(pages[0].lines), text_of(own)) >= MIN_RECALL
    assert other.is_error and file_id in text_of(other)


@pytest.mark.anyio
async def test_bad_calls_are_tool_errors_and_the_server_carries_on(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    bad = {
        "/etc/passwd": "never reads paths",
        "file:///etc/passwd": "never reads paths",
        "bm90IGEgZG9jdW1lbnQgYXQgYWxsLCBqdXN0IHNvbWUgd29yZHMgaW4gYmFzZTY0IGZvciB0aGUgdGVzdA==": "image",
        # This machine itself (0.0.0.0 reaches its own services): refused by the fetch policy, even with
        # --allow-private-media, which the shared gateway has.
        "http://0.0.0.0:9/scan.pdf": "not allowed",
    }
    async with http_client(root_url) as client:
        for source, said in bad.items():
            result = await client.call_tool("ocr_document", {"source": source})
            assert result.is_error and said in text_of(result).lower(), (source, text_of(result))
        beyond = await client.call_tool("ocr_document", {"source": b64(path), "pages": "3"})
        assert beyond.is_error and "2 page" in text_of(beyond)
        no_fields = await client.call_tool("ocr_task", {"source": b64(path), "task": "fields"})
        assert no_fields.is_error and "fields" in text_of(no_fields)
        past = await client.call_tool("ocr_document", {"source": b64(path), "pages": "1", "offset": 10**6})
        assert past.is_error and "past the end" in text_of(past)
        good = await client.call_tool("ocr_document", {"source": b64(path), "pages": "1"})
    assert recall("\n".join(pages[0].lines), text_of(good)) >= MIN_RECALL


def test_without_a_key_or_under_another_host_name_mcp_is_refused(root_url: str) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    refused = httpx.post(f"{root_url}/mcp", json=hello, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    # DNS rebinding: a page of another site whose name now points at 127.0.0.1 (the key would not help it).
    headers = {
        "Authorization": f"Bearer {KEY_A}",
        "Host": "attacker.example",
        "Accept": "application/json, text/event-stream",
    }
    rebound = httpx.post(f"{root_url}/mcp", json=hello, headers=headers, timeout=30)
    assert 400 <= rebound.status_code < 500 and "host" in rebound.text.lower(), rebound.text


@pytest.mark.anyio
async def test_ocr_gateway_mcp_reads_a_local_file_over_stdio(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    """Claude Desktop's configuration as the agents page gives it: a command, its arguments, an environment."""
    pages, path = scan
    # Another caller than the tests above: no answer is kept for it, so it is read (with progress).
    configured = documented_configurations(root_url, KEY_B)[1]
    command = Path(sys.executable).with_name(configured["command"])  # the virtualenv's console script
    server = StdioServerParameters(command=str(command), args=configured["args"], env=configured["env"])
    progress: list[float] = []

    async def on_progress(progress_made: float, total: float | None, message: str | None) -> None:
        progress.append(progress_made)

    secret = path.with_name("id_rsa")
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    async with Client(server) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        local = await client.call_tool("ocr_document", {"source": str(path)}, progress_callback=on_progress)
        missing = await client.call_tool("ocr_document", {"source": str(path.with_name("missing.pdf"))})
        not_a_document = await client.call_tool("ocr_document", {"source": str(secret)})
    assert names == {"ocr_document", "ocr_task", "spot_text"}
    for page in pages:
        assert recall("\n".join(page.lines), text_of(local)) >= MIN_RECALL, text_of(local)
    assert progress
    assert missing.is_error and "missing.pdf" in text_of(missing)
    assert not_a_document.is_error and "not a PDF or an image" in text_of(not_a_document)
