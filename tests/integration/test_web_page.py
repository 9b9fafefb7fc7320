"""The web page in a real browser: Playwright driving Debian's Chromium (``make system-deps`` installs it).

Two tests run the page against the real gateway (vLLM engine): one checks the exports against the API's own
answer, one that a long answer keeps appearing while it streams and is timed as the stream is. Two run it against a
real rapidocr gateway for the document downloads (searchable PDF, Markdown, DoclingDocument JSON) and the spotting
boxes drawn over the image; the others use a fake engine served by uvicorn for phone width, API keys, errors and
rendering.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import threading
import time
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import httpx
import pypdfium2
import pytest
from docling_core.types.doc import DoclingDocument
from openai import OpenAI
from PIL import Image
from playwright.sync_api import Browser, Download, Page, expect

from adapters.engine import EngineOutput, EngineRequest
from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import MediaSettings, Settings
from prompts.spotting import parse_spotting
from tests.conftest import Gateway
from tests.fakes import FakeEngine
from tests.images import data_url, encode, make_image, render_text
from tests.scans import LATIN_FONT, image_only_pdf, overlap, recall, scanned_page
from tests.servers import serve_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
MAX_TOKENS = 48
# A long answer: the tiny checkpoint writes one character per token, steadily, for ~10-15 s on a 2-core machine.
LONG_ANSWER_TOKENS = 3000
SAMPLE_EVERY_S = 0.25
ANSWER_TIMEOUT_MS = 120_000
KEY = "page-key"
SCAN_LINES = [
    "Searchable PDFs keep the scan and add invisible text.",
    "Invoice number 2024-0815, total 1,234.56 EUR",
    "The quick brown fox jumps over the lazy dog.",
]
MIN_RECALL = 0.9  # rapidocr reads DejaVu Sans without a mistake; the bound leaves room for other CPUs
MIN_BOX_OVERLAP = 0.6  # a drawn box on screen against the ink of its line (rapidocr's own boxes pad the ink)
# The fake engine's answer: a Markdown table and an HTML table carrying markup that must stay text.
FAKE_REPLY = (
    "# Totals\n\n| item | price |\n|---|---|\n| tea | <b>3</b> |\n\n"
    '<table><tr><th>a</th></tr><tr><td>x<img src="/nothing" onerror="window.hacked=1"></td></tr></table>'
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def fake_engine() -> FakeEngine:
    return FakeEngine(reply=FAKE_REPLY)


@pytest.fixture(scope="module")
def fake_server(prompts: HunyuanPromptBuilder, fake_engine: FakeEngine) -> Iterator[str]:
    """A fake-engine gateway that needs an API key and takes bodies of at most 200 kB."""
    settings = Settings(served_model_name="fake-ocr", api_keys=(KEY,), media=MediaSettings(max_body_mb=0.2))
    app = build_app(settings, fake_engine, prompts, on_engine_failure=lambda: None)
    with serve_app(app) as root_url:
        yield root_url


@pytest.fixture
def keyed_page(page: Page, fake_server: str) -> Page:
    """The page on the fake server, its API key already stored."""
    page.add_init_script(f"localStorage.setItem('ocr-gateway.api-key', {json.dumps(KEY)})")
    page.goto(fake_server)
    expect(page.locator("#model-name")).to_have_text("fake-ocr")
    return page


def add_file(page: Page, name: str, mime: str, data: bytes) -> None:
    """Through the page's own "Choose files" button and the browser's file chooser."""
    with page.expect_file_chooser() as chooser:
        page.click("#choose-files")
    chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def run_and_wait(page: Page, state: str = "done") -> None:
    page.click("#run")
    expect(page.locator("#output")).to_have_attribute("data-state", state, timeout=ANSWER_TIMEOUT_MS)


def export(page: Page, button: str) -> str:
    with page.expect_download() as info:
        page.click(button)
    download: Download = info.value
    return Path(download.path()).read_text(encoding="utf-8")


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def api_answer(client: OpenAI, model: str, png: bytes) -> tuple[str, dict]:
    """The same request the page sends, through the openai client: (text, usage)."""
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(png)}}]}],
        max_completion_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
        extra_body={"task": "text"},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    usage = chunks[-1].usage
    assert usage is not None
    return text, usage.model_dump(exclude_none=True)


def open_with_one_image(page: Page, gateway: Gateway, png: bytes, max_tokens: int) -> None:
    """The page on the real gateway, set to read ``png`` with the text task and at most ``max_tokens``."""
    page.goto(gateway.root_url)
    expect(page.locator("#model-name")).to_have_text(gateway.model)
    page.select_option("#task", "text")
    page.click("#advanced summary")
    page.fill("#max-tokens", str(max_tokens))
    add_file(page, "scan.png", "image/png", png)


def test_page_streams_an_answer_and_exports_what_the_api_answers(page: Page, gateway: Gateway, client: OpenAI) -> None:
    png = encode(make_image(320, 240, seed=41))
    open_with_one_image(page, gateway, png, MAX_TOKENS)
    expect(page.locator("#thumbnails li")).to_have_count(1)
    expect(page.locator("#prompt-preview")).to_have_text("Extract the text in the image.")
    run_and_wait(page)

    text, usage = api_answer(client, gateway.model, png)
    shown = page.locator("#output").text_content()
    exported_txt = export(page, "#export-txt")
    exported = json.loads(export(page, "#export-json"))
    assert text and shown == text and exported_txt == text
    assert exported["text"] == text and exported["usage"] == usage
    assert exported["task"] == "text" and exported["model"] == gateway.model
    assert exported["prompt"] == "Extract the text in the image." and exported["files"] == ["scan.png"]
    timings = exported["timings"]
    assert 0 < timings["ttft_ms"] <= timings["total_ms"]
    # Whether a 48-token answer reaches the page in more than one read depends on the browser having a core in that
    # tenth of a second (make test runs two workers on two cores): read whole, it has no rate to show. Text arriving
    # in pieces, and the rate, are the long-answer test's below (3,000 tokens over seconds).
    assert timings["tokens_per_second"] is None or timings["tokens_per_second"] > 0
    expect(page.locator("#stats")).to_contain_text(f"{usage['completion_tokens']} output tokens")
    expect(page.locator("#stats")).to_contain_text("TTFT")
    screenshot(page, "web-page.png")


@dataclass(frozen=True)
class StreamTiming:
    """A streamed answer's own timing, as a plain client sees it (seconds from sending the request)."""

    first_token: float
    last_token: float
    completion_tokens: int

    @property
    def tokens_per_second(self) -> float:
        return (self.completion_tokens - 1) / (self.last_token - self.first_token)


