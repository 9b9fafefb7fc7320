"""docling's own service client (``docling.service_client`` from docling-slim, which docling-mcp, Haystack and
llama-stack call docling-serve with), unchanged, against a gateway on ``--engine rapidocr`` with an API key.

Its documented calls: ``DoclingServiceClient(url, api_key).convert(source)`` for a file or a URL, which asks for a
presigned-URL target first and falls back to an in-body answer on docling-serve's refusal, sends the key as
``X-Api-Key``, watches the task on ``WS /v1/status/ws/{id}?api_key=…`` (or ``GET /v1/status/poll/{id}?wait=5``)
and rebuilds a ``ConversionResult`` from ``/v1/result/{id}``; ``AsyncDoclingServiceClient.submit``; ``health()``
and ``version()``; ``chunk(source, ChunkerKind.HIERARCHICAL)``, which submits to ``/v1/chunk/…/async`` and reads
a ``ChunkDocumentResponse``. The websocket watcher is run with its fallback to polling off, so a websocket that
fails fails the test. A scanned, image-only PDF must come back with its printed words.

Then the third-party SDK ``docling-serve-client`` (``docling_serve_sdk.DoclingClient``), through the calls its
README and ``examples.py`` show: ``convert_file`` (sync and ``await convert_file_async``), an async task
(``convert_file_async_task`` then ``wait_for_task``), and hierarchical chunking of a file and of a URL source.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docling.datamodel.base_models import ConversionStatus
from docling.datamodel.document import ConversionResult
from docling.service_client import (
    AsyncDoclingServiceClient,
    ChunkerKind,
    DoclingServiceClient,
    ServiceError,
    StatusWatcherKind,
)
from docling_serve_sdk import (
    ConvertDocumentResponse,
    DoclingClient,
    DoclingValidationError,
    HierarchicalChunkerOptions,
    HierarchicalChunkerOptionsDocumentsRequest,
    HttpSourceRequest,
    HybridChunkerOptions,
)

from tests.integration.conftest import HUB_TOKENIZER, RAPIDOCR_KEYS
from tests.pages import PROSE, report_page
from tests.scans import ScannedPage, image_only_pdf, latin_and_cjk_scan, recall
from tests.servers import media_server

# docling's client uploads a file from a handle it opens and leaves to the garbage collector
# (DoclingServiceClient._source_to_upload_files): its ResourceWarning is the client's, not ours.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <_io\.FileIO:pytest.PytestUnraisableExceptionWarning"
)
(KEY,) = RAPIDOCR_KEYS["docling"]
LATIN = [
    "Scanned invoices become Markdown for retrieval.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
]
CJK = ["今天天气很好，我们去公园散步。", "北京市海淀区中关村大街一号"]
MIN_RECALL = 0.95
JOB_TIMEOUT = 120.0


@pytest.fixture(autouse=True)
def collect_the_client_s_open_files() -> Iterator[None]:
    yield
    gc.collect()  # now, while the filter above applies, rather than at the end of the session


@pytest.fixture(scope="module")
def server_log(keyed_rapidocr_log: Path) -> Path:
    return keyed_rapidocr_log


@pytest.fixture(scope="module")
def root_url(keyed_rapidocr_root: str) -> str:
    """The session's keyed ``--engine rapidocr`` gateway (it fetches URLs on loopback: the media server)."""
    return keyed_rapidocr_root


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScannedPage], Path]:
    return latin_and_cjk_scan(tmp_path_factory.mktemp("scan"), LATIN, CJK)


