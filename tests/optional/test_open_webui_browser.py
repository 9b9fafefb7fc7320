"""The real Open WebUI (PyPI ``open-webui`` 0.12) in Debian's Chromium, chatting about an image through the gateway.

Optional: it runs where ``OPEN_WEBUI_BIN`` names an ``open-webui`` executable (``make test-open-webui`` installs one
in a virtualenv of its own, as its pins clash with ours) and is skipped before any server starts elsewhere.

Open WebUI gets the settings a user would give it for this gateway (``open_webui_settings``) and runs offline behind
a network guard (``network_guard/sitecustomize.py``) that refuses, and records, any connection or name lookup off the
loopback; the browser's requests off 127.0.0.1 are refused and recorded too. A person's steps follow: open Open
WebUI, pick the gateway's model, upload an image through the "+" menu, ask, wait for the streamed answer, ask a
follow-up. The tiny checkpoint's answers are random, so what is checked is what reached the gateway (its access log:
image count, pixels, prompt tokens, streaming) and that Open WebUI saved each answer, finished and not empty — as
raw text: Open WebUI's Markdown rendering of a random answer can be blank — never the words.

Two more runs use the gateway as Open WebUI's document extractor (Admin → Settings → Documents): its Docling engine,
then its Mistral OCR engine, point at a second gateway on ``--engine rapidocr`` (PP-OCR: real text without model
weights), which takes a key of its own. A scanned PDF (page images, no text layer) is uploaded into a chat, and the
text Open WebUI extracted and stored for the file, read back through its files API, must hold the printed words —
only the OCR could have produced them. The chat is then answered by the tiny checkpoint with that text as context.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openai import OpenAI
from playwright.sync_api import Browser, FilePayload, Page, Route, expect

from tests.conftest import Gateway
from tests.images import data_url, encode, make_image
from tests.scans import LATIN_FONT, image_only_pdf, pdftotext, recall, scanned_page
from tests.servers import GatewayDidNotStart, free_port, start_gateway, stop_gateway, wait_until_healthy

OPEN_WEBUI_BIN = os.environ.get("OPEN_WEBUI_BIN", "")
if not OPEN_WEBUI_BIN:
    pytest.skip(
        "Open WebUI is optional: `make test-open-webui` installs it and runs this test (OPEN_WEBUI_BIN is unset)",
        allow_module_level=True,
    )
if not os.access(OPEN_WEBUI_BIN, os.X_OK):
    pytest.skip(f"OPEN_WEBUI_BIN={OPEN_WEBUI_BIN} is not an executable", allow_module_level=True)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
GUARD_DIR = Path(__file__).resolve().parent / "network_guard"
API_KEY = "sk-open-webui"  # the session gateway takes any key
OCR_API_KEY = "sk-documents"  # the rapidocr gateway's one --api-key: Open WebUI must send it to be let in
PROMPT = "Extract all text in this image."
FOLLOW_UP = "Now translate it to English."
DOCUMENT_QUESTION = "What is the invoice number in this report?"
# The scan's two pages; plain words, so Markdown escapes cannot hide one.
PAGES = [
    ["Quarterly maintenance report for pump station seven", "Hydraulic pressure measured at 212 bar"],
    ["Invoice number 2024-0815 total 1,234.56 EUR", "Pack my box with five dozen liquor jugs"],
]
MIN_RECALL = 0.95
START_TIMEOUT_S = 300  # first start creates its database (≈15 s idle, minutes beside a busy test run)
PAGE_TIMEOUT_MS = 60_000
FIRST_LOAD_TIMEOUT_MS = 180_000  # the first load compiles a large bundle; slow beside a busy test run
ANSWER_TIMEOUT_MS = 180_000
EXTRACTION_TIMEOUT_S = 300  # PP-OCR on two Letter pages at 200 dpi, on busy cores


def open_webui_settings(gateway: Gateway, ocr_root_url: str, data_dir: Path, guard_log: Path) -> dict[str, str]:
    """Environment variables (Open WebUI's ``env.py`` / ``config.py``) of a one-user, offline Open WebUI."""
    return {
        # The gateway is its one connection, as docker/compose.yaml sets it; no Ollama.
        "OPENAI_API_BASE_URL": gateway.base_url,
        "OPENAI_API_KEY": API_KEY,
        "ENABLE_OLLAMA_API": "False",
        # One user (an admin), no sign-in; database, uploads and settings in a fresh folder.
        "WEBUI_AUTH": "False",
        "WEBUI_SECRET_KEY": secrets.token_hex(32),
        "DATA_DIR": str(data_dir),
        # Offline: no version check, no hub downloads, no telemetry, and no embedding model to load (images in a
        # chat never go through retrieval).
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "RAG_EMBEDDING_MODEL": "",
        # Documents: text comes from the gateway's docling-serve API (README, "Use it as Open WebUI's document
        # extractor"); with no embedding model, a file's whole extracted text is stored and given to the chat.
        "CONTENT_EXTRACTION_ENGINE": "docling",
        "DOCLING_SERVER_URL": ocr_root_url,
        "DOCLING_API_KEY": OCR_API_KEY,
        "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "ANONYMIZED_TELEMETRY": "False",
        # Admin settings that bound the random model's answers: chat turns, and title/tag/follow-up generation.
        "DEFAULT_MODEL_PARAMS": json.dumps({"max_tokens": 64}),
        "TASK_MODEL_PARAMS": json.dumps({"max_tokens": 32}),
        "PYTHONPATH": str(GUARD_DIR),
        "NETWORK_GUARD_LOG": str(guard_log),
    }


@dataclass(frozen=True)
class OpenWebUI:
    url: str
    log_path: Path
    guard_log: Path

    def refused(self) -> list[str]:
        """What the network guard refused so far: ``connect HOST:PORT`` or ``resolve NAME`` lines."""
        assert self.guard_log.exists(), "the network guard was not armed in Open WebUI's process"
        return self.guard_log.read_text().splitlines()


@dataclass(frozen=True)
class OcrGateway:
    root_url: str
    log_path: Path


@pytest.fixture(scope="module")
def ocr_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OcrGateway]:
    """``ocr-gateway serve --engine rapidocr --api-key OCR_API_KEY``: Open WebUI's document extractor."""
    log_path = tmp_path_factory.mktemp("rapidocr-gateway") / "server.log"
    try:
        process, root_url = start_gateway(
            "tencent/HunyuanOCR", log_path, "--engine", "rapidocr", "--api-key", OCR_API_KEY, served_name=None
        )
    except GatewayDidNotStart as error:
        pytest.fail(f"the rapidocr gateway did not start: {error}")
    try:
        yield OcrGateway(root_url, log_path)
    finally:
        stop_gateway(process)


