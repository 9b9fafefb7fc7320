"""Every real HunyuanOCR answer of ``tests/real_answers`` replayed through the real app, as if its engine had
written it, along every way a user's request goes: the chat API with a task, ``/ocr`` as JSON and in every document
format (the searchable PDF's text layer for answers that are spotting), docling-serve's convert API, Mistral's OCR
API and the folder CLI. What comes out holds the answer's words (recall ≥ 0.95, coordinates and tags left out),
lets no markup through, and says what it could not read (``X-OCR-Warning``, ``ocr.warnings``, docling's
``errors``, Mistral's ``warnings``) — never a 5xx."""

from __future__ import annotations

import asyncio
import base64
import html
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.cli import build_parser
from gateway.cli.folder import Batch, run_folder, serving
from gateway.config import Settings
from prompts.catalog import load_prompt_set
from prompts.markup import is_non_answer
from prompts.postprocess import cut_repeated_tail
from prompts.spotting import parse_spotting
from tests.corpus import ANSWERS, RealAnswer, answer_words, leaks, recall, words
from tests.fakes import FakeEngine
from tests.images import encode, make_image
from tests.scans import pdftotext

MIN_RECALL = 0.95
# The searchable PDF costs an OCRmyPDF run (~2.5 s) per answer: one answer of each spotting form goes that way.
PDF_FORMS = (
    "v10-lukeric-spotting-trad-chinese-form",  # 1.0's text form, parentheses inside texts
    "v15-spotjson-charloop-cut",  # JSON cut mid-item after a loop; boxes of no height
    "v15-spotjson-vertical-two-lines",  # vertical CJK columns
    "v15-spothy-hymeta-inline-coords-unclosed",  # a layout answer with spotting runs inside unclosed polygons
    "v15-spotjson-answered-spotting-text-coords",  # the JSON prompt answered in 1.0's text form
)
# Answers to a spotting prompt that gave places: every word of them is a spotted item's.
SPOTTING = [
    answer
    for answer in ANSWERS
    if answer.task in ("spotting", "spotting_json") and parse_spotting(answer.answer, 1000, 1000)
]


class ReplayEngine(FakeEngine):
    """Answers every request with one recorded answer, streamed in small pieces as an engine streams tokens."""

    def __init__(self, answer: str) -> None:
        super().__init__(reply=answer)