@pytest.fixture(scope="module")
def scan_url(scan: tuple[list[ScannedPage], Path]) -> Iterator[str]:
    with media_server() as server:
        server.routes["/scan.pdf"] = (200, {"Content-Type": "application/pdf"}, scan[1].read_bytes())
        yield f"{server.base_url}/scan.pdf"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned report page with a title above its prose (tests/pages.py), as an image-only PDF."""
    path = tmp_path_factory.mktemp("report") / "report.pdf"
    path.write_bytes(image_only_pdf([report_page()], dpi=150))
    return path


def client(root_url: str, watcher: StatusWatcherKind = StatusWatcherKind.WEBSOCKET) -> DoclingServiceClient:
    return DoclingServiceClient(
        url=root_url, api_key=KEY, status_watcher=watcher, ws_fallback_to_poll=False, job_timeout=JOB_TIMEOUT
    )


def assert_read(result: ConversionResult, pages: list[ScannedPage]) -> float:
    """The printed words of every page are in the rebuilt DoclingDocument; returns their recall."""
    assert result.status == ConversionStatus.SUCCESS, result.errors
    markdown = result.document.export_to_markdown()
    share = recall("\n".join(line for page in pages for line in page.lines), markdown)
    assert share >= MIN_RECALL, markdown
    assert {item.prov[0].page_no for item, _ in result.document.iterate_items() if item.prov} == {1, 2}
    return share


@pytest.mark.parametrize("watcher", list(StatusWatcherKind), ids=lambda kind: kind.value)
@pytest.mark.parametrize("by", ["file", "url"])
def test_convert_reads_the_printed_words_of_a_scan_by_file_or_url(
    root_url: str, scan: tuple[list[ScannedPage], Path], scan_url: str, by: str, watcher: StatusWatcherKind
) -> None:
    pages, path = scan
    with client(root_url, watcher) as docling:
        started = time.perf_counter()
        result = docling.convert(path if by == "file" else scan_url)
        took = time.perf_counter() - started
    print(f"{by}, {watcher.value}: recall {assert_read(result, pages):.3f} in {took:.1f} s")


def test_the_async_client_submits_and_waits_on_the_websocket(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan

    async def convert() -> ConversionResult:
        async with AsyncDoclingServiceClient(
            url=root_url, api_key=KEY, ws_fallback_to_poll=False, job_timeout=JOB_TIMEOUT
        ) as docling:
            job = await docling.submit(path)
            result = await job.result(timeout=JOB_TIMEOUT)
            assert isinstance(result, ConversionResult)
            return result

    assert_read(asyncio.run(convert()), pages)


def test_health_and_version_are_read_by_the_client(root_url: str) -> None:
    with client(root_url) as docling:
        assert docling.health().status == "ok"
        assert "hunyuan-ocr-gateway" in docling.version()


def test_a_wrong_key_is_the_client_s_own_401(root_url: str, scan: tuple[list[ScannedPage], Path]) -> None:
    with DoclingServiceClient(url=root_url, api_key="sk-wrong") as docling, pytest.raises(ServiceError) as refused:
        docling.convert(scan[1])
    assert refused.value.status_code == 401


@pytest.mark.anyio
async def test_docling_mcp_in_remote_mode_converts_and_exports_through_the_gateway(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    """``docling-mcp``'s own server, as an agent's host runs it (stdio, remote conversion mode): its conversion
    tool goes through docling's service client to our docling-serve routes, its export tool gives the Markdown."""
    from mcp import Client, StdioServerParameters
    from mcp.types import TextContent

    pages, path = scan
    server = StdioServerParameters(
        command=str(Path(sys.executable).with_name("docling-mcp-server")),
        args=["--transport", "stdio"],
        env={
            "DOCLING_MCP_CONVERSION_MODE": "remote",
            "DOCLING_MCP_SERVICE_URL": root_url,
            "DOCLING_MCP_SERVICE_API_KEY": KEY,
        },
    )
    async with Client(server) as docling_mcp:
        converted = await docling_mcp.call_tool("convert_document_into_docling_document", {"source": str(path)})
        assert not converted.is_error, converted.content
        key = (converted.structured_content or {})["document_key"]
        exported = await docling_mcp.call_tool("export_docling_document_to_markdown", {"document_key": key})
    markdown = (exported.structured_content or {}).get("markdown") or "".join(
        part.text for part in exported.content if isinstance(part, TextContent)
    )
    for page in pages:
        assert recall("\n".join(page.lines), markdown) >= MIN_RECALL, markdown


def printed(pages: list[ScannedPage]) -> str:
    return "\n".join(line for page in pages for line in page.lines)


@pytest.mark.parametrize("watcher", list(StatusWatcherKind), ids=lambda kind: kind.value)
def test_chunk_gives_the_printed_words_of_every_page_in_chunks(
    root_url: str, scan: tuple[list[ScannedPage], Path], watcher: StatusWatcherKind
) -> None:
    """``chunk()`` is docling's async path: ``/v1/chunk/hierarchical/file/async``, the status watched, the result."""
    pages, path = scan
    with client(root_url, watcher) as docling:
        started = time.perf_counter()
        answer = docling.chunk(path, ChunkerKind.HIERARCHICAL)
        took = time.perf_counter() - started
    share = recall(printed(pages), "\n".join(chunk.text for chunk in answer.chunks))
    assert share >= MIN_RECALL, answer.chunks
    assert {page for chunk in answer.chunks for page in chunk.page_numbers or []} == {1, 2}
    assert [document.status for document in answer.documents] == [ConversionStatus.SUCCESS]
    print(f"chunk, {watcher.value}: recall {share:.3f} in {took:.1f} s, {len(answer.chunks)} chunks")