@pytest.fixture(scope="module")
def open_webui(
    gateway: Gateway, ocr_gateway: OcrGateway, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenWebUI]:
    """``open-webui serve`` on a free 127.0.0.1 port, pointed at the session gateway (chat) and the rapidocr
    gateway (documents)."""
    folder = tmp_path_factory.mktemp("open-webui")
    data_dir, log_path, guard_log = folder / "data", folder / "open-webui.log", folder / "refused.log"
    data_dir.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    command = [OPEN_WEBUI_BIN, "serve", "--host", "127.0.0.1", "--port", str(urlsplit(url).port)]
    environment = {**os.environ, **open_webui_settings(gateway, ocr_gateway.root_url, data_dir, guard_log)}
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=environment)
    try:
        wait_until_healthy(process, url, log_path, START_TIMEOUT_S)
        print(f"Open WebUI healthy after {time.monotonic() - started:.0f} s; log: {log_path}")
        yield OpenWebUI(url, log_path, guard_log)
    except GatewayDidNotStart as error:
        pytest.fail(f"Open WebUI did not start: {error}")
    finally:
        stop_gateway(process)


@pytest.fixture(scope="module")
def refused_by_browser() -> list[str]:
    """URLs the page asked for off 127.0.0.1 (refused)."""
    return []