def stream_timing(root_url: str, body: dict) -> StreamTiming:
    """Sends ``body`` with a plain streaming httpx client and times its content chunks."""
    first = last = None
    usage = None
    start = time.monotonic()
    with httpx.stream("POST", f"{root_url}/v1/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            usage = chunk.get("usage") or usage
            if any(choice["delta"].get("content") for choice in chunk["choices"]):
                last = time.monotonic() - start
                first = last if first is None else first
    assert first is not None and last is not None and usage is not None
    return StreamTiming(first, last, usage["completion_tokens"])


@dataclass(frozen=True)
class Sample:
    at: float  # when the page answered, in seconds since Run was clicked
    wait: float  # how long the page took to answer
    shown: int  # characters of the answer on the page


def sample_while_running(page: Page, started: float) -> list[Sample]:
    """Every ``SAMPLE_EVERY_S``, asks the page how much of the answer it shows, timing its answer."""
    samples = []
    while True:
        asked = time.monotonic()
        shown, state = page.evaluate(
            "(o => [o.textContent.length, o.dataset.state])(document.getElementById('output'))"
        )
        answered = time.monotonic()
        samples.append(Sample(answered - started, answered - asked, shown))
        if state != "running":
            return samples
        time.sleep(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - asked)))


# The page's own record of its answer growing: (ms on the page's clock, characters shown) at every change of
# #output, so what the page did is read after the run rather than polled while the cores are busy.
RECORD_GROWTH = """() => {
  const output = document.getElementById('output');
  window.growth = [];
  new MutationObserver(() => window.growth.push([performance.now(), output.textContent.length]))
    .observe(output, {childList: true, subtree: true, characterData: true});
}"""


