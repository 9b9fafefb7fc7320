"""``--engine rapidocr``: real text OCR on any CPU, offline — RapidOCR's PP-OCRv6 models on OpenVINO.

HunyuanOCR is one model that reads, translates and parses; PP-OCR only finds text lines and reads them. So this
engine answers the tasks a layout and a table model beside it make possible — text extraction (lines in reading
order, region by region), the ``document`` task (Markdown as HunyuanOCR writes it: headings, tables, figures,
furniture left out; ``layout_reading``) and spotting (boxes, in the format the chat service parses) — and refuses
every other task with a 400 that says how to get it: run HunyuanOCR.

The models ship inside the ``rapidocr`` wheel and are passed by path, so the library never reaches its
download code (it only downloads models its wheel lacks). Usage counts characters: the recogniser emits one
character per step, so a completion's tokens are its characters and a prompt's are its words' characters.

How a page is read (the models, OpenVINO, lines turned upright with care) is ``rapidocr_reading``'s concern.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from prometheus_client import Counter

from adapters.cpu import usable_cores
from adapters.engine import (
    ChoiceDelta,
    EngineInfo,
    EngineOutput,
    EnginePrompt,
    EngineRequest,
    EngineStats,
    SamplingOptions,
    Turn,
)
from adapters.errors import EngineDown, EngineFailed, RequestRejected
from adapters.images import ImageBudget
from adapters.layout_reading import document_markdown, page_parts, per_mille, plain_text
from adapters.rapidocr_layout import Region, find_regions, load_layout
from adapters.rapidocr_reading import DET_SIDE, MAX_SIDE, load, models_dir, recognise
from adapters.rapidocr_tables import TableReader, load_tables
from adapters.reading_order import Box
from prompts.catalog import PromptSet

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)
MODEL_NAME = "rapidocr-ppocrv6-small"
PROMPT_SET = "1.5"  # answers in the newest HunyuanOCR prompt set's formats (spotting as JSON)
# Pages read at once, each by its own RapidOCR on single-threaded OpenVINO models: the gateway sends a PDF's
# pages together, and one thread per page spends less CPU than threads synchronising (and spin-waiting) over
# one page, most of all on a busy machine.
MAX_READERS = 4
READ_TASKS = frozenset({"text", "document"})
RECENT_PAGES = 16  # readings kept for a page's second task
SPOTTING_FORMATS = frozenset({"spotting", "spotting_json"})  # catalog outputs: HunyuanOCR 1.0's runs, 1.5's JSON
# What a refused task would need, for the 400's message.
CAPABILITIES = {
    None: "answering instructions or questions about an image",
    "translate": "image translation",
    "table": "table parsing",
    "formula": "formula recognition (LaTeX)",
    "chart": "chart parsing",
    "field": "field extraction",
    "fields": "field extraction to JSON",
    "subtitles": "subtitle extraction",
    "layout": "layout analysis",
    "layout_parse": "layout analysis",
}
HOW_TO_GET_HUNYUANOCR = (
    "Run the gateway with HunyuanOCR's weights: `ocr-gateway serve --engine vllm --model PATH_TO_HunyuanOCR` "
    "(--engine auto picks it by itself when the weights are found)."
)


@dataclass(frozen=True)
class TextLine:
    text: str
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max normalised to 0–1000 of the image read


@dataclass(frozen=True)
class PageText:
    text: str  # every line in reading order (region by region, columns whole)
    lines: list[TextLine]  # in reading order too
    body: str = ""  # the document task's answer: Markdown by region, headers and footers left out


@dataclass(frozen=True)
class _Reader:
    """What reads one page at a time: the text, layout and table models, each with its own inference session."""

    ocr: Any
    layout: Any
    tables: TableReader | None  # None where rapid_table is not installed: tables read as rows of text


class RapidOCRPromptBuilder:
    """The prompt builder for rapidocr: no chat template (the prompt is the conversation's words), its own
    image budget, and the prompt set it answers in."""

    def __init__(self, prompt_set: str = PROMPT_SET, model_type: str = "rapidocr") -> None:
        self.model_config: dict[str, Any] = {"model_type": model_type, "prompt_set": prompt_set}
        self.stop_token_ids: list[int] = []

    def image_budget(self) -> ImageBudget:
        """Images as sent up to RapidOCR's own limit: no rounding to patch sizes, no upscaling."""
        return ImageBudget(min_pixels=1, max_pixels=MAX_SIDE * MAX_SIDE, factor=1, max_side=MAX_SIDE)

    def build(self, turns: list[Turn]) -> EnginePrompt:
        images = [part for turn in turns for part in turn.parts if isinstance(part, Image.Image)]
        words = "\n".join(part for turn in turns for part in turn.parts if isinstance(part, str) and part)
        return EnginePrompt(text=words, images=images, turns=turns)


class RapidOCREngine:
    """PP-OCR detection, orientation and recognition in worker threads, off the event loop: one page per thread,
    each thread with its own RapidOCR (``_threads``)."""

    # A dead engine stays dead: the server exits and its supervisor starts a fresh one.
    self_healing = False

    def __init__(self, prompt_set: PromptSet, *, library_pipeline: bool = False, layout: bool = True) -> None:
        """``library_pipeline``: RapidOCR's own one-call pipeline (whole-line orientation, no second reading),
        as this engine read before; ``layout`` False: pages read by their lines alone (no regions, no tables), as
        it read before its layout model. Only benchmarks ask for either, to compare."""
        self._prompt_set = prompt_set
        self._library_pipeline = library_pipeline
        self._layout = layout
        self._ocr: Any = None  # the first reader: healthy once it is loaded
        self._readers, self._threads_per_reader = _threads()
        # Loaded readers not reading a page now, the last used on top (its memory still warm): one page at a time
        # is always read by the first.
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        # What the careful orientation costs: lines recognised once, and those recognised a second time.
        self._readings = Counter(
            "ocr_gateway_rapidocr_line_readings",
            "Text lines the rapidocr engine recognised (pass=first), read again turned over (pass=again) and read "
            "again without CJK on a Latin page (pass=latin)",
            ["pass"],
            registry=None,
        )
        self._pool = ThreadPoolExecutor(max_workers=self._readers, thread_name_prefix="rapidocr")
        self._in_flight = 0
        self._info = EngineInfo(
            model_path=str(models_dir()),
            max_model_len=0,
            engine="rapidocr",
            model_name=MODEL_NAME,
            constrained_decoding=False,
            # Its document answer is the page's text block by block in reading order, furniture left out (as
            # HunyuanOCR's document prompt asks): documents get paragraphs, and headers and footers apart.
            parses_layout=True,
        )
        # A document page is read for two tasks (its text and its boxes): the second is answered from the first
        # reading of the same pixels. The same task asked again reads anew (benchmarks repeat pages on purpose).
        self._recent: OrderedDict[bytes, tuple[Future[PageText], set[str]]] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The library's pipeline as this engine ran it before: detection at up to MAX_SIDE too.
        det_side = MAX_SIDE if self._library_pipeline else DET_SIDE
        load_reader = partial(_load_reader, threads=self._threads_per_reader, det_side=det_side)
        readers = [await loop.run_in_executor(self._pool, load_reader) for _ in range(self._readers)]
        for reader in reversed(readers):
            self._idle.put(reader)
        self._ocr = readers[0].ocr

    async def shutdown(self) -> None:
        self._ocr = None
        self._pool.shutdown(wait=False, cancel_futures=True)

    def is_healthy(self) -> bool:
        return self._ocr is not None

    def num_unfinished_requests(self) -> int:
        return self._in_flight

    def stats(self) -> EngineStats:
        running = min(self._in_flight, self._readers)
        return EngineStats(running=running, waiting=self._in_flight - running)

    def metric_collectors(self) -> list[Collector]:
        return [self._readings]

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        """The text or the boxes of every image, one line per step; other tasks are a 400."""
        spotting_format = self._answer_format(request)
        if self._ocr is None:
            raise EngineDown("The engine is not running.")
        self._in_flight += 1
        try:
            # A client that leaves cancels this wait: images still queued are dropped, one being read finishes.
            read = partial(self._read, request.images, request.task or "")
            pages = await asyncio.get_running_loop().run_in_executor(self._pool, read)
        except Exception as error:  # RapidOCR's and OpenVINO's own errors, translated here only
            logger.exception("rapidocr failed on request %s", request.request_id)
            raise EngineFailed("The OCR engine failed on this request.") from error
        finally:
            self._in_flight -= 1
        if spotting_format:
            answer = _spotting_answer(pages, spotting_format)
        else:  # the document task leaves headers and footers out, as HunyuanOCR's prompt for it asks
            answer = "\n\n".join(page.body if request.task == "document" else page.text for page in pages)
        text, finish_reason = _limited(answer, request.sampling)
        pieces = (text.splitlines(keepends=True) if request.stream else [text]) or [""]
        for step, piece in enumerate(pieces):
            last = step == len(pieces) - 1
            yield EngineOutput(
                prompt_tokens=len(request.prompt),
                choices=[
                    ChoiceDelta(index, piece, len(piece), finish_reason if last else None)
                    for index in range(request.sampling.n)
                ],
            )

    def _answer_format(self, request: EngineRequest) -> str | None:
        """``None`` for text, else the spotting format; raises the 400 for what PP-OCR cannot do."""
        if not request.images:
            raise RequestRejected("The rapidocr engine reads text in images, and this request has no image.")
        if request.sampling.logprobs is not None:
            raise RequestRejected("The rapidocr engine has no token log probabilities.", param="logprobs")
        spotting = self._prompt_set.tasks.get(request.task or "", {}).get("output")
        if request.task not in READ_TASKS and spotting not in SPOTTING_FORMATS:
            raise _unsupported(CAPABILITIES.get(request.task, f"the {request.task!r} task"))
        if request.sampling.json_schema is not None:
            raise _unsupported("JSON output", param="response_format")
        return None if request.task in READ_TASKS else spotting

    def _read(self, images: list[Image.Image], task: str) -> list[PageText]:
        return [self._reading_of(image, task) for image in images]

    def _reading_of(self, image: Image.Image, task: str) -> PageText:
        """The page's reading for ``task``: taken from one of the last ``RECENT_PAGES`` readings (or one under way
        in another thread) of these very pixels for another task, else read now."""
        key = _fingerprint(image)
        with self._recent_lock:
            known = self._recent.get(key)
            mine = known is None or task in known[1]
            if mine:
                reading: Future[PageText] = Future()
                self._recent[key] = (reading, {task})
                while len(self._recent) > RECENT_PAGES:
                    self._recent.popitem(last=False)
            else:
                assert known is not None
                reading = known[0]
                known[1].add(task)
                self._recent.move_to_end(key)
        if not mine:
            return reading.result()
        try:
            page = self._read_page(image)
        except BaseException as error:
            with self._recent_lock:
                if self._recent.get(key, (None,))[0] is reading:
                    del self._recent[key]
            reading.set_exception(error)
            raise
        reading.set_result(page)
        return page

    def _read_page(self, image: Image.Image) -> PageText:
        # As many readers as pool threads, and a thread holds one only while it reads: one is always idle here.
        reader = self._idle.get_nowait()
        try:
            if self._library_pipeline:
                result = reader.ocr(image)
            else:
                result, readings = recognise(reader.ocr, image)
                for reading, count in readings.items():
                    self._readings.labels(reading).inc(count)
            regions = find_regions(reader.layout, image) if result.txts and self._layout else []
            return _page(result, regions, image, reader.tables if self._layout else None)
        finally:
            self._idle.put(reader)


def _load_reader(*, threads: int, det_side: int) -> _Reader:
    ocr = load(threads=threads, det_side=det_side)
    return _Reader(ocr, load_layout(threads=threads), load_tables(threads=threads))


def _fingerprint(image: Image.Image) -> bytes:
    """The image's identity by content: two requests that decoded the same page get the same fingerprint."""
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(f"{image.mode}{image.size}".encode())
    return digest.digest()


def _unsupported(capability: str, param: str | None = None) -> RequestRejected:
    return RequestRejected(
        f"This gateway serves rapidocr (PP-OCR text detection and recognition), which does text extraction and "
        f"text spotting only; {capability} needs the HunyuanOCR model. {HOW_TO_GET_HUNYUANOCR}",
        param=param,
        code="unsupported_task",
    )


def _threads() -> tuple[int, int]:
    """(readers, OpenVINO threads per reader): a reader per usable core, up to ``MAX_READERS``, sharing the
    cores between them."""
    cores = usable_cores()
    readers = max(1, min(cores, MAX_READERS))
    return readers, max(1, cores // readers)


def _page(result: Any, regions: list[Region], image: Image.Image, tables: TableReader | None) -> PageText:
    """The page read region by region (``layout_reading``), its tables into cells where ``tables`` reads them."""
    if result.boxes is None or not result.txts:
        return PageText("", [])
    texts = [str(text) for text in result.txts]
    scores = [float(score) for score in result.scores]
    boxes = []
    for box in result.boxes:
        points = np.asarray(box, dtype=float)
        (x_min, y_min), (x_max, y_max) = points.min(axis=0), points.max(axis=0)
        boxes.append((float(x_min), float(y_min), float(x_max), float(y_max)))

    def read_table(box: Box, lines: list[int]) -> str | None:
        assert tables is not None
        return tables(image, box, [(boxes[line], texts[line], scores[line]) for line in lines])

    parts = page_parts(boxes, regions, image.height)
    lines = [TextLine(texts[index], per_mille(boxes[index], image.size)) for part in parts for index in part.lines]
    body = document_markdown(parts, texts, boxes, image.size, read_table if tables else None)
    return PageText(plain_text(parts, texts, boxes), lines, body)


def _spotting_answer(pages: list[PageText], output: str) -> str:
    """Boxes as HunyuanOCR writes them: 1.0's ``text(x1,y1),(x2,y2)`` runs or 1.5's JSON array (0–1000)."""
    lines = [line for page in pages for line in page.lines]
    if output == "spotting_json":
        return json.dumps([{"box": list(line.box), "text": line.text} for line in lines], ensure_ascii=False)
    return "\n".join(f"{line.text}({line.box[0]},{line.box[1]}),({line.box[2]},{line.box[3]})" for line in lines)


def _limited(text: str, sampling: SamplingOptions) -> tuple[str, str]:
    """The answer cut at the first stop string or at ``max_tokens`` characters, and why it ended."""
    cut = min((found for stop in sampling.stop if (found := text.find(stop)) >= 0), default=len(text))
    text = text[:cut]
    if sampling.max_tokens is not None and len(text) > sampling.max_tokens:
        return text[: sampling.max_tokens], "length"
    return text, "stop"
