"""docling-serve's chunk API on the fake engine with canned HunyuanOCR answers: the bodies and forms its clients send
to ``/v1/chunk/{chunker}/{source|file}`` (and ``/async``), answers docling's own ``ChunkDocumentResponse`` model
reads, chunk tasks polled and fetched with the conversions', and every request it cannot take refused as
docling-serve refuses it: an unknown chunker 404, a hybrid chunker without its tokenizer and bad options 422, as
``{"detail": …}``."""

from __future__ import annotations

import base64
import io
import json
import os
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import pytest
from docling.datamodel.service.responses import ChunkDocumentResponse, TaskStatusResponse
from docling_core.types.doc import DoclingDocument
from starlette.testclient import TestClient

from gateway.docling_serve.chunking import PRESIGNED_CHUNK_REFUSAL, hybrid_tokenizer
from gateway.docling_serve.wire import PRESIGNED_REFUSAL
from gateway.routes.docling_chunk import BATCH_REFUSAL
from tests.fakes import FakeEngine
from tests.gateway.conftest import MakeClient
from tests.gateway.documents.test_convert_api import DOCUMENT, PNG, SPOTTING
from tests.hub_cache import cache_with_tokenizer
from tests.waiting import wait_until

KEY = "sk-docling-chunk"
HEADERS = {"Authorization": f"Bearer {KEY}"}
SOURCE = {"kind": "file", "base64_string": base64.b64encode(PNG).decode(), "filename": "report.png"}


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine(replies={"document": DOCUMENT, "spotting": SPOTTING})


@pytest.fixture
def client(make_client: MakeClient, fake: FakeEngine) -> TestClient:
    return partial(make_client, fake, api_keys=(KEY,))()


def chunk_file(client: TestClient, data: Any = None, chunker: str = "hierarchical", route: str = "file") -> Any:
    files = {"files": ("report.png", PNG, "image/png")}
    return client.post(f"/v1/chunk/{chunker}/{route}", files=files, data=data or {}, headers=HEADERS)


def chunk_source(client: TestClient, body: dict[str, Any], chunker: str = "hierarchical", route: str = "source") -> Any:
    return client.post(f"/v1/chunk/{chunker}/{route}", json={"sources": [SOURCE], **body}, headers=HEADERS)


def test_a_scan_s_chunks_carry_its_words_headings_pages_and_items_in_docling_s_model(client: TestClient) -> None:
    response = chunk_file(client)
    assert response.status_code == 200, response.text
    answer = ChunkDocumentResponse.model_validate_json(response.text)  # docling's own model of the answer
    prose = next(chunk for chunk in answer.chunks if "Hydraulic pressure" in chunk.text)
    assert prose.headings == ["Service report"]
    assert prose.text.startswith("Service report\n")  # contextualised: the headings above it come first
    assert prose.raw_text is None  # not asked for
    assert prose.page_numbers == [1] and prose.filename == "report.png"
    assert all(ref.startswith("#/") for ref in prose.doc_items)
    assert [chunk.chunk_index for chunk in answer.chunks] == list(range(len(answer.chunks)))
    (document,) = answer.documents
    assert document.status == "success" and document.document.filename == "report.png"
    assert document.document.json_content is None  # include_converted_doc not asked
    assert json.loads(response.text)["documents"][0]["kind"] == "ExportResult"  # under "content", as docling-serve


def test_chunking_options_are_honoured_from_a_json_body(client: TestClient) -> None:
    options = {"include_raw_text": True, "use_markdown_tables": True}
    response = chunk_source(client, {"chunking_options": options, "include_converted_doc": True})
    assert response.status_code == 200, response.text
    answer = ChunkDocumentResponse.model_validate_json(response.text)
    table = next(chunk for chunk in answer.chunks if "Seal" in chunk.text)
    assert "| Part" in table.text  # a Markdown table rather than "Part, Count = …" triplets
    assert all(chunk.raw_text for chunk in answer.chunks)
    converted = answer.documents[0].document.json_content
    assert isinstance(converted, DoclingDocument) and converted.texts


def test_form_options_come_prefixed_as_docling_serve_names_them(client: TestClient, fake: FakeEngine) -> None:
    response = chunk_file(client, {"chunking_include_raw_text": "true", "convert_max_tokens": "77"})
    assert response.status_code == 200, response.text
    assert all(chunk["raw_text"] for chunk in response.json()["chunks"])
    assert [request.sampling.max_tokens for request in fake.requests] == [77]  # one call: no boxes wanted


