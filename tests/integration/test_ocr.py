"""``POST /ocr`` on the real engine: the same answers as the chat API, page by page for PDFs, streamed or not."""

from __future__ import annotations

import io
import json

import httpx
import pytest
from docling_core.types.doc import DoclingDocument
from openai import OpenAI
from PIL import Image

from tests.conftest import Gateway
from tests.images import encode, image_part, make_image, make_pdf


def chat_answer(client: OpenAI, gateway: Gateway, png: bytes, task: str, max_tokens: int) -> tuple[str, int]:
    """(text, prompt tokens) of the chat API for one image and a task by name."""

    completion = client.chat.completions.create(
        model=gateway.model,
        messages=[{"role": "user", "content": [image_part(Image.open(io.BytesIO(png)))]}],
        max_tokens=max_tokens,
        extra_body={"task": task},
    )
    assert completion.usage is not None
    return completion.choices[0].message.content or "", completion.usage.prompt_tokens


def test_a_raw_image_gets_the_chat_apis_answer(client: OpenAI, gateway: Gateway) -> None:
    png = encode(make_image(160, 90, seed=1001))
    response = httpx.post(
        f"{gateway.root_url}/ocr?task=text&max_tokens=12",
        content=png,
        headers={"Content-Type": "image/png"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    text, prompt_tokens = chat_answer(client, gateway, png, "text", 12)
    assert (body["text"], body["usage"]["prompt_tokens"]) == (text, prompt_tokens)
    assert body["task"] == "text" and body["model"] == gateway.model and body["pages"] is None
    assert body["usage"]["completion_tokens"] == 12 and body["finish_reason"] == "length"


def test_a_pdf_is_answered_page_by_page_alike_streamed_or_not(gateway: Gateway) -> None:
    pdf = make_pdf([make_image(200, 260, seed=seed) for seed in (1002, 1003)])
    url = f"{gateway.root_url}/ocr?max_tokens=8"
    headers = {"Content-Type": "application/pdf"}
    whole = httpx.post(url, content=pdf, headers=headers, timeout=120).json()
    assert [(page["page"], page["task"]) for page in whole["pages"]] == [(1, "document"), (2, "document")]
    assert whole["text"] == "\n\n".join(page["text"] for page in whole["pages"])

    with httpx.stream("POST", f"{url}&stream=ndjson", content=pdf, headers=headers, timeout=120) as response:
        assert response.headers["content-type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in response.iter_lines() if line]
    assert events[0] == {"type": "start", "model": gateway.model, "pages": 2}
    streamed = events[-1]
    assert streamed["type"] == "done" and streamed["text"] == whole["text"]

    def tokens(pages: list[dict]) -> list[tuple[int, int]]:
        return [(page["usage"]["prompt_tokens"], page["usage"]["completion_tokens"]) for page in pages]

    assert tokens(streamed["pages"]) == tokens(whole["pages"])
    for index in (0, 1):
        deltas = "".join(event["text"] for event in events if event["type"] == "delta" and event["index"] == index)
        assert deltas == whole["pages"][index]["text"]


def test_spotting_gives_boxes_and_fields_give_json(gateway: Gateway) -> None:
    png = encode(make_image(300, 200, seed=1004))
    headers = {"Content-Type": "image/png"}
    spotting = httpx.post(
        f"{gateway.root_url}/ocr?task=spotting&max_tokens=24", content=png, headers=headers, timeout=120
    ).json()
    assert spotting["task"] == "spotting" and isinstance(spotting["boxes"], list)
    for box in spotting["boxes"]:
        x1, y1, x2, y2 = box["box"]
        assert 0 <= x1 <= x2 <= 300 and 0 <= y1 <= y2 <= 200

    fields = httpx.post(
        f"{gateway.root_url}/ocr",
        files={"file": ("invoice.png", png, "image/png")},
        data={"task": "fields", "fields": "number,total", "max_tokens": "40"},
        timeout=120,
    ).json()
    assert fields["task"] == "fields" and fields["text"].startswith("{")  # constrained to the fields' schema
    if fields["finish_reason"] == "stop":
        assert set(fields["data"]) == {"number", "total"}
    else:
        assert fields["data"] is None  # cut off by max_tokens: not yet valid JSON


def test_a_client_that_leaves_a_multi_page_ocr_leaves_no_page_in_the_engine(gateway: Gateway) -> None:
    # Pages long enough to still be generating when the client leaves.
    pdf = make_pdf([make_image(200, 260, seed=seed) for seed in (1010, 1011, 1012)])
    url, headers = f"{gateway.root_url}/ocr?max_tokens=7500", {"Content-Type": "application/pdf"}
    assert gateway.wait_for_engine_idle() == 0
    with httpx.stream("POST", f"{url}&stream=ndjson", content=pdf, headers=headers, timeout=120) as response:
        lines = response.iter_lines()
        assert [json.loads(next(lines))["type"] for _ in range(2)] == ["start", "delta"]
        assert gateway.unfinished_requests() >= 1  # pages are running while we read
    assert gateway.wait_for_engine_idle() == 0

    with pytest.raises(httpx.ReadTimeout):  # not streamed: the client gives up waiting
        httpx.post(url, content=pdf, headers=headers, timeout=httpx.Timeout(5, read=2))
    assert gateway.wait_for_engine_idle() == 0


@pytest.mark.parametrize(
    ("format", "media_type"),
    [("docling", "application/json"), ("chunks", "application/json"), ("markdown", "text/markdown"),
     ("html", "text/html"), ("text", "text/plain"), ("doctags", "text/plain")],
)  # fmt: skip
def test_every_document_format_is_well_formed_on_the_real_engine(
    gateway: Gateway, format: str, media_type: str
) -> None:
    pdf = make_pdf([make_image(200, 260, seed=seed) for seed in (1011, 1012)])
    response = httpx.post(
        f"{gateway.root_url}/ocr?format={format}&max_tokens=16",
        content=pdf,
        headers={"Content-Type": "application/pdf"},
        timeout=240,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    if format == "docling":
        document = DoclingDocument.model_validate(response.json())  # the random model's text, in a valid model
        assert sorted(document.pages) == [1, 2]
        for item in document.texts:
            size = document.pages[item.prov[0].page_no].size
            box = item.prov[0].bbox
            assert 0 <= box.l <= box.r <= size.width and 0 <= box.t <= box.b <= size.height
    elif format == "chunks":
        assert all({"text", "headings", "provenance"} <= set(chunk) for chunk in response.json())
