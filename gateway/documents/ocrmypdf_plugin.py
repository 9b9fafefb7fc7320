"""This gateway as OCRmyPDF's OCR engine (an OCRmyPDF plugin, for OCRmyPDF 17's ``OcrEngine.generate_ocr`` API):

    OCR_GATEWAY_URL=http://127.0.0.1:8000/v1 ocrmypdf --plugin gateway.documents.ocrmypdf_plugin in.pdf out.pdf

Once loaded it is the engine of OCRmyPDF's default ``--ocr-engine auto`` (its ``get_ocr_engine`` hook runs before
the built-in Tesseract's), and of ``--ocr-engine ocr-gateway``; ``--ocr-engine tesseract`` still picks Tesseract.
For each page image OCRmyPDF renders, the plugin gets the page's text lines with their boxes and hands OCRmyPDF
their element tree (``text_layer``), from which OCRmyPDF draws the invisible text layer. The lines come from:

- a lines file (``page_lines``) named by ``OCR_GATEWAY_LINES``, boxes normalised to the page and scaled to the
  image OCRmyPDF rendered: how the gateway itself makes searchable PDFs (``searchable``), having read the pages
  through its own engine, admission and limits already;
- otherwise a running gateway: the page image goes to ``POST /ocr?task=spotting`` at ``OCR_GATEWAY_URL`` (default
  ``http://127.0.0.1:8000/v1``; with or without the ``/v1``), with ``OPENAI_API_KEY`` as the bearer token when
  set, and the answer's ``boxes`` (pixels of the image sent) are the lines. A gateway that is busy (429, 503)
  is asked again after its ``Retry-After``; one that cannot be reached, or refuses, ends the run with OCRmyPDF's
  one-line error, not a traceback.

OCRmyPDF's ``-l`` languages are not checked (the model reads the languages it knows without being told), and
page orientation and skew are not measured, so ``--rotate-pages`` and ``--deskew`` leave pages as they are.
"""

from __future__ import annotations

import logging
import os
import time
import types
from argparse import ArgumentParser
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pluggy
from ocrmypdf import (
    BadArgsError,
    ExitCode,
    ExitCodeException,
    MissingDependencyError,
    OcrElement,
    OcrEngine,
    OcrOptions,
    OrientationConfidence,
    hookimpl,
)
from PIL import Image

from gateway import __version__
from gateway.documents.page_lines import LINES_FILE, TextLine, read_lines
from gateway.documents.text_layer import PixelBox, page_tree

ENGINE_NAME = "ocr-gateway"
TESSERACT_PLUGIN = "ocrmypdf.builtin_plugins.tesseract_ocr"
GATEWAY_URL = "OCR_GATEWAY_URL"
DEFAULT_URL = "http://127.0.0.1:8000/v1"
API_KEY = "OPENAI_API_KEY"
PAGE_TIMEOUT = 600.0  # seconds for one page: it may wait in the gateway's queue behind other requests
BUSY_RETRIES = 5
MAX_RETRY_WAIT = 30.0

# OCRmyPDF shows its INFO log on the console, where httpx would add a line for every page sent.
logging.getLogger("httpx").setLevel(logging.WARNING)


# OCRmyPDF prints these exceptions' messages in one line and exits with their code (a traceback is only for
# exceptions it does not know); its start-up checks know only bad arguments and missing dependencies.
class GatewayUrlInvalid(BadArgsError):
    """``OCR_GATEWAY_URL`` is not an http(s) URL."""


class GatewayUnreachable(MissingDependencyError):
    """The gateway does not answer at its URL."""


class GatewayRefused(ExitCodeException):
    """The gateway answered a page with an error."""

    exit_code = ExitCode.child_process_error


def root_url(url: str) -> str:
    """The gateway's root URL from its API base URL, which may end in ``/v1`` (as the OpenAI clients take it)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise GatewayUrlInvalid(f"{GATEWAY_URL} must be an http:// or https:// URL, not {url!r}.")
    return url.removesuffix("/v1")


def gateway_lines(image: Path, url: str, api_key: str | None) -> list[tuple[str, PixelBox]]:
    """The lines the gateway at ``url`` spots in ``image``, boxes in its pixels."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    endpoint = f"{root_url(url)}/ocr"
    data = image.read_bytes()
    for attempt in range(BUSY_RETRIES + 1):
        try:
            response = httpx.post(
                endpoint, params={"task": "spotting"}, content=data, headers=headers, timeout=PAGE_TIMEOUT
            )
        except httpx.TransportError as error:
            raise _unreachable(url, error) from None
        if response.status_code not in (429, 503) or attempt == BUSY_RETRIES:
            break
        time.sleep(_retry_after(response))
    if response.status_code >= 400:
        raise _refused(url, response)
    try:
        return _lines(response.json().get("boxes") or [])
    except (ValueError, AttributeError):
        raise GatewayRefused(f"The OCR gateway at {url} answered with something other than /ocr's JSON.") from None


def _lines(boxes: list[Any]) -> list[tuple[str, PixelBox]]:
    """``/ocr``'s boxes (``{"text", "box": [x1, y1, x2, y2]}``) as lines; any other item is skipped."""
    lines = []
    for item in boxes:
        box = item.get("box") if isinstance(item, dict) else None
        if isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box):
            lines.append((str(item.get("text", "")), (float(box[0]), float(box[1]), float(box[2]), float(box[3]))))
    return lines


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", 1)), 0.0), MAX_RETRY_WAIT)
    except ValueError:
        return 1.0