@pytest.fixture
def replay(request: pytest.FixtureRequest, prompts: HunyuanPromptBuilder) -> Iterator[tuple[TestClient, RealAnswer]]:
    """The real app, on the answer's own prompt set (1.0 or 1.5), whose engine answers with ``request.param``."""
    answer: RealAnswer = request.param
    settings = Settings(served_model_name="fake-ocr", prompt_set=answer.model)
    app = build_app(settings, ReplayEngine(answer.answer), prompts, on_engine_failure=lambda: None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, answer


def replayed(answers: list[RealAnswer]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("replay", answers, ids=[answer.id for answer in answers], indirect=True)


def image(answer: RealAnswer) -> bytes:
    width, height = answer.size
    return encode(make_image(min(width, 2000), min(height, 2000), seed=1))


def expected(answer: RealAnswer, *, body_only: bool = True) -> set[str]:
    """The words a user should find: the answer after the official loop clean-up of its model version."""
    cleaned, _ = cut_repeated_tail(answer.answer, min_chars=load_prompt_set(answer.model).cleanup_min_chars)
    return answer_words(cleaned, body_only=body_only)


def assert_holds_the_answer(answer: RealAnswer, text: str, warning: str | None, *, body_only: bool = True) -> None:
    """``text`` (one output) holds the answer's words and no markup; an answer with no words says why."""
    assert not leaks(text), leaks(text)[:3]
    if is_non_answer(answer.answer) or not expected(answer, body_only=False):
        assert warning, "a page without text must say why"
    if is_non_answer(answer.answer):
        assert not words(text), "a non-answer is not the page's text"
        return
    wanted = expected(answer, body_only=body_only)
    assert recall(wanted, text) >= MIN_RECALL, sorted(wanted - words(text))[:20]


@replayed(ANSWERS)
def test_every_document_format_holds_the_answers_words_and_no_markup(replay: tuple[TestClient, RealAnswer]) -> None:
    client, answer = replay
    for format in ("markdown", "text", "html", "docling", "chunks"):
        response = client.post(f"/ocr?format={format}", content=image(answer), headers={"Content-Type": "image/png"})
        assert response.status_code == 200, (format, response.text[:300])
        warning = response.headers.get("x-ocr-warning")
        if format == "docling":
            document = response.json()
            texts = [item["text"] for item in document["texts"]]
            cells = [cell["text"] for table in document["tables"] for cell in table["data"]["table_cells"]]
            assert_holds_the_answer(answer, "\n".join(texts + cells), warning, body_only=False)
        elif format == "chunks":
            assert not leaks(json.dumps([chunk["text"] for chunk in response.json()], ensure_ascii=False))
        elif format == "html":
            assert not leaks(html.unescape(response.text))
        else:
            assert_holds_the_answer(answer, response.text, warning)


@replayed(ANSWERS)
def test_ocr_json_and_chat_give_the_answer_and_say_when_there_is_no_text(
    replay: tuple[TestClient, RealAnswer],
) -> None:
    client, answer = replay
    response = client.post("/ocr?task=text", content=image(answer), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    chat = client.post(
        "/v1/chat/completions",
        json={"task": "text", "messages": [{"role": "user", "content": [_image_part(answer)]}]},
    )
    assert chat.status_code == 200, chat.text[:300]
    reply = chat.json()
    if is_non_answer(answer.answer):
        assert body["text"] == "" and body["warnings"] and response.headers["x-ocr-warning"]
        assert reply["choices"][0]["message"]["content"] == "" and reply["ocr"]["warnings"]
    else:
        assert recall(expected(answer, body_only=False), body["text"]) >= MIN_RECALL


@replayed(SPOTTING)
def test_spotting_gives_a_box_per_item_and_no_junk_in_chat_and_ocr(replay: tuple[TestClient, RealAnswer]) -> None:
    client, answer = replay
    width, height = (min(side, 2000) for side in answer.size)
    chat = client.post(
        "/v1/chat/completions",
        json={"task": "spotting", "messages": [{"role": "user", "content": [_image_part(answer)]}]},
    )
    ocr = client.post("/ocr?task=spotting", content=image(answer), headers={"Content-Type": "image/png"})
    assert chat.status_code == ocr.status_code == 200
    for boxes in (chat.json()["ocr"]["boxes"], ocr.json()["boxes"]):
        assert boxes, "a spotting answer with coordinates gives boxes"
        for box in boxes:
            x_min, y_min, x_max, y_max = box["box"]
            assert 0 <= x_min <= x_max <= width and 0 <= y_min <= y_max <= height
            assert box["text"].strip(" ,.;:()[]{}\"'") and not leaks(box["text"]) and "<" not in box["text"]
        assert recall(expected(answer, body_only=False), " ".join(box["text"] for box in boxes)) >= MIN_RECALL


@replayed(ANSWERS)
def test_docling_serve_and_mistral_answer_the_words_and_carry_the_warnings(
    replay: tuple[TestClient, RealAnswer],
) -> None:
    client, answer = replay
    converted = client.post(
        "/v1/convert/file", files={"files": ("page.png", image(answer), "image/png")}, data={"to_formats": "md"}
    )
    assert converted.status_code == 200, converted.text[:300]
    docling = converted.json()
    reading_errors = [error for error in docling["errors"] if error["component_type"] == "model"]
    assert_holds_the_answer(
        answer, docling["document"]["md_content"], "; ".join(e["error_message"] for e in reading_errors)
    )
    mistral = client.post(
        "/v1/ocr",
        json={"model": "mistral-ocr-latest", "document": {"type": "image_url", "image_url": _data_url(answer)}},
    )
    assert mistral.status_code == 200, mistral.text[:300]
    page = mistral.json()["pages"][0]["markdown"]
    assert_holds_the_answer(answer, page, "; ".join(mistral.json().get("warnings") or []))


@replayed([answer for answer in SPOTTING if answer.id in PDF_FORMS])
def test_the_searchable_pdfs_text_layer_holds_the_spotted_words(
    replay: tuple[TestClient, RealAnswer], tmp_path: Path
) -> None:
    client, answer = replay
    response = client.post("/ocr?format=pdf", content=image(answer), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text[:300]
    (tmp_path / "page.pdf").write_bytes(response.content)
    layer = pdftotext(tmp_path / "page.pdf")
    boxes = parse_spotting(answer.answer, 1000, 1000)
    assert recall(answer_words(" ".join(box.text for box in boxes)), layer) >= MIN_RECALL


def _data_url(answer: RealAnswer) -> str:
    return "data:image/png;base64," + base64.b64encode(image(answer)).decode()


def _image_part(answer: RealAnswer) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": _data_url(answer)}}


FOLDER_FORMS = (
    "v15-run00-no-text-zh",  # a non-answer
    "v15-run00-hymeta-spotting-in-poly",  # a layout answer that turned into spotting
    "v15-spothy-md-table-br-subtotal-14595",  # a pipe table wider than its header
)


@pytest.mark.parametrize("answer", [a for a in ANSWERS if a.id in FOLDER_FORMS], ids=lambda answer: answer.id)
def test_the_folder_cli_writes_the_answers_words_and_prints_its_warnings(
    answer: RealAnswer, prompts: HunyuanPromptBuilder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.png").write_bytes(image(answer))
    settings = Settings(served_model_name="fake-ocr", prompt_set=answer.model)
    app = build_app(settings, ReplayEngine(answer.answer), prompts, on_engine_failure=lambda: None)
    batch = Batch.from_args(
        build_parser().parse_args(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--format", "md"])
    )

    async def scenario() -> int:
        async with serving(app) as base_url:
            assert base_url is not None
            return await run_folder(batch, base_url, None)

    assert asyncio.run(scenario()) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert_holds_the_answer(answer, (tmp_path / "out" / "page.png.md").read_text(), "\n".join(warnings))