def growth_steps(record: list[list[float]]) -> int:
    """How many times the shown answer grew, by the page's own record."""
    return sum(later[1] > before[1] for before, later in pairwise(record))


def longest_freeze(samples: list[Sample]) -> float:
    """The longest time the shown answer did not grow, from its first text until it was all there."""
    growing = [sample for before, sample in pairwise(samples) if sample.shown > before.shown]
    return max((later.at - sample.at for sample, later in pairwise(growing)), default=0.0)


def test_page_shows_a_long_answer_as_it_streams_and_times_it_as_the_stream_does(page: Page, gateway: Gateway) -> None:
    """A regression test: the page once showed a long answer in bursts and reported its own delays as TTFT."""
    png = encode(make_image(320, 240, seed=41))
    content = [{"type": "image_url", "image_url": {"url": data_url(png)}}]
    body = {
        "model": gateway.model,
        "messages": [{"role": "user", "content": content}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "task": "text",
        "max_completion_tokens": LONG_ANSWER_TOKENS,
    }
    stream_timing(gateway.root_url, {**body, "max_completion_tokens": 1})  # the page's request finds the cache warm
    api = stream_timing(gateway.root_url, body)
    open_with_one_image(page, gateway, png, LONG_ANSWER_TOKENS)
    expect(page.locator("#prompt-preview")).to_have_text("Extract the text in the image.")
    page.evaluate(RECORD_GROWTH)
    started = time.monotonic()
    page.click("#run")
    samples = sample_while_running(page, started)
    steps = growth_steps(page.evaluate("window.growth"))

    first_text = next((sample.at for sample in samples if sample.shown), float("inf"))
    freeze, wait = longest_freeze(samples), max(sample.wait for sample in samples)
    stats = page.locator("#stats").text_content() or ""
    report = (
        f"API: first token {api.first_token:.2f} s, {api.tokens_per_second:.0f} tokens/s; page: first text "
        f"{first_text:.2f} s, longest freeze {freeze:.2f} s, longest wait {wait:.2f} s, {steps} growth steps "
        f"(page's record); shown: {stats}"
    )
    print(report)
    # Text keeps coming: many growth steps, not a few bursts — counted by the page itself. When the first text
    # shows, the longest freeze and the longest wait are printed, not bounded: on two cores the vLLM worker starves
    # the browser's renderer whatever the page does (an idle page stalls as long; the page's own main-thread work
    # stays under 8 ms a task — Chromium's trace, docs/use/web-page.md), so the page cannot even be asked on time
    # (a poll once waited 5 s and saw 3 steps of an answer the page showed in many).
    assert steps >= 5, report
    shown = re.search(r"TTFT (\d+) ms · ([\d.]+) tokens/s", stats)
    assert shown is not None, report
    # Not the page's own delays (it once showed 8 s where the API took 0.16 s); a separate run's first token varies
    # by more than the page's can (0.07-0.8 s here), so the bound is one-sided, and loose: with another test file
    # running beside this one (make test's two workers) the browser waited 0.7 s for a core before it could read.
    assert int(shown[1]) / 1000 < api.first_token + 2, report
    # Against a separate run of the same body: generation itself slows while Chromium shares the cores.
    assert 0.5 < float(shown[2]) / api.tokens_per_second < 2, report
    expect(page.locator("#stats")).to_contain_text(f"{api.completion_tokens} output tokens")


def test_page_asks_for_the_key_then_keeps_it(page: Page, fake_server: str) -> None:
    page.goto(fake_server)
    expect(page.locator("#error")).to_contain_text("API key")
    expect(page.locator("#api-key")).to_be_focused()
    page.fill("#api-key", "wrong")
    page.press("#api-key", "Tab")
    expect(page.locator("#error")).to_contain_text("API key")
    page.fill("#api-key", KEY)
    page.press("#api-key", "Tab")
    expect(page.locator("#model-name")).to_have_text("fake-ocr")
    expect(page.locator("#error")).to_be_hidden()
    page.reload()
    expect(page.locator("#model-name")).to_have_text("fake-ocr")
    assert page.input_value("#api-key") == KEY


def test_page_renders_model_tables_as_text_never_markup(keyed_page: Page) -> None:
    page = keyed_page
    add_file(page, "menu.png", "image/png", encode(make_image(64, 64, seed=2)))
    run_and_wait(page)
    assert page.locator("#output").text_content() == FAKE_REPLY
    page.get_by_role("radio", name="Rendered").check()
    rendered = page.locator("#rendered")
    expect(rendered.locator("h3")).to_have_text("Totals")
    expect(rendered.locator("table")).to_have_count(2)
    expect(rendered.locator("td").nth(1)).to_have_text("<b>3</b>")
    assert rendered.locator("b, img, script").count() == 0
    assert page.evaluate("window.hacked") is None


def test_page_works_at_phone_width_with_a_pdf(browser: Browser, fake_server: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.add_init_script(f"localStorage.setItem('ocr-gateway.api-key', {json.dumps(KEY)})")
        page.goto(fake_server)
        expect(page.locator("#model-name")).to_have_text("fake-ocr")
        add_file(page, "page.pdf", "application/pdf", encode(make_image(120, 160, seed=5), "PDF"))
        add_file(page, "photo.png", "image/png", encode(make_image(64, 64, seed=6)))
        expect(page.locator("#thumbnails li")).to_have_count(2)
        page.get_by_role("button", name="Remove photo.png").click()
        expect(page.locator("#thumbnails li")).to_have_count(1)
        page.focus("#task")
        page.select_option("#task", "translate")
        page.select_option("#target-lang", "fr")
        expect(page.locator("#prompt-preview")).to_contain_text("into French")
        expect(page.locator("#request-preview")).to_contain_text('"file_data": "data:application/pdf;base64,…')
        page.keyboard.press("Control+Enter")
        expect(page.locator("#output")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        for control in ("#run", "#task", "#export-json", "#choose-files"):
            box = page.locator(control).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
        screenshot(page, "web-page-phone.png")
    finally:
        context.close()


def test_every_control_is_reached_with_the_tab_key_in_order(keyed_page: Page) -> None:
    reached = []
    for _ in range(30):
        keyed_page.keyboard.press("Tab")
        reached.append(keyed_page.evaluate("document.activeElement.id"))
    order = [reached.index(control) for control in ("choose-files", "task", "prompt-lang", "run")]
    assert order == sorted(order), reached


def test_page_explains_a_too_large_request(keyed_page: Page) -> None:
    page = keyed_page
    noise = Image.frombytes("RGB", (300, 300), random.Random(1).randbytes(300 * 300 * 3))  # 270 kB as PNG
    add_file(page, "big.png", "image/png", encode(noise))
    run_and_wait(page, "error")
    expect(page.locator("#error")).to_contain_text("Too large")


def test_page_explains_a_file_the_server_cannot_read(keyed_page: Page) -> None:
    add_file(keyed_page, "broken.png", "image/png", b"this is not a PNG")
    run_and_wait(keyed_page, "error")
    expect(keyed_page.locator("#error")).to_contain_text("could not use this request")


def test_files_arrive_by_drop_and_by_paste(keyed_page: Page, fake_engine: FakeEngine) -> None:
    png = base64.b64encode(encode(make_image(48, 48, seed=9))).decode()
    keyed_page.evaluate(
        """(png) => {
        const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
        const holding = (name) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: "image/png"}));
            return transfer;
        };
        const init = {bubbles: true, cancelable: true};
        document.getElementById("drop-zone").dispatchEvent(
            new DragEvent("drop", {...init, dataTransfer: holding("dropped.png")}));
        document.dispatchEvent(new ClipboardEvent("paste", {...init, clipboardData: holding("pasted.png")}));
    }""",
        png,
    )
    expect(keyed_page.locator("#thumbnails li")).to_have_count(2)
    expect(keyed_page.locator("#thumbnails")).to_contain_text("dropped.png")
    expect(keyed_page.locator("#thumbnails")).to_contain_text("pasted.png")
    run_and_wait(keyed_page)
    assert len(fake_engine.requests[-1].images) == 2


def test_copy_puts_the_answer_on_the_clipboard(keyed_page: Page, fake_server: str) -> None:
    keyed_page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=fake_server)
    add_file(keyed_page, "menu.png", "image/png", encode(make_image(64, 64, seed=2)))
    run_and_wait(keyed_page)
    keyed_page.click("#copy")
    expect(keyed_page.locator("#status")).to_have_text("Copied the result to the clipboard.")
    assert keyed_page.evaluate("navigator.clipboard.readText()") == FAKE_REPLY


@dataclass
class HeldEngine(FakeEngine):
    """Holds every request until ``release`` is set, so the server's one slot stays taken."""

    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        self.holding.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)
        async for output in super().generate(request):
            yield output


def test_page_says_the_server_is_busy_when_it_is_full(page: Page, prompts: HunyuanPromptBuilder) -> None:
    engine = HeldEngine()
    settings = Settings(served_model_name="fake-ocr", max_running_requests=1, max_queued_requests=0)
    app = build_app(settings, engine, prompts, on_engine_failure=lambda: None)
    png = encode(make_image(48, 48, seed=4))
    with serve_app(app) as root_url, ThreadPoolExecutor(1) as pool:
        page.goto(root_url)
        expect(page.locator("#model-name")).to_have_text("fake-ocr")
        body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(png)}}]}]}
        holder = pool.submit(httpx.post, f"{root_url}/v1/chat/completions", json=body, timeout=60)
        assert engine.holding.wait(30)
        add_file(page, "photo.png", "image/png", png)
        run_and_wait(page, "error")
        expect(page.locator("#error")).to_contain_text("busy")
        engine.release.set()
        assert holder.result().status_code == 200