def test_a_zip_target_answers_docling_jobkit_s_chunked_result_json(client: TestClient) -> None:
    response = chunk_file(client, {"target_type": "zip"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        result = json.loads(archive.read("chunked_result.json"))
    assert result["kind"] == "ChunkedDocumentResponse" and result["chunking_info"]["chunker"] == "hierarchical"
    assert any("Hydraulic pressure" in chunk["text"] for chunk in result["chunks"])


@pytest.mark.parametrize("route", ["file/async", "source/async"])
def test_a_chunk_task_is_polled_as_a_chunk_task_and_its_result_is_the_sync_answer(
    client: TestClient, route: str
) -> None:
    submitted = chunk_file(client, route=route) if route == "file/async" else chunk_source(client, {}, route=route)
    assert submitted.status_code == 200, submitted.text
    task = TaskStatusResponse.model_validate_json(submitted.text)
    assert task.task_type == "chunk"

    def finished() -> Any:
        status = client.get(f"/v1/status/poll/{task.task_id}", params={"wait": 1}, headers=HEADERS).json()
        return status if status["task_status"] == "success" else None

    status = wait_until(finished, timeout=20, what="the chunk task to succeed")
    assert status["task_type"] == "chunk" and status["task_meta"]["num_succeeded"] == 1
    result = client.get(f"/v1/result/{task.task_id}", headers=HEADERS)
    answer = ChunkDocumentResponse.model_validate_json(result.text)
    assert any(chunk.headings == ["Service report"] for chunk in answer.chunks)


def test_a_chunk_task_whose_only_file_is_broken_fails_with_its_reason_in_the_chunk_answer(client: TestClient) -> None:
    files = {"files": ("broken.pdf", b"%PDF-1.7 not really", "application/pdf")}
    submitted = client.post("/v1/chunk/hierarchical/file/async", files=files, headers=HEADERS).json()

    def finished() -> Any:
        status = client.get(f"/v1/status/poll/{submitted['task_id']}", params={"wait": 1}, headers=HEADERS).json()
        return status if status["task_status"] == "failure" else None

    status = wait_until(finished, timeout=20, what="the chunk task to fail")
    assert status["task_type"] == "chunk" and status["task_meta"]["num_failed"] == 1
    answer = ChunkDocumentResponse.model_validate_json(
        client.get(f"/v1/result/{submitted['task_id']}", headers=HEADERS).text
    )
    assert answer.chunks == [] and answer.documents[0].status == "failure" and answer.documents[0].errors


def detail(response: Any) -> str:
    body = response.json()
    assert set(body) == {"detail"}, body  # docling-serve's (FastAPI's) shape, never OpenAI's
    return str(body["detail"])


@pytest.mark.parametrize("route", ["source", "file", "source/async", "file/async"])
def test_a_chunker_docling_serve_does_not_have_is_its_404(client: TestClient, route: str) -> None:
    response = client.post(f"/v1/chunk/semantic/{route}", json={"sources": [SOURCE]}, headers=HEADERS)
    assert response.status_code == 404 and detail(response) == "Not Found"


TOKENIZER = "acme/word-tokenizer"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This machine's Hugging Face cache, for the test: one word-level tokenizer in it (tests/hub_cache.py)."""
    cache = cache_with_tokenizer(tmp_path / "hub", TOKENIZER, max_seq_length=8)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    hybrid_tokenizer.cache_clear()
    yield cache
    hybrid_tokenizer.cache_clear()


def hybrid(client: TestClient, **options: Any) -> list[Any]:
    body = {"chunking_options": {"tokenizer": TOKENIZER, "include_raw_text": True, **options}}
    response = chunk_source(client, body, chunker="hybrid")
    assert response.status_code == 200, response.text
    return ChunkDocumentResponse.model_validate_json(response.text).chunks


def test_the_hybrid_chunker_splits_to_max_tokens_with_a_tokenizer_from_the_local_cache(
    client: TestClient, hub_cache: Path
) -> None:
    counted = hybrid_tokenizer(TOKENIZER, None)
    small = hybrid(client, max_tokens=6)
    assert all(counted.count_tokens(chunk.text) <= 6 for chunk in small), [chunk.text for chunk in small]
    prose = [chunk for chunk in small if chunk.headings == ["Service report"] and "Seal" not in chunk.text]
    assert len(prose) >= 2  # heading + 7 words and marks do not fit 6 tokens: the paragraph is split
    words = " ".join(chunk.raw_text or "" for chunk in small).split()
    assert all(word in words for word in "Hydraulic pressure measured at 212".split())
    # Without max_tokens the model's own limit (sentence_bert_config.json: 8); peers merged up to it.
    default = hybrid(client)
    assert all(counted.count_tokens(chunk.text) <= 8 for chunk in default)
    assert len(hybrid(client, max_tokens=512)) <= len(default) <= len(small)
    assert len(hybrid(client, max_tokens=512, merge_peers=False)) >= len(hybrid(client, max_tokens=512))


@pytest.mark.parametrize("route", ["source", "file", "source/async"])
def test_the_hybrid_chunker_without_its_tokenizer_on_this_machine_is_a_422_naming_it(
    client: TestClient, hub_cache: Path, route: str
) -> None:
    if route == "file":
        response = chunk_file(client, {"chunking_tokenizer": "Qwen/Qwen3-Embedding-0.6B"}, chunker="hybrid")
    else:
        response = chunk_source(client, {}, chunker="hybrid", route=route)
    assert response.status_code == 422
    message = detail(response)
    tokenizer = "Qwen/Qwen3-Embedding-0.6B" if route == "file" else "sentence-transformers/all-MiniLM-L6-v2"
    assert f"hf download {tokenizer}" in message and "/v1/chunk/hierarchical/" in message


@pytest.mark.parametrize("relative", [False, True])
def test_a_tokenizer_is_a_hub_name_never_a_path_on_the_server(
    client: TestClient, hub_cache: Path, relative: bool
) -> None:
    snapshot = next(hub_cache.glob("models--*/snapshots/*"))  # a tokenizer on disk, loadable as a path
    name = os.path.relpath(snapshot) if relative else str(snapshot)
    response = chunk_source(client, {"chunking_options": {"tokenizer": name}}, chunker="hybrid")
    assert response.status_code == 422 and "not in this server's Hugging Face cache" in detail(response)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"chunking_options": {"chunker": "hybrid"}}, "chunker"),  # the other chunker's options on this route
        ({"chunking_options": {"use_markdown_tables": "maybe"}}, "use_markdown_tables"),
        ({"sources": []}, "sources"),
        ({"target": {"kind": "presigned_url"}}, PRESIGNED_CHUNK_REFUSAL),
        ({"target": {"kind": "s3"}}, "kind"),
        ({"convert_options": {"page_range": [3, 1]}}, "page_range"),
    ],
)
def test_bad_options_are_a_422_in_docling_s_shape(client: TestClient, body: dict[str, Any], words: str) -> None:
    response = chunk_source(client, body)
    assert response.status_code == 422 and words in detail(response)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"chunking_include_raw_text": "perhaps"}, "include_raw_text"),
        ({"include_converted_doc": "perhaps"}, "include_converted_doc"),
        ({"target_type": "presigned_url"}, PRESIGNED_CHUNK_REFUSAL),
        ({"convert_from_formats": "docx"}, "not in from_formats"),
    ],
)
def test_bad_form_fields_are_a_422_in_docling_s_shape(client: TestClient, data: dict[str, str], words: str) -> None:
    response = chunk_file(client, data)
    assert response.status_code == 422 and words in detail(response)


@pytest.mark.parametrize(
    ("target", "words"),
    [({"kind": "presigned_url"}, PRESIGNED_REFUSAL), ({"kind": "s3", "bucket": "b"}, BATCH_REFUSAL)],
)
def test_batch_conversion_is_refused_in_words_a_client_can_show(
    client: TestClient, target: dict[str, str], words: str
) -> None:
    body = {"sources": [{"kind": "http", "url": "https://example.com/a.pdf"}], "target": target}
    response = client.post("/v1/convert/source/batch", json=body, headers=HEADERS)
    assert response.status_code == 422 and detail(response) == words


def test_the_chunk_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("source", "file", "source/async", "file/async"):
        assert "post" in paths[f"/v1/chunk/{{chunker}}/{path}"]
    assert "post" in paths["/v1/convert/source/batch"]
