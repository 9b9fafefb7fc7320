"""docling-serve's v1 convert API on the fake engine with canned HunyuanOCR answers: the forms and JSON bodies its
clients send, the answers they read, the zip for several inputs, the async tasks in the job store (surviving a
restart, per key), and every bad input answered in docling-serve's ``{"detail": …}`` shape."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from docling_core.types.doc import DoclingDocument
from starlette.testclient import TestClient

from gateway.config import MediaSettings
from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import blob_names
from tests.gateway.conftest import MakeClient
from tests.gateway.documents.test_convert_api import DOCUMENT, PNG, SPOTTING
from tests.images import make_image, make_pdf
from tests.servers import MediaServer, media_server
from tests.waiting import wait_until

KEY, OTHER_KEY = "sk-docling", "sk-someone-else"
PDF = make_pdf([make_image(400, 500, seed=1), make_image(400, 500, seed=2)])


@pytest.fixture
def fake() -> FakeEngine:
    return FakeEngine(replies={"document": DOCUMENT, "spotting": SPOTTING})


@pytest.fixture
def make_client(make_client: MakeClient, fake: FakeEngine) -> MakeClient:
    """Clients on the one fake engine (its requests recorded across restarts), taking two keys."""
    return partial(make_client, fake, api_keys=(KEY, OTHER_KEY))


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def headers(key: str = KEY) -> dict[str, str]:
    return {"X-Api-Key": key}


def convert_file(client: TestClient, data: Any = None, files: Any = None, key: str = KEY) -> Any:
    files = files if files is not None else {"files": ("scan.png", PNG, "image/png")}
    return client.post("/v1/convert/file", files=files, data=data or {}, headers=headers(key))


def tasks(fake: FakeEngine) -> list[str | None]:
    return [request.task for request in fake.requests]


def test_open_webui_s_request_gets_markdown_with_page_breaks_and_the_docling_json(
    client: TestClient, fake: FakeEngine
) -> None:
    """What Open WebUI 0.12's DoclingLoader sends (to_formats md and json as repeated fields, a form-feed page
    break, placeholder images) and reads (status, document.md_content, json_content's page numbers)."""
    data = {"image_export_mode": "placeholder", "md_page_break_placeholder": "\f", "to_formats": ["md", "json"]}
    response = convert_file(client, data, {"files": ("report.pdf", PDF, "application/pdf")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["errors"] == []
    assert isinstance(body["processing_time"], float)
    document = body["document"]
    assert document["filename"] == "report.pdf"
    pages = document["md_content"].split("\f")
    assert len(pages) == 2 and all("Hydraulic pressure" in page for page in pages)
    parsed = DoclingDocument.model_validate(document["json_content"])
    assert {item.prov[0].page_no for item in parsed.texts} == {1, 2}
    assert document["html_content"] is None and document["text_content"] is None
    assert sorted(tasks(fake)) == ["document"] * 2 + ["spotting"] * 2  # JSON asks for places


def test_boxes_false_in_the_admin_s_params_keeps_markdown_and_json_at_one_call_per_page(
    client: TestClient, fake: FakeEngine
) -> None:
    response = convert_file(client, {"to_formats": ["md", "json"], "boxes": "false"})
    assert response.status_code == 200, response.text
    assert tasks(fake) == ["document"]
    assert response.json()["document"]["json_content"]["texts"]


@pytest.mark.parametrize(
    "to_formats", [["html", "text", "doctags"], ['["html","text","doctags"]'], ["html,text;doctags"]]
)
def test_list_options_come_repeated_json_encoded_or_comma_separated(client: TestClient, to_formats: list[str]) -> None:
    document = convert_file(client, {"to_formats": to_formats}).json()["document"]
    assert "<html" in document["html_content"] and "Hydraulic" in document["text_content"]
    assert "Seal" in document["doctags_content"] and document["md_content"] is None


def test_markdown_is_the_default_and_the_same_as_ocr_format_markdown(client: TestClient) -> None:
    document = convert_file(client).json()["document"]
    ocr = client.post(
        "/ocr?format=markdown", content=PNG, headers={"Content-Type": "image/png", "Authorization": f"Bearer {KEY}"}
    )
    assert document["md_content"] == ocr.text
    assert document["json_content"] is None


def test_options_it_cannot_honour_are_named_in_errors_not_refused(client: TestClient) -> None:
    data = {"ocr_engine": "easyocr", "do_picture_description": "true", "do_ocr": "false", "to_formats": ["md", "vtt"]}
    body = convert_file(client, data).json()
    assert body["status"] == "success"
    messages = " ".join(error["error_message"] for error in body["errors"])
    for option in ("ocr_engine", "do_picture_description", "do_ocr", "vtt"):
        assert option in messages
    quiet = convert_file(client, {"ocr_engine": "", "do_picture_description": "false", "table_mode": "fast"}).json()
    assert quiet["errors"] == []


def test_page_range_reads_only_those_pages(client: TestClient, fake: FakeEngine) -> None:
    data = {"page_range": ["2", "2"], "md_page_break_placeholder": "<!-- page -->"}
    body = convert_file(client, data, {"files": ("report.pdf", PDF, "application/pdf")}).json()
    assert len(fake.requests) == 1
    assert "<!-- page -->" not in body["document"]["md_content"]


def test_several_files_or_a_zip_target_answer_a_zip_of_each_document_s_files(client: TestClient) -> None:
    files = [("files", ("a.png", PNG, "image/png")), ("files", ("a.pdf", PDF, "application/pdf"))]
    response = convert_file(client, {"to_formats": ["md", "json"]}, files)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    names = sorted(zipfile.ZipFile(io.BytesIO(response.content)).namelist())
    assert names == ["a.json", "a.md", "a_2.json", "a_2.md"]
    single = convert_file(client, {"target_type": "zip"})
    assert zipfile.ZipFile(io.BytesIO(single.content)).namelist() == ["scan.md"]
    twice = convert_file(client, {"target_type": "zip", "to_formats": ["md", "md"]})
    assert twice.status_code == 200 and zipfile.ZipFile(io.BytesIO(twice.content)).namelist() == ["scan.md"]


def test_one_broken_file_among_several_fails_alone(client: TestClient) -> None:
    files = [("files", ("good.png", PNG, "image/png")), ("files", ("bad.pdf", b"%PDF-1.7 broken", "application/pdf"))]
    response = convert_file(client, {}, files)
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == ["good.md"]


def test_source_route_takes_base64_sources_and_the_older_file_sources(client: TestClient) -> None:
    encoded = base64.b64encode(PNG).decode()
    for body in (
        {"sources": [{"kind": "file", "base64_string": encoded, "filename": "scan.png"}]},
        {"file_sources": [{"base64_string": encoded, "filename": "scan.png"}], "options": {"to_formats": ["text"]}},
    ):
        response = client.post("/v1/convert/source", json=body, headers=headers())
        assert response.status_code == 200, response.text
        document = response.json()["document"]
        assert document["filename"] == "scan.png"
        assert "Hydraulic" in (document["md_content"] or document["text_content"])


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "word"),
    [
        ("/v1/convert/file", {"data": {"to_formats": "md"}}, 422, "files"),
        ("/v1/convert/file", {"files": {"files": ("x.pdf", b"%PDF-1.7 broken", "application/pdf")}}, 422, "PDF"),
        ("/v1/convert/file", {"files": {"files": ("x.png", PNG)}, "data": {"to_formats": "word"}}, 422, "to_formats"),
        ("/v1/convert/file", {"files": {"files": ("x.png", PNG)}, "data": {"target_type": "s3"}}, 422, "kind"),
        ("/v1/convert/file", {"files": {"files": ("x.png", PNG)}, "data": {"page_range": ["3", "1"]}}, 422, "page"),
        ("/v1/convert/file", {"files": {"files": ("x.png", PNG)}, "data": {"from_formats": "pdf"}}, 422, "from_form"),
        ("/v1/convert/file", {"files": {"files": ("x.png", PNG)}, "data": {"max_tokens": str(2**70)}}, 422, "max_tok"),
        ("/v1/convert/source", {"json": {"options": {}}}, 422, "source"),
        (
            "/v1/convert/source",
            {"json": {"sources": [{"kind": "file", "base64_string": "%%%", "filename": "a"}]}},
            422,
            "base64",
        ),
        ("/v1/convert/source", {"json": {"http_sources": [{"url": "http://127.0.0.1:9/a.pdf"}]}}, 422, "URL"),
        ("/v1/convert/source", {"json": {"sources": [{"kind": "s3", "bucket": "b"}]}}, 422, "kind"),
        ("/v1/convert/source", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, "JSON"),
    ],
)
def test_bad_input_is_a_4xx_in_docling_s_shape_and_the_engine_keeps_serving(
    client: TestClient, fake: FakeEngine, path: str, kwargs: dict[str, Any], status: int, word: str
) -> None:
    response = client.post(path, headers={**headers(), **kwargs.pop("headers", {})}, **kwargs)
    assert response.status_code == status, response.text
    assert set(response.json()) == {"detail"} and word.lower() in response.json()["detail"].lower()
    assert fake.requests == []
    assert convert_file(client).status_code == 200


def test_a_huge_body_is_a_413(make_client: MakeClient) -> None:
    client = make_client(media=MediaSettings(max_body_mb=0.01))
    response = convert_file(client, files={"files": ("big.png", b"\0" * 20_000, "image/png")})
    assert response.status_code == 413 and "detail" in response.json()


def test_the_key_comes_as_x_api_key_or_bearer_and_a_missing_one_is_a_401_with_detail(client: TestClient) -> None:
    files = {"files": ("scan.png", PNG, "image/png")}
    assert client.post("/v1/convert/file", files=files).json() == {
        "detail": "Missing or invalid API key: send 'X-Api-Key: <key>' or 'Authorization: Bearer <key>'."
    }
    assert client.post("/v1/convert/file", files=files, headers={"X-Api-Key": "wrong"}).status_code == 401
    bearer = client.post("/v1/convert/file", files=files, headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 200
    # Elsewhere X-Api-Key is not a key: the OpenAI routes keep their one header.
    assert client.get("/v1/models", headers=headers()).status_code == 401


def poll(client: TestClient, task_id: str, key: str = KEY, wait: float = 0) -> Any:
    return client.get(f"/v1/status/poll/{task_id}?wait={wait}", headers=headers(key))


def test_an_async_task_is_queued_polled_and_its_result_fetched(client: TestClient) -> None:
    data = {"to_formats": ["md", "json"], "md_page_break_placeholder": "\f"}
    queued = client.post(
        "/v1/convert/file/async", files={"files": ("r.pdf", PDF, "application/pdf")}, data=data, headers=headers()
    )
    assert queued.status_code == 200, queued.text
    task = queued.json()
    assert task["task_type"] == "convert" and task["task_status"] in ("pending", "started", "success")
    status = poll(client, task["task_id"], wait=20).json()
    assert status["task_status"] == "success"
    assert status["task_meta"] == {
        "num_docs": 1, "num_processed": 1, "num_succeeded": 1, "num_partially_succeeded": 0, "num_failed": 0
    }  # fmt: skip
    result = client.get(f"/v1/result/{task['task_id']}", headers=headers())
    assert result.status_code == 200
    assert len(result.json()["document"]["md_content"].split("\f")) == 2
    # Another key sees no such task.
    assert poll(client, task["task_id"], key=OTHER_KEY).status_code == 404
    assert client.get(f"/v1/result/{task['task_id']}", headers=headers(OTHER_KEY)).status_code == 404
    assert poll(client, "no-such-task").json() == {"detail": "Task not found."}


def test_an_async_source_task_answers_like_the_sync_route(client: TestClient) -> None:
    body = {"sources": [{"kind": "file", "base64_string": base64.b64encode(PNG).decode(), "filename": "s.png"}]}
    task_id = client.post("/v1/convert/source/async", json=body, headers=headers()).json()["task_id"]
    assert poll(client, task_id, wait=20).json()["task_status"] == "success"
    result = client.get(f"/v1/result/{task_id}", headers=headers()).json()
    sync = client.post("/v1/convert/source", json=body, headers=headers()).json()
    assert result["document"] == sync["document"]


def test_a_task_survives_a_restart_and_is_run_by_the_next_gateway(
    make_client: MakeClient, fake: FakeEngine, tmp_path: Path, blob_store: str
) -> None:
    """A gateway that never got the engine ready (as one killed before it ran anything) leaves its task pending;
    the next gateway on the same job store runs it."""
    fake.start_delay = 3600.0
    first = make_client()
    files = {"files": ("scan.png", PNG, "image/png")}
    task_id = first.post("/v1/convert/file/async", files=files, headers=headers()).json()["task_id"]
    assert poll(first, task_id).json()["task_status"] == "pending"
    first.__exit__(None, None, None)
    assert blob_names(blob_store, tmp_path / "data", "tasks") == [f"{task_id}-in-0"]
    fake.start_delay = 0.0
    second = make_client()
    assert poll(second, task_id, wait=20).json()["task_status"] == "success"
    assert second.get(f"/v1/result/{task_id}", headers=headers()).status_code == 200
    # The input is gone once the answer is kept.
    assert blob_names(blob_store, tmp_path / "data", "tasks") == [f"{task_id}-result"]


def test_a_result_is_kept_for_the_stated_time_then_swept(
    make_client: MakeClient, tmp_path: Path, blob_store: str
) -> None:
    client = make_client(batch={"task_results_hours": 1 / 3600})  # one second
    files = {"files": ("scan.png", PNG, "image/png")}
    task_id = client.post("/v1/convert/file/async", files=files, headers=headers()).json()["task_id"]
    assert poll(client, task_id, wait=20).json()["task_status"] == "success"
    time.sleep(2.1)
    store = client.app.state.convert_tasks  # type: ignore[attr-defined]
    assert client.portal.call(store.sweep) == 1  # type: ignore[union-attr]
    assert poll(client, task_id).status_code == 404
    assert blob_names(blob_store, tmp_path / "data", "tasks") == []


def test_a_task_whose_only_file_is_broken_finishes_as_a_failure_with_the_reason(client: TestClient) -> None:
    files = {"files": ("x.pdf", b"%PDF-1.7 broken", "application/pdf")}
    task_id = client.post("/v1/convert/file/async", files=files, headers=headers()).json()["task_id"]
    status = poll(client, task_id, wait=20).json()
    assert status["task_status"] == "failure" and status["task_meta"]["num_failed"] == 1
    result = client.get(f"/v1/result/{task_id}", headers=headers()).json()
    assert result["status"] == "failure" and "PDF" in result["errors"][0]["error_message"]


def test_a_result_asked_for_early_is_a_404_until_done(client: TestClient, fake: FakeEngine) -> None:
    fake.delay = 1.0
    files = {"files": ("scan.png", PNG, "image/png")}
    task_id = client.post("/v1/convert/file/async", files=files, headers=headers()).json()["task_id"]
    early = client.get(f"/v1/result/{task_id}", headers=headers())
    assert early.status_code == 404 and "wait" in early.json()["detail"]
    wait_until(lambda: poll(client, task_id).json()["task_status"] == "success", 20, "the task to finish")


def test_the_routes_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/convert/file",
        "/v1/convert/source",
        "/v1/convert/file/async",
        "/v1/convert/source/async",
        "/v1/status/poll/{task_id}",
        "/v1/result/{task_id}",
    ):
        assert path in paths
    assert json.dumps(paths["/v1/convert/file"]).count("DetailError") >= 1


def test_max_tokens_bounds_every_page_s_answer(client: TestClient, fake: FakeEngine) -> None:
    assert convert_file(client, {"max_tokens": "7", "to_formats": ["md", "json"]}).status_code == 200
    assert [request.sampling.max_tokens for request in fake.requests] == [7, 7]


def test_too_many_files_for_the_form_parser_is_a_422_in_docling_s_shape(client: TestClient) -> None:
    files = [("files", (f"{n}.png", PNG, "image/png")) for n in range(40)]
    response = convert_file(client, {}, files)
    assert response.status_code == 422 and set(response.json()) == {"detail"}, response.text


@pytest.fixture
def scans() -> Iterator[MediaServer]:
    """50 scans on a local server that counts the requests it gets."""
    with media_server() as running:
        for n in range(50):
            running.routes[f"/{n}.png"] = (200, {"Content-Type": "image/png"}, PNG)
        yield running


def http_sources(server: MediaServer, numbers: range) -> list[dict[str, str]]:
    return [{"kind": "http", "url": f"{server.base_url}/{n}.png"} for n in numbers]


@pytest.mark.parametrize("path", ["/v1/convert/source", "/v1/convert/source/async"])
def test_more_sources_than_files_allowed_are_a_422_before_any_is_fetched(
    make_client: MakeClient, scans: MediaServer, path: str
) -> None:
    """Regression: every URL used to be fetched (50 downloads of up to 20 MB each) before the count was refused."""
    client = make_client(media=MediaSettings(allow_private_media=True))
    file_source = {"base64_string": base64.b64encode(PNG).decode(), "filename": "s.png"}
    for body in (
        {"sources": http_sources(scans, range(50))},
        # The three lists count together: 8 + 1 + 8 is one more than the 16 files a request may hold.
        {"sources": http_sources(scans, range(8)), "file_sources": [file_source], "http_sources": [
            {"url": source["url"]} for source in http_sources(scans, range(8, 16))
        ]},
    ):  # fmt: skip
        response = client.post(path, json=body, headers=headers())
        assert response.status_code == 422, response.text
        assert set(response.json()) == {"detail"} and response.json()["detail"].startswith("sources:")
    assert scans.hits == []


def test_as_many_sources_as_files_allowed_are_fetched_and_converted(
    make_client: MakeClient, scans: MediaServer
) -> None:
    client = make_client(media=MediaSettings(allow_private_media=True))
    body = {"sources": http_sources(scans, range(16))}
    response = client.post("/v1/convert/source", json=body, headers=headers())
    assert response.status_code == 200, response.text
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == [f"{n}.md" for n in range(16)]
    task_id = client.post("/v1/convert/source/async", json=body, headers=headers()).json()["task_id"]
    assert poll(client, task_id, wait=20).json()["task_status"] == "success"
    assert len(scans.hits) == 32
