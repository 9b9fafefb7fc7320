"""``--engine rapidocr``: real text OCR on any CPU, offline — RapidOCR's PP-OCRv6 models on OpenVINO.

HunyuanOCR is one model that reads, translates and parses; PP-OCR only finds text lines and reads them. So this
engine answers the tasks that need nothing more — text extraction (lines in reading order; the ``document``
task too, as plain lines without Markdown structure) and spotting (boxes, in the format the chat service
parses) — and refuses every other task with a 400 that says how to get it: run HunyuanOCR.

The models ship inside the ``rapidocr`` wheel and are passed by path, so the library never reaches its
download code (it only downloads models its wheel lacks). Usage counts characters: the recogniser emits one
character per step, so a completion's tokens are its characters and a prompt's are its words' characters.

Lines are turned upright more carefully than RapidOCR's own pipeline does (``_recognise``): its orientation
classifier sees every line squeezed into 192×48 pixels, so on a long line it guesses, and a line it turns upside
down reads as noise. ``bench/ocr_quality.py`` measures the difference.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import queue
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
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
from prompts.catalog import PromptSet

if TYPE_CHECKING:
    from prometheus_client.registry import Collector
    from rapidocr import RapidOCR

logger = logging.getLogger(__name__)
MODEL_NAME = "rapidocr-ppocrv6-small"
PROMPT_SET = "1.5"  # answers in the newest HunyuanOCR prompt set's formats (spotting as JSON)
MAX_SIDE = 2000  # RapidOCR shrinks larger images to this side (its Global.max_side_len) before detecting
# Detection (DBNet, its cost in proportion to the pixels) sees at most this side; lines are still cut out of, and
# recognised on, the image at up to MAX_SIDE. 11-pt text at 300 dpi stays ~20 px tall for the detector, plenty
# (bench/README.md: CER on every bench.ocr_quality page as at 2000 px, for ~40% of the detection's CPU).
DET_SIDE = 1280
# Pages read at once, each by its own RapidOCR on single-threaded OpenVINO models: the gateway sends a PDF's
# pages together, and one thread per page spends less CPU than threads synchronising (and spin-waiting) over
# one page, most of all on a busy machine.
MAX_READERS = 4
# The model files inside the wheel, per RapidOCR stage; passing their paths keeps the library offline.
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
# The orientation classifier judges a line squeezed into 192×48 px. On 1186 lines of rendered pages (Latin and
# Chinese, 100–300 dpi, upright and upside down) its whole-line verdict on Latin lines was right on every line under
# 10:1, 93% at 10–20:1, 74% at 20–30:1 and 47% past 30:1, a coin toss; asked about pieces of at most 6:1 and
# averaged, it was right on all of them.
PIECE_RATIO = 6
# There a line read the right way up scored at least 0.965, one read upside down at most 0.944: a line scoring
# below this is read again turned over, and the better-scoring reading kept.
REREAD_BELOW = 0.95
READ_TASKS = frozenset({"text", "document"})
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


def models_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


@dataclass(frozen=True)
class TextLine:
    text: str
    box: tuple[int, int, int, int]  # x_min, y_min, x_max, y_max normalised to 0–1000 of the image read


@dataclass(frozen=True)
class PageText:
    text: str  # lines in reading order
    lines: list[TextLine]


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

    def __init__(self, prompt_set: PromptSet, *, library_pipeline: bool = False) -> None:
        """``library_pipeline``: RapidOCR's own one-call pipeline (whole-line orientation, no second reading),
        as this engine read before; only the quality benchmark asks for it, to compare."""
        self._prompt_set = prompt_set
        self._library_pipeline = library_pipeline
        self._ocr: Any = None  # the first reader: healthy once it is loaded
        self._readers, self._ort_threads = _threads()
        # Loaded readers not reading a page now, the last used on top (its memory still warm): one page at a time
        # is always read by the first.
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        # What the careful orientation costs: lines recognised once, and those recognised a second time.
        self._readings = Counter(
            "ocr_gateway_rapidocr_line_readings",
            "Text lines the rapidocr engine recognised (pass=first) and read again turned over (pass=again)",
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
            parses_layout=False,
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # The library's pipeline as this engine ran it before: detection at up to MAX_SIDE too.
        det_side = MAX_SIDE if self._library_pipeline else DET_SIDE
        load = partial(_load, threads=self._ort_threads, det_side=det_side)
        readers = [await loop.run_in_executor(self._pool, load) for _ in range(self._readers)]
        for reader in reversed(readers):
            self._idle.put(reader)
        self._ocr = readers[0]

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
            pages = await asyncio.get_running_loop().run_in_executor(self._pool, self._read, request.images)
        except Exception as error:  # RapidOCR's and OpenVINO's own errors, translated here only
            logger.exception("rapidocr failed on request %s", request.request_id)
            raise EngineFailed("The OCR engine failed on this request.") from error
        finally:
            self._in_flight -= 1
        answer = _spotting_answer(pages, spotting_format) if spotting_format else "\n\n".join(p.text for p in pages)
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

    def _read(self, images: list[Image.Image]) -> list[PageText]:
        # As many readers as pool threads: one is always idle for the thread that runs this.
        ocr = self._idle.get_nowait()
        try:
            pages = []
            for image in images:
                if self._library_pipeline:
                    result = ocr(image)
                else:
                    result, lines, again = _recognise(ocr, image)
                    self._readings.labels("first").inc(lines)
                    self._readings.labels("again").inc(again)
                pages.append(_page(result, image.size))
            return pages
        finally:
            self._idle.put(ocr)


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


def _load(*, threads: int = 1, det_side: int = DET_SIDE) -> Any:
    """RapidOCR on the wheel's own model files, run by OpenVINO with ``threads`` threads per model call, and
    detection at up to ``det_side``, warmed up (all three models load and run once).

    OpenVINO, not RapidOCR's default onnxruntime: on the same ONNX files it takes ~1/6 of the CPU for detection
    and ~1/2 for recognition on a CPU thread (bench/README.md), reading the same text."""
    from rapidocr import EngineType, RapidOCR

    folder = models_dir()
    # Detection at the image's own resolution up to det_side: RapidOCR's default upscales small images
    # to a 736-px short side, which costs ~6× the CPU on screenshots and snippets for the same text.
    params: dict[str, Any] = {
        "Global.log_level": "warning",
        "Det.limit_type": "max",
        "Det.limit_side_len": det_side,
        "EngineConfig.openvino.inference_num_threads": threads,
        "EngineConfig.openvino.num_streams": 1,
    }
    for stage, name in MODEL_FILES.items():
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: reinstall the rapidocr package.")
        params[f"{stage}.model_path"] = str(path)
        params[f"{stage}.engine_type"] = EngineType.OPENVINO
    ocr = RapidOCR(params=params)
    ocr(_warm_up_image())
    if ocr.text_cls is None or ocr.text_rec is None:
        raise RuntimeError("RapidOCR's warm-up did not load its classifier and recogniser.")
    return ocr


def _warm_up_image() -> Image.Image:
    image = Image.new("RGB", (320, 64), "white")
    ImageDraw.Draw(image).text((12, 12), "Warm up 0123", fill="black", font=ImageFont.load_default(32))
    return image


def _recognise(ocr: RapidOCR, image: Image.Image) -> tuple[Any, int, int]:
    """RapidOCR's pipeline step by step, with lines turned upright by ``_orient`` and doubtful lines read again
    turned over: its output, how many lines were recognised, and how many of them a second time."""
    from rapidocr.ch_ppocr_cls import TextClsOutput
    from rapidocr.main import RapidOCRError
    from rapidocr.utils.output import RapidOCROutput

    original = ocr.load_img(image)
    resized, record = ocr.preprocess_img(original)
    try:
        crops, detected = ocr.detect_and_crop(resized, record)
    except RapidOCRError:  # its way of saying the image holds no text
        return RapidOCROutput(), 0, 0
    upright = _orient(ocr.text_cls, crops)
    recognised = ocr.recognize_txt(upright)
    again = _read_doubtful_again(ocr, upright, recognised)
    result = ocr.build_final_output(original, detected, TextClsOutput(), recognised, crops, record)
    return result, len(crops), again


def _orient(classifier: Any, crops: list[np.ndarray]) -> list[np.ndarray]:
    """Each line crop turned over when the classifier, asked about each piece of it, says it is upside down (the
    mean of the pieces' 180° probabilities past the classifier's own threshold)."""
    pieces = [_pieces(crop) for crop in crops]
    verdicts = classifier([piece for line in pieces for piece in line]).cls_res
    upright, start = [], 0
    for crop, line in zip(crops, pieces, strict=True):
        votes = verdicts[start : start + len(line)]
        start += len(line)
        turned = np.mean([score if label == "180" else 1 - score for label, score in votes])
        upright.append(_turned_over(crop) if turned > classifier.cls_thresh else crop)
    return upright


def _pieces(crop: np.ndarray) -> list[np.ndarray]:
    """The crop cut along its length into equal pieces of at most ``PIECE_RATIO``:1."""
    height, width = crop.shape[:2]
    count = max(1, math.ceil(width / max(height, 1) / PIECE_RATIO))
    edges = np.linspace(0, width, count + 1).astype(int)
    return [crop[:, left:right] for left, right in zip(edges[:-1], edges[1:], strict=True)]


def _read_doubtful_again(ocr: RapidOCR, upright: list[np.ndarray], recognised: Any) -> int:
    """Lines read below ``REREAD_BELOW`` recognised again turned over, the better reading kept (in
    ``recognised``); returns how many were read again."""
    doubtful = [index for index, score in enumerate(recognised.scores) if score < REREAD_BELOW]
    if not doubtful:
        return 0
    second = ocr.recognize_txt([_turned_over(upright[index]) for index in doubtful])
    texts, scores = list(recognised.txts), list(recognised.scores)
    for index, text, score in zip(doubtful, second.txts or (), second.scores, strict=True):
        if score > scores[index]:
            texts[index], scores[index] = text, score
    recognised.txts, recognised.scores = tuple(texts), tuple(scores)
    return len(doubtful)


def _turned_over(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[::-1, ::-1])


def _page(result: Any, size: tuple[int, int]) -> PageText:
    if result.boxes is None or not result.txts:
        return PageText("", [])
    width, height = size
    lines = []
    for box, text in zip(result.boxes, result.txts, strict=True):
        points = np.asarray(box, dtype=float)
        (x_min, y_min), (x_max, y_max) = points.min(axis=0), points.max(axis=0)
        normalised = (
            _per_mille(x_min, width),
            _per_mille(y_min, height),
            _per_mille(x_max, width),
            _per_mille(y_max, height),
        )
        lines.append(TextLine(str(text), normalised))
    # RapidOCR's own layout: boxes on one visual line joined, blank lines between paragraphs.
    return PageText(result.to_markdown(), lines)


def _per_mille(value: float, side: int) -> int:
    return min(max(round(value * 1000 / side), 0), 1000)


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
