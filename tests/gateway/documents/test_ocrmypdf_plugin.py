"""The OCRmyPDF plugin: where it gets a page's lines (the lines file, or a gateway over HTTP), the element tree it
hands OCRmyPDF, its errors as OCRmyPDF's one-line ones, and how it becomes OCRmyPDF's engine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from ocrmypdf import MissingDependencyError, OcrOptions
from ocrmypdf.api import setup_plugin_infrastructure
from PIL import Image

from gateway.documents import ocrmypdf_plugin as plugin
from gateway.documents.page_lines import LINES_FILE, PageLines, TextLine, write_lines
from tests.servers import free_port

PLUGIN = "gateway.documents.ocrmypdf_plugin"


@pytest.fixture
def page_image(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    Image.new("L", (1000, 2000), 255).save(path, dpi=(200, 200))
    return path


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000"),
        (" https://ocr.example/ ", "https://ocr.example"),
        ("https://example.org/ocr-gateway/v1", "https://example.org/ocr-gateway"),
    ],
)
def test_the_gateway_url_is_taken_with_or_without_v1(url: str, root: str) -> None:
    assert plugin.root_url(url) == root


def test_a_gateway_url_that_is_not_http_is_a_bad_argument() -> None:
    with pytest.raises(plugin.GatewayUrlInvalid, match="OCR_GATEWAY_URL must be an http:// or https:// URL"):
        plugin.root_url("127.0.0.1:8000")


def test_lines_from_the_lines_file_are_scaled_to_the_image_ocrmypdf_rendered(
    tmp_path: Path, page_image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "lines.json"
    write_lines(lines, [PageLines(2, [TextLine("Total 12", (0.1, 0.1, 0.18, 0.11))])])
    monkeypatch.setenv(LINES_FILE, str(lines))
    tree, text = plugin.GatewayOcrEngine.generate_ocr(page_image, OcrOptions(input_file="-", output_file="-"), 1)
    assert text == "Total 12" and tree.page_number == 1 and tree.dpi == pytest.approx(200, abs=0.01)
    (line,) = tree.children
    assert (line.bbox.left, line.bbox.top, line.bbox.right, line.bbox.bottom) == pytest.approx((100, 200, 180, 220))
    assert [word.text for word in line.children] == ["Total", "12"]
    empty, text = plugin.GatewayOcrEngine.generate_ocr(page_image, OcrOptions(input_file="-", output_file="-"), 0)
    assert empty.children == [] and text == ""  # page 1 has no lines in the file


@dataclass
class StandIn:
    """A stand-in for the gateway's ``POST /ocr``: answers ``replies`` in turn (the last one ever after) and keeps
    what each request sent."""

    replies: list[tuple[int, dict[str, str], bytes]]
    url: str = ""
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    state = StandIn(replies=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, dict(self.headers), body))
            status, headers, reply = state.replies[min(len(state.requests), len(state.replies)) - 1]
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(reply))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def answer(boxes: object) -> bytes:
    return json.dumps({"text": "", "boxes": boxes}).encode()


def error(message: str) -> bytes:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None}}).encode()


def test_the_page_image_goes_to_ocr_spotting_with_the_key_and_its_boxes_are_the_lines(
    stand_in: StandIn, page_image: Path
) -> None:
    stand_in.replies = [(200, {}, answer([{"text": "订单号 A1", "box": [10, 20, 110, 40]}, {"box": "x"}, "junk"]))]
    lines = plugin.gateway_lines(page_image, stand_in.url, "sk-test")
    assert lines == [("订单号 A1", (10.0, 20.0, 110.0, 40.0))]
    path, headers, body = stand_in.requests[0]
    assert path == "/ocr?task=spotting" and body == page_image.read_bytes()
    assert headers["Authorization"] == "Bearer sk-test"


def test_without_a_key_no_authorization_is_sent(stand_in: StandIn, page_image: Path) -> None:
    stand_in.replies = [(200, {}, answer(None))]
    assert plugin.gateway_lines(page_image, stand_in.url, None) == []
    assert "Authorization" not in stand_in.requests[0][1]


def test_a_busy_gateway_is_asked_again_after_its_retry_after(stand_in: StandIn, page_image: Path) -> None:
    stand_in.replies = [
        (429, {"Retry-After": "0"}, error("The server is at capacity.")),
        (503, {"Retry-After": "0"}, error("The engine is loading.")),
        (200, {}, answer([{"text": "ok", "box": [0, 0, 5, 5]}])),
    ]
    assert plugin.gateway_lines(page_image, stand_in.url, None) == [("ok", (0.0, 0.0, 5.0, 5.0))]
    assert len(stand_in.requests) == 3


def test_a_refused_key_is_one_line_that_says_which_variable_holds_it(stand_in: StandIn, page_image: Path) -> None:
    stand_in.replies = [(401, {}, error("Invalid API key."))]
    with pytest.raises(plugin.GatewayRefused) as refused:
        plugin.gateway_lines(page_image, stand_in.url, "wrong")
    assert str(refused.value) == (
        f"The OCR gateway at {stand_in.url} answered 401: Invalid API key. Set OPENAI_API_KEY to one of its API keys."
    )


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ((500, {}, error("The engine failed on this request.")), "answered 500: The engine failed on this request."),
        ((502, {}, b"<html>Bad Gateway</html>"), "answered 502: <html>Bad Gateway</html>"),
        ((200, {}, b"not json"), "answered with something other than /ocr's JSON"),
    ],
)
def test_a_failed_page_is_a_gateway_refusal_with_its_message(
    stand_in: StandIn, page_image: Path, reply: tuple[int, dict[str, str], bytes], message: str
) -> None:
    stand_in.replies = [reply]
    with pytest.raises(plugin.GatewayRefused, match=message):
        plugin.gateway_lines(page_image, stand_in.url, None)


def test_an_unreachable_gateway_is_a_missing_dependency_that_says_how_to_start_it(page_image: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        plugin.GatewayUnreachable, match=f"Could not reach the OCR gateway at {url} .*ocr-gateway serve"
    ):
        plugin.gateway_lines(page_image, url, None)
    assert issubclass(plugin.GatewayUnreachable, MissingDependencyError)  # what OCRmyPDF's start-up check reports


@pytest.mark.parametrize(
    ("engine", "ours"), [("auto", True), ("ocr-gateway", True), ("tesseract", False), ("none", False)]
)
def test_the_plugin_is_the_engine_by_default_and_when_named(engine: str, ours: bool) -> None:
    options = OcrOptions(input_file="-", output_file="-", ocr_engine=engine)
    assert isinstance(plugin.get_ocr_engine(options), plugin.GatewayOcrEngine) is ours
    assert plugin.GatewayOcrEngine.languages(options) == set()  # no -l language is checked against it


def test_ocrmypdf_needs_tesseract_only_when_tesseract_is_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tmp_path / "lines.json"
    write_lines(lines, [])
    monkeypatch.setenv(LINES_FILE, str(lines))
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract program anywhere
    manager = setup_plugin_infrastructure(plugins=[PLUGIN])
    manager.check_options(options=OcrOptions(input_file="-", output_file="-"))
    with pytest.raises(MissingDependencyError, match="tesseract"):
        manager.check_options(options=OcrOptions(input_file="-", output_file="-", ocr_engine="tesseract"))
    assert isinstance(
        manager.get_ocr_engine(options=OcrOptions(input_file="-", output_file="-")), plugin.GatewayOcrEngine
    )