def test_chunks_carry_the_title_above_them(root_url: str, report: Path) -> None:
    with client(root_url) as docling:
        answer = docling.chunk(report, ChunkerKind.HIERARCHICAL)
    prose = [chunk for chunk in answer.chunks if recall(PROSE, chunk.text) >= 0.5]
    assert prose, answer.chunks
    assert all(chunk.headings == ["Widget Sales by Region, 2026"] for chunk in prose), prose
    assert recall(PROSE, "\n".join(chunk.text for chunk in prose)) >= MIN_RECALL
    assert prose[0].text.startswith("Widget Sales by Region, 2026\n")  # the heading, then the chunk


def test_the_hybrid_chunker_is_refused_with_the_reason(root_url: str, scan: tuple[list[ScannedPage], Path]) -> None:
    with client(root_url) as docling, pytest.raises(ServiceError) as refused:
        docling.chunk(scan[1], ChunkerKind.HYBRID)
    assert refused.value.status_code == 422
    assert "tokenizer" in str(refused.value.detail) and "/v1/chunk/hierarchical/" in str(refused.value.detail)


def sdk(root_url: str) -> DoclingClient:
    return DoclingClient(root_url, api_key=KEY, timeout=JOB_TIMEOUT)


def test_docling_serve_client_converts_a_scan_sync_and_async(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    with sdk(root_url) as client:
        converted = client.convert_file(path)

    async def convert_async() -> object:
        async with sdk(root_url) as client:
            return await client.convert_file_async(path)

    for result in (converted, asyncio.run(convert_async())):
        assert isinstance(result, ConvertDocumentResponse) and result.status == "success", result
        assert recall(printed(pages), result.document.md_content or "") >= MIN_RECALL, result.document.md_content


def test_docling_serve_client_runs_an_async_task_to_its_result(
    root_url: str, scan: tuple[list[ScannedPage], Path]
) -> None:
    pages, path = scan
    with sdk(root_url) as client:
        task = client.convert_file_async_task(path)
        result = client.wait_for_task(task.task_id, poll_interval=1.0, timeout=JOB_TIMEOUT)
    assert result["status"] == "success", result
    assert recall(printed(pages), result["document"]["md_content"]) >= MIN_RECALL


def test_docling_serve_client_chunks_a_file_and_a_url_source(
    root_url: str, scan: tuple[list[ScannedPage], Path], scan_url: str
) -> None:
    pages, path = scan
    options = HierarchicalChunkerOptions(include_raw_text=True)
    request = HierarchicalChunkerOptionsDocumentsRequest(
        sources=[HttpSourceRequest(url=scan_url)], chunking_options=options
    )
    with sdk(root_url) as client:
        answers = [
            client.chunk_hierarchical_file(path, chunking_options=options),
            client.chunk_hierarchical_source(request),
        ]
        # The hybrid chunker with a tokenizer in the server's Hugging Face cache, then with its default, not there.
        hybrid = HybridChunkerOptions(tokenizer=HUB_TOKENIZER, max_tokens=8, include_raw_text=True)
        answers.append(client.chunk_hybrid_file(path, chunking_options=hybrid))
        with pytest.raises(DoclingValidationError, match="hf download sentence-transformers/all-MiniLM-L6-v2"):
            client.chunk_hybrid_file(path)
    for answer in answers:
        assert recall(printed(pages), "\n".join(chunk.text for chunk in answer.chunks)) >= MIN_RECALL, answer
        assert all(chunk.raw_text for chunk in answer.chunks)
    assert len(answers[-1].chunks) > len(answers[0].chunks)  # split to 8 tokens (a word or a mark each, here)


def test_the_key_the_client_sends_in_the_websocket_url_is_not_logged(server_log: Path, root_url: str) -> None:
    """Last in this module: by now the client has watched tasks over ``/v1/status/ws/{id}?api_key=…``."""
    logged = server_log.read_text()
    assert "WebSocket /v1/status/ws/" in logged and "api_key=[redacted]" in logged
    assert KEY not in logged