def test_stop_ends_a_running_request(page: Page, prompts: HunyuanPromptBuilder) -> None:
    engine = HeldEngine()
    app = build_app(Settings(served_model_name="fake-ocr"), engine, prompts, on_engine_failure=lambda: None)
    with serve_app(app) as root_url:
        page.goto(root_url)
        expect(page.locator("#model-name")).to_have_text("fake-ocr")
        add_file(page, "photo.png", "image/png", encode(make_image(48, 48, seed=4)))
        page.click("#run")
        assert engine.holding.wait(30)
        page.click("#stop")
        expect(page.locator("#output")).to_have_attribute("data-state", "stopped")
        expect(page.locator("#run")).to_be_enabled()
        engine.release.set()


def open_on_rapidocr(page: Page, root_url: str) -> None:
    page.goto(root_url)
    expect(page.locator("#model-name")).to_contain_text("rapidocr")


def download_document(page: Page, button: str) -> Download:
    with page.expect_download(timeout=ANSWER_TIMEOUT_MS) as info:
        page.get_by_role("button", name=button).click()
    return info.value


def test_a_read_scan_downloads_as_searchable_pdf_markdown_and_docling_json(page: Page, rapidocr_root: str) -> None:
    scan = image_only_pdf([scanned_page(SCAN_LINES, LATIN_FONT, 36).image])
    drawn = " ".join(SCAN_LINES)
    open_on_rapidocr(page, rapidocr_root)
    expect(page.locator("#documents")).to_be_hidden()
    add_file(page, "March scan.pdf", "application/pdf", scan)
    page.select_option("#task", "text")
    run_and_wait(page)
    assert recall(drawn, page.locator("#output").text_content() or "") >= MIN_RECALL
    searchable = page.get_by_role("button", name="Searchable PDF of March scan.pdf")
    expect(searchable).to_have_attribute("title", re.compile("extra engine calls"))

    with page.expect_download(timeout=ANSWER_TIMEOUT_MS) as info:
        searchable.click()
        expect(searchable).to_have_attribute("aria-busy", "true")  # OCRmyPDF takes seconds: the busy state shows
    pdf = info.value
    expect(page.locator("#status")).to_contain_text("Downloaded March scan.pdf")
    expect(searchable).to_be_enabled()
    markdown = download_document(page, "Markdown of March scan.pdf")
    docling = download_document(page, "DoclingDocument JSON of March scan.pdf")
    expect(page.locator("#error")).to_be_hidden()

    assert [pdf.suggested_filename, markdown.suggested_filename, docling.suggested_filename] == [
        "March scan.pdf",
        "March scan.md",
        "March scan.json",
    ]
    document = pypdfium2.PdfDocument(pdf.path())
    try:
        assert len(document) == 1
        assert recall(drawn, document[0].get_textpage().get_text_range()) >= MIN_RECALL  # the text layer
    finally:
        document.close()
    assert recall(drawn, Path(markdown.path()).read_text(encoding="utf-8")) >= MIN_RECALL
    parsed = DoclingDocument.model_validate(json.loads(Path(docling.path()).read_text(encoding="utf-8")))
    assert parsed.name == "March scan" and recall(drawn, parsed.export_to_text()) >= MIN_RECALL