@pytest.fixture
def page(browser: Browser, refused_by_browser: list[str]) -> Iterator[Page]:
    def loopback_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused_by_browser.append(route.request.url)
            route.abort("blockedbyclient")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def access_log(gateway: Gateway | OcrGateway) -> list[dict[str, Any]]:
    """The gateway's access log so far: one JSON record per finished request."""
    lines = gateway.log_path.read_text().splitlines()
    return [json.loads(line.partition("gateway.access: ")[2]) for line in lines if "gateway.access: " in line]


def image_chats(gateway: Gateway, since: int, count: int) -> list[dict[str, Any]]:
    """The first ``count`` chat completions with images logged after record ``since`` (their lines are written as
    the responses end, a moment after the browser shows the end of the answer)."""
    deadline = time.monotonic() + 30
    while True:
        records = access_log(gateway)[since:]
        chats = [r for r in records if r["route"] == "/v1/chat/completions" and r.get("images")]
        if len(chats) >= count:
            return chats[:count]
        assert time.monotonic() < deadline, f"{count} chat request(s) with images expected, the log has: {records}"
        time.sleep(0.5)


OPEN_WEBUI_API = """async ([method, path, body]) => {
    const response = await fetch(path, {
        method,
        headers: {Authorization: `Bearer ${localStorage.token}`, 'Content-Type': 'application/json'},
        body: body === null ? undefined : JSON.stringify(body),
    });
    return {status: response.status, body: await response.text()};
}"""