def _unreachable(url: str, error: Exception) -> GatewayUnreachable:
    return GatewayUnreachable(
        f"Could not reach the OCR gateway at {url} ({error.__class__.__name__}: {error}). Start it with "
        f"`ocr-gateway serve`, or point {GATEWAY_URL} at it."
    )


def _refused(url: str, response: httpx.Response) -> GatewayRefused:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    hint = f" Set {API_KEY} to one of its API keys." if response.status_code == 401 else ""
    return GatewayRefused(f"The OCR gateway at {url} answered {response.status_code}: {message}{hint}")


@cache
def _lines_file(path: str) -> dict[int, list[TextLine]]:
    return read_lines(Path(path))


def lines_for(image: Path, page_number: int, width: int, height: int) -> list[tuple[str, PixelBox]]:
    """The lines of page ``page_number`` (from 0) in pixels of its ``width`` × ``height`` ``image``, from the
    lines file if one is named, else from the gateway."""
    if lines_file := os.environ.get(LINES_FILE):
        return [(line.text, line.in_pixels(width, height)) for line in _lines_file(lines_file).get(page_number + 1, [])]
    return gateway_lines(image, os.environ.get(GATEWAY_URL) or DEFAULT_URL, os.environ.get(API_KEY))


class GatewayOcrEngine(OcrEngine):
    """OCRmyPDF's OCR engine interface over the gateway's spotting task."""

    @staticmethod
    def version() -> str:
        return __version__

    @staticmethod
    def creator_tag(options: OcrOptions) -> str:
        return f"hunyuan-ocr-gateway {__version__}"

    def __str__(self) -> str:
        return f"hunyuan-ocr-gateway {__version__}"

    @staticmethod
    def languages(options: OcrOptions) -> set[str]:
        return set()  # empty: OCRmyPDF checks no -l language against it

    @staticmethod
    def get_orientation(input_file: Path, options: OcrOptions) -> OrientationConfidence:
        return OrientationConfidence(angle=0, confidence=0.0)

    @staticmethod
    def supports_generate_ocr() -> bool:
        return True

    @staticmethod
    def generate_ocr(input_file: Path, options: OcrOptions, page_number: int = 0) -> tuple[OcrElement, str]:
        with Image.open(input_file) as image:
            width, height = image.size
            dpi = image.info.get("dpi", (72.0, 72.0))
        lines = lines_for(input_file, page_number, width, height)
        tree = page_tree(lines, width, height, float(dpi[0] if isinstance(dpi, tuple) else dpi), page_number)
        return tree, "\n".join(text for text, _ in lines)

    @staticmethod
    def generate_hocr(input_file: Path, output_hocr: Path, output_text: Path, options: OcrOptions) -> None:
        raise NotImplementedError("The OCR gateway gives OCRmyPDF an element tree (generate_ocr), not hOCR.")

    @staticmethod
    def generate_pdf(input_file: Path, output_pdf: Path, output_text: Path, options: OcrOptions) -> None:
        raise NotImplementedError("The OCR gateway gives OCRmyPDF an element tree (generate_ocr); OCRmyPDF draws it.")


def _selected(options: Any) -> bool:
    return options is None or getattr(options, "ocr_engine", "auto") in ("auto", ENGINE_NAME)


@hookimpl
def initialize(plugin_manager: pluggy.PluginManager) -> None:
    """Tesseract's plugin stays, but its start-up check (is the ``tesseract`` program installed?) runs only when
    Tesseract is the chosen engine: OCRmyPDF runs it whatever the engine, and the gateway's machines need not have
    Tesseract. The plugin is registered again as a copy of its hooks with that one made conditional."""
    tesseract = plugin_manager.get_plugin(TESSERACT_PLUGIN)
    if tesseract is None:
        return
    copy = types.ModuleType(TESSERACT_PLUGIN)
    for name in dir(tesseract):
        if hasattr(hook := getattr(tesseract, name), "ocrmypdf_impl"):
            setattr(copy, name, hook)
    check_tesseract = tesseract.check_options

    @hookimpl
    def check_options(options: OcrOptions) -> None:
        if getattr(options, "ocr_engine", "auto") == "tesseract":
            check_tesseract(options)

    copy.check_options = check_options  # type: ignore[attr-defined]
    plugin_manager.unregister(tesseract)
    plugin_manager.register(copy, name=TESSERACT_PLUGIN)


@hookimpl
def add_options(parser: ArgumentParser) -> None:
    """``--ocr-engine ocr-gateway`` becomes a choice (argparse has no public way to extend one)."""
    for action in parser._actions:
        if action.dest == "ocr_engine" and action.choices is not None and ENGINE_NAME not in action.choices:
            action.choices = [*action.choices, ENGINE_NAME]


@hookimpl
def check_options(options: OcrOptions) -> None:
    """Fails the run at once, with one line, when the gateway is needed and cannot be reached."""
    if not _selected(options):
        return
    if options.pdf_renderer == "sandwich":
        raise BadArgsError("The OCR gateway needs OCRmyPDF's own text renderer: leave out --pdf-renderer sandwich.")
    if os.environ.get(LINES_FILE):
        return
    url = os.environ.get(GATEWAY_URL) or DEFAULT_URL
    try:
        httpx.get(f"{root_url(url)}/health", timeout=10)
    except httpx.TransportError as error:
        raise _unreachable(url, error) from None


@hookimpl(tryfirst=True)
def get_ocr_engine(options: OcrOptions | None) -> OcrEngine | None:
    """This engine for ``--ocr-engine auto`` (the default) and ``ocr-gateway``; others' engines otherwise."""
    return GatewayOcrEngine() if _selected(options) else None
