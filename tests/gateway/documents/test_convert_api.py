"""``POST /ocr?format=…`` through the HTTP API on the fake engine, with canned HunyuanOCR answers: which engine calls
each format costs, what comes back in each format, and the 400s for options that make no sense with a document."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from docling_core.types.doc import DoclingDocument
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import Settings
from tests.fakes import FakeEngine
from tests.images import encode, make_image, make_pdf

PAGE = make_image(1000, 1000, seed=3)  # spotting's 0–1000 grid is this page's pixels
PNG = encode(PAGE)
DOCUMENT = (
    "# Service report\n\nHydraulic pressure measured at 212 bar.\n\n"
    "<table><tr><td>Part</td><td>Count</td></tr><tr><td>Seal</td><td>4</td></tr></table>\n\n$$E = mc^2$$\n"
)
SPOTTING = (
    "Service report(100,50),(600,90)Hydraulic pressure measured at 212 bar.(100,120),(900,160)"
    "Part(100,200),(300,230)Count(400,200),(600,230)Seal(100,240),(300,270)4(400,240),(600,270)"
)


def engine(parses_layout: bool = True) -> FakeEngine:
    return FakeEngine(replies={"document": DOCUMENT, "spotting": SPOTTING}, parses_layout=parses_layout)


@pytest.fixture
def fake() -> FakeEngine:
    return engine()


@pytest.fixture
def client(fake: FakeEngine, prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    app = build_app(Settings(served_model_name="fake-ocr"), fake, prompts, on_engine_failure=lambda: None)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient, query: str, body: bytes = PNG, mime: str = "image/png") -> object:
    return client.post(f"/ocr?{query}", content=body, headers={"Content-Type": mime})


def tasks(fake: FakeEngine) -> list[str | None]:
    return [request.task for request in fake.requests]


def test_markdown_is_one_parsing_call_per_page_and_docling_s_markdown(client: TestClient, fake: FakeEngine) -> None:
    response = post(client, "format=markdown")
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("text/markdown")  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert "# Service report" in text and "| Part" in text and "Seal" in text and "mc^2" in text
    assert tasks(fake) == ["document"]
    assert response.headers["x-ocr-task"] == "document"  # type: ignore[attr-defined]


def test_boxes_true_adds_a_spotting_call_and_docling_json_places_every_item(
    client: TestClient, fake: FakeEngine
) -> None:
    response = post(client, "format=docling")
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert sorted(tasks(fake)) == ["document", "spotting"]
    document = DoclingDocument.model_validate(response.json())  # type: ignore[attr-defined]
    assert document.pages[1].size.width == 1000 and document.pages[1].size.height == 1000
    heading = next(item for item in document.texts if item.text == "Service report")
    box = heading.prov[0].bbox
    assert (round(box.l), round(box.t), round(box.r), round(box.b)) == (100, 50, 600, 90)
    assert len(document.tables) == 1 and document.tables[0].data.num_rows == 2


def test_boxes_false_keeps_docling_at_one_call_per_page(client: TestClient, fake: FakeEngine) -> None:
    assert post(client, "format=docling&boxes=false").status_code == 200  # type: ignore[attr-defined]
    assert tasks(fake) == ["document"]


@pytest.mark.parametrize(
    ("format", "media_type", "word"),
    [("html", "text/html", "Hydraulic"), ("text", "text/plain", "Hydraulic"), ("doctags", "text/plain", "Seal")],
)
def test_every_text_format_answers_with_its_content_type(
    client: TestClient, format: str, media_type: str, word: str
) -> None:
    response = post(client, f"format={format}")
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(media_type)  # type: ignore[attr-defined]
    assert word in response.text  # type: ignore[attr-defined]


def test_chunks_carry_their_headings_and_page_boxes(client: TestClient) -> None:
    chunks = post(client, "format=chunks").json()  # type: ignore[attr-defined]
    paragraph = next(chunk for chunk in chunks if "Hydraulic" in chunk["text"])
    assert paragraph["headings"] == ["Service report"]
    assert paragraph["provenance"] == [{"page": 1, "bbox": [100.0, 120.0, 900.0, 160.0]}]


def test_a_pdf_becomes_one_document_with_a_page_each(client: TestClient, fake: FakeEngine) -> None:
    pdf = make_pdf([make_image(400, 500, seed=1), make_image(400, 500, seed=2)])
    document = post(client, "format=docling", pdf, "application/pdf").json()  # type: ignore[attr-defined]
    assert sorted(document["pages"]) == ["1", "2"]
    assert len(fake.requests) == 4  # parsing and spotting, two pages


def test_an_engine_that_reads_lines_only_is_asked_for_spotting_alone(prompts: HunyuanPromptBuilder) -> None:
    lines_only = engine(parses_layout=False)
    app = build_app(Settings(served_model_name="fake-ocr"), lines_only, prompts, on_engine_failure=lambda: None)
    with TestClient(app) as client:
        text = post(client, "format=markdown").text  # type: ignore[attr-defined]
    assert tasks(lines_only) == ["spotting"]
    assert "Hydraulic pressure measured at 212 bar." in text


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("format=word", "format"),
        ("format=markdown&stream=ndjson", "stream"),
        ("format=markdown&task=table", "task"),
        ("format=docling&prompt=read it", "prompt"),
        ("format=docling&boxes=maybe", "boxes"),
    ],
)
def test_options_a_document_cannot_take_are_a_400_naming_them(
    client: TestClient, fake: FakeEngine, query: str, param: str
) -> None:
    response = post(client, query)
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    assert response.json()["error"]["param"] == param  # type: ignore[attr-defined]
    assert fake.requests == []


def test_one_document_is_one_file(client: TestClient, fake: FakeEngine) -> None:
    files = [("file", ("a.png", PNG, "image/png")), ("file", ("b.png", PNG, "image/png"))]
    response = client.post("/ocr", data={"format": "markdown"}, files=files)
    assert response.status_code == 400 and response.json()["error"]["param"] == "file"
    assert fake.requests == []


def test_a_broken_pdf_is_a_400_not_a_500(client: TestClient) -> None:
    response = post(client, "format=docling", b"%PDF-1.7 broken", "application/pdf")
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    assert json.loads(response.text)["error"]["type"] == "invalid_request_error"  # type: ignore[attr-defined]