def open_webui_api(page: Page, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """Open WebUI's own API, called from its page as the signed-in admin (the page's token)."""
    answer = page.evaluate(OPEN_WEBUI_API, [method, path, body])
    assert answer["status"] == 200, f"{method} {path}: {answer}"
    return json.loads(answer["body"])


def open_new_chat(page: Page, url: str) -> None:
    page.goto(url)
    expect(page.locator("#chat-input")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)
    # An admin is shown the release notes until they are dismissed once (the version seen goes to their settings).
    seen = (open_webui_api(page, "GET", "/api/v1/users/user/settings") or {}).get("ui", {}).get("version")
    if seen != open_webui_api(page, "GET", "/api/config")["version"]:
        page.get_by_role("button", name="Okay, Let's Go!").click()


def pick_model(page: Page, model: str) -> None:
    selector = page.locator("#model-selector-model-button")
    selector.click()
    page.locator("#model-selector-list").get_by_text(model, exact=True).click()
    expect(selector).to_have_attribute("aria-label", f"Selected model: {model}")


def upload(page: Page, name: str, data: bytes, mime_type: str = "image/png") -> str:
    """Through the "+" menu's "Upload Files" and the browser's file chooser; returns Open WebUI's file id once it
    stored the file (a document's text is extracted after that, see ``extracted_file``)."""
    page.locator("#input-menu-button").click()
    with page.expect_response(lambda r: "/api/v1/files" in r.url and r.request.method == "POST") as stored:
        with page.expect_file_chooser() as chooser:
            page.get_by_text("Upload Files").click()
        chooser.value.set_files(files=[FilePayload(name=name, mimeType=mime_type, buffer=data)])
    assert stored.value.ok, stored.value.text()
    return str(stored.value.json()["id"])


def ask(page: Page, text: str, turn: int) -> None:
    """Sends ``text`` and waits until answer number ``turn`` is complete (its action buttons appear)."""
    page.locator("#chat-input").click()
    page.keyboard.type(text)
    page.locator("#send-message-button").click()
    expect(page.locator(".copy-response-button")).to_have_count(turn, timeout=ANSWER_TIMEOUT_MS)


STORED_ANSWERS = """async (id) => {
    const response = await fetch(`/api/v1/chats/${id}`, {headers: {Authorization: `Bearer ${localStorage.token}`}});
    const messages = Object.values((await response.json()).chat.history.messages);
    return messages.filter((m) => m.role === 'assistant').sort((a, b) => a.timestamp - b.timestamp);
}"""


def stored_answers(page: Page, count: int) -> list[dict[str, Any]]:
    """The chat's assistant messages as Open WebUI saved them (raw text, not the Markdown rendering, which may
    show a random answer as nothing), once ``count`` of them are saved as done."""
    chat_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    deadline = time.monotonic() + 30
    while True:
        answers = page.evaluate(STORED_ANSWERS, chat_id)
        if len(answers) >= count and all(answer.get("done") for answer in answers):
            return answers
        assert time.monotonic() < deadline, f"Open WebUI saved no {count} finished answers: {answers}"
        time.sleep(0.5)


def extracted_file(page: Page, file_id: str) -> dict[str, Any]:
    """The uploaded file as Open WebUI stored it, once its text extraction (in the background) finished."""
    deadline = time.monotonic() + EXTRACTION_TIMEOUT_S
    while (status := open_webui_api(page, "GET", f"/api/v1/files/{file_id}/process/status")["status"]) not in (
        "completed",
        "failed",
    ):
        assert time.monotonic() < deadline, f"Open WebUI still extracting after {EXTRACTION_TIMEOUT_S} s: {status}"
        time.sleep(1)
    stored: dict[str, Any] = open_webui_api(page, "GET", f"/api/v1/files/{file_id}")
    assert status == "completed", stored["data"]
    return stored


@pytest.fixture(scope="module")
def scanned_pdf() -> bytes:
    """Two scanned pages: page images at 200 dpi, no text layer — a PDF text extractor finds nothing in it."""
    pdf = image_only_pdf(scanned_page(lines, LATIN_FONT, 48).image for lines in PAGES)
    path = ARTIFACTS / "open-webui-scan.pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    path.write_bytes(pdf)
    assert pdftotext(path).strip() == ""
    return pdf


def read_a_scan_in_a_chat(
    page: Page, gateway: Gateway, ocr_gateway: OcrGateway, pdf: bytes, engine: str
) -> list[dict[str, Any]]:
    """A person's steps with a document in the new chat open on ``page``: the scan uploaded through the "+" menu,
    a question about it.
    Checks the text Open WebUI stored for the file and gave the chat; returns what reached the rapidocr gateway."""
    ocr_since, chat_since = len(access_log(ocr_gateway)), len(access_log(gateway))
    pick_model(page, gateway.model)
    started = time.monotonic()
    file_id = upload(page, "scan.pdf", pdf, "application/pdf")
    stored = extracted_file(page, file_id)
    print(f"{engine}: Open WebUI stored the scan's text {time.monotonic() - started:.1f} s after the upload")
    drawn = " ".join(" ".join(lines) for lines in PAGES)
    content = stored["data"]["content"]
    assert recall(drawn, content) >= MIN_RECALL, content

    ask(page, DOCUMENT_QUESTION, turn=1)
    [answer] = stored_answers(page, 1)
    assert answer["content"] and not answer.get("error")
    # The chat's context was that text: Open WebUI saves it as the answer's source, and sent it to the tiny model
    # as text (no image).
    given = " ".join(text for source in answer.get("sources", []) for text in source.get("document", []))
    assert recall(drawn, given) >= MIN_RECALL, answer
    chats = [r for r in access_log(gateway)[chat_since:] if r["route"] == "/v1/chat/completions" and "ttft_ms" in r]
    assert chats and chats[0]["status"] == 200 and not chats[0].get("images"), chats
    page.screenshot(path=str(ARTIFACTS / f"open-webui-{engine}.png"))
    return access_log(ocr_gateway)[ocr_since:]


def direct_request(gateway: Gateway, png: bytes) -> dict[str, Any]:
    """The first turn as Open WebUI sends it (typed text, then the image), through the openai client."""
    request_id = f"direct-{secrets.token_hex(4)}"
    with OpenAI(base_url=gateway.base_url, api_key=API_KEY, max_retries=0, timeout=120) as client:
        client.chat.completions.create(
            model=gateway.model,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": PROMPT},
                        {"type": "image_url", "image_url": {"url": data_url(png)}},
                    ],
                }
            ],
            max_tokens=1,
            extra_headers={"X-Request-ID": request_id},
        )
    return next(record for record in access_log(gateway) if record["request_id"] == request_id)