def test_spotting_boxes_are_drawn_over_the_image_and_the_toggle_hides_them(page: Page, rapidocr_root: str) -> None:
    image, ink = render_text(SCAN_LINES, LATIN_FONT, 28)
    open_on_rapidocr(page, rapidocr_root)
    add_file(page, "lines.png", "image/png", encode(image))
    page.select_option("#task", "spotting")
    run_and_wait(page)
    spotted = parse_spotting(page.locator("#output").text_content() or "", image.width, image.height)
    assert len(spotted) == len(SCAN_LINES)
    boxes = page.locator("#box-layer .box")
    expect(boxes).to_have_count(len(spotted))
    shown = page.locator("#box-image").bounding_box()
    assert shown is not None and shown["width"] < image.width  # shown smaller: the boxes must scale with it
    scale = image.width / shown["width"]
    for index, (line, want) in enumerate(zip(spotted, ink, strict=True)):
        box = boxes.nth(index)
        assert box.get_attribute("title") == line.text
        on_screen = box.bounding_box()
        assert on_screen is not None
        x, y = (on_screen["x"] - shown["x"]) * scale, (on_screen["y"] - shown["y"]) * scale
        drawn = (x, y, x + on_screen["width"] * scale, y + on_screen["height"] * scale)
        assert overlap(drawn, want) > MIN_BOX_OVERLAP, (line, drawn, want)
    exported = json.loads(export(page, "#export-json"))
    assert [box["text"] for box in exported["boxes"]] == [line.text for line in spotted]

    page.get_by_label("Show boxes").uncheck()
    for index in range(len(spotted)):
        expect(boxes.nth(index)).to_be_hidden()
    page.get_by_label("Show boxes").check()
    expect(boxes.first).to_be_visible()
    screenshot(page, "web-page-boxes.png")