def test_open_webui_chats_about_an_uploaded_image_through_the_gateway(
    page: Page, open_webui: OpenWebUI, gateway: Gateway
) -> None:
    png = encode(make_image(320, 240, seed=7101))
    since = len(access_log(gateway))
    open_new_chat(page, open_webui.url)
    pick_model(page, gateway.model)
    upload(page, "scan.png", png)

    started = time.monotonic()
    ask(page, PROMPT, turn=1)
    print(f"first answer after {time.monotonic() - started:.1f} s")
    [first_answer] = stored_answers(page, 1)
    assert first_answer["content"] and not first_answer.get("error")
    [first] = image_chats(gateway, since, 1)
    direct = direct_request(gateway, png)
    # The image reached the model as the openai client sends it: same pixels, same prompt, same task.
    assert first["status"] == 200 and first["images"] == 1 and first["completion_tokens"] > 0
    assert "ttft_ms" in first  # streamed
    assert (first["pixels"], first["prompt_tokens"], first["task"]) == (
        direct["pixels"],
        direct["prompt_tokens"],
        direct["task"],
    )

    since = len(access_log(gateway))
    ask(page, FOLLOW_UP, turn=2)
    second_answer = stored_answers(page, 2)[1]
    assert second_answer["content"] and not second_answer.get("error")
    [second] = image_chats(gateway, since, 1)
    # The follow-up re-sends the history: the image again, the first question and its answer.
    assert second["status"] == 200 and second["images"] == 1 and second["pixels"] == first["pixels"]
    assert second["prompt_tokens"] > first["prompt_tokens"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "open-webui.png"))


def test_open_webui_s_docling_engine_reads_a_scanned_pdf_through_the_gateway(
    page: Page, open_webui: OpenWebUI, gateway: Gateway, ocr_gateway: OcrGateway, scanned_pdf: bytes
) -> None:
    open_new_chat(page, open_webui.url)
    # As its environment set it (open_webui_settings): Docling at the rapidocr gateway, with its key.
    settings = open_webui_api(page, "GET", "/api/v1/retrieval/config")
    assert (settings["CONTENT_EXTRACTION_ENGINE"], settings["DOCLING_SERVER_URL"]) == ("docling", ocr_gateway.root_url)
    requests = read_a_scan_in_a_chat(page, gateway, ocr_gateway, scanned_pdf, "docling")
    # One conversion, let in by the key (the gateway refuses a request without it).
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [("POST", "/v1/convert/file", 200)]


def serves(ocr_gateway: OcrGateway, path: str) -> bool:
    return path in httpx.get(f"{ocr_gateway.root_url}/openapi.json", timeout=30).json()["paths"]


def test_open_webui_s_mistral_ocr_engine_reads_a_scanned_pdf_through_the_gateway(
    page: Page, open_webui: OpenWebUI, gateway: Gateway, ocr_gateway: OcrGateway, scanned_pdf: bytes
) -> None:
    if not serves(ocr_gateway, "/v1/ocr"):
        pytest.skip("this gateway does not serve Mistral's OCR API (POST /v1/ocr) yet")
    open_new_chat(page, open_webui.url)
    # What Admin → Settings → Documents saves when an admin picks Mistral OCR with the gateway as its base URL.
    open_webui_api(
        page,
        "POST",
        "/api/v1/retrieval/config/update",
        {
            "CONTENT_EXTRACTION_ENGINE": "mistral_ocr",
            "MISTRAL_OCR_API_BASE_URL": f"{ocr_gateway.root_url}/v1",
            "MISTRAL_OCR_API_KEY": OCR_API_KEY,
        },
    )
    requests = read_a_scan_in_a_chat(page, gateway, ocr_gateway, scanned_pdf, "mistral")
    # Mistral's flow: the file uploaded (purpose=ocr), a signed URL for it, OCR of that URL, the file deleted.
    assert [(r["method"], r["route"], r["status"]) for r in requests] == [
        ("POST", "/v1/files", 200),
        ("GET", "/v1/files/{file_id}/url", 200),
        ("POST", "/v1/ocr", 200),
        ("DELETE", "/v1/files/{file_id}", 200),
    ]


def test_open_webui_reached_nothing_but_the_gateway(open_webui: OpenWebUI, refused_by_browser: list[str]) -> None:
    """Runs last: everything Open WebUI's server and its page tried off the loopback since start-up, refused."""
    assert open_webui.refused() == []
    assert refused_by_browser == []
