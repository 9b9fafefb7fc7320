"""Reading a page with RapidOCR: its PP-OCRv6 models (inside the ``rapidocr`` wheel, passed by path so the library
stays offline) on OpenVINO, and its pipeline run step by step so lines are turned upright more carefully than it
does itself (``recognise``): its orientation classifier sees every line squeezed into 192×48 pixels, so on a long
line it guesses, and a line it turns upside down reads as noise. ``bench/ocr_quality.py`` measures the difference.
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from rapidocr import RapidOCR

MAX_SIDE = 2000  # RapidOCR shrinks larger images to this side (its Global.max_side_len) before detecting
# Detection (DBNet, its cost in proportion to the pixels) sees at most this side; lines are still cut out of, and
# recognised on, the image at up to MAX_SIDE. 11-pt text at 300 dpi stays ~20 px tall for the detector, plenty
# (bench/README.md: CER on every bench.ocr_quality page as at 2000 px, for ~40% of the detection's CPU).
DET_SIDE = 1280
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
# One script per page: the recogniser's alphabet mixes Chinese and Latin, and on Latin noise (a formula's
# fragment, a smudge) it guesses a CJK glyph. A page whose CJK characters are at most this share of its letters is
# a Latin page: its lines holding CJK are read again with CJK masked out of the alphabet, and full-width forms
# (``，`` for ``,``) become their ASCII selves.
LATIN_PAGE_CJK_SHARE = 0.05


def models_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).parent / "models"


def load(*, threads: int = 1, det_side: int = DET_SIDE) -> Any:
    """RapidOCR on the wheel's own model files, run by OpenVINO with ``threads`` threads per model call, and
    detection at up to ``det_side``, warmed up (all three models load and run once).

    OpenVINO, not RapidOCR's default onnxruntime: on the same ONNX files it takes a fraction of the CPU
    (bench/README.md: ~1/7 for detection and ~1/4 for recognition in bf16, which it uses where the CPU has AMX or
    AVX-512 BF16; ~1/3.5 and ~2/3 in f32 elsewhere)."""
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


def recognise(ocr: RapidOCR, image: Image.Image) -> tuple[Any, dict[str, int]]:
    """RapidOCR's pipeline step by step, with lines turned upright by ``_orient``, doubtful lines read again
    turned over and, on a Latin page, lines holding CJK read again in Latin: its output, and how many lines were
    recognised (``first``), read again turned over (``again``) and in Latin (``latin``)."""
    from rapidocr.ch_ppocr_cls import TextClsOutput
    from rapidocr.main import RapidOCRError
    from rapidocr.utils.output import RapidOCROutput

    original = ocr.load_img(image)
    resized, record = ocr.preprocess_img(original)
    try:
        crops, detected = ocr.detect_and_crop(resized, record)
    except RapidOCRError:  # its way of saying the image holds no text
        return RapidOCROutput(), {"first": 0, "again": 0, "latin": 0}
    upright = _orient(ocr.text_cls, crops)
    recognised = ocr.recognize_txt(upright)
    again = read_doubtful_again(ocr, upright, recognised)
    latin = read_latin_again(ocr, upright, recognised)
    result = ocr.build_final_output(original, detected, TextClsOutput(), recognised, crops, record)
    return result, {"first": len(crops), "again": again, "latin": latin}


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


def read_doubtful_again(ocr: RapidOCR, upright: list[np.ndarray], recognised: Any) -> int:
    """Lines read below ``REREAD_BELOW`` recognised again turned over, the better reading kept (in
    ``recognised``, and its crop in ``upright``); returns how many were read again."""
    doubtful = [index for index, score in enumerate(recognised.scores) if score < REREAD_BELOW]
    if not doubtful:
        return 0
    second = ocr.recognize_txt([_turned_over(upright[index]) for index in doubtful])
    texts, scores = list(recognised.txts), list(recognised.scores)
    for index, text, score in zip(doubtful, second.txts or (), second.scores, strict=True):
        if score > scores[index]:
            texts[index], scores[index] = text, score
            upright[index] = _turned_over(upright[index])  # the way it reads: any later reading starts from it
    recognised.txts, recognised.scores = tuple(texts), tuple(scores)
    return len(doubtful)


def read_latin_again(ocr: RapidOCR, upright: list[np.ndarray], recognised: Any) -> int:
    """On a Latin page (``LATIN_PAGE_CJK_SHARE``), the lines holding CJK recognised again with CJK out of the
    alphabet, that reading kept, and full-width forms made ASCII (in ``recognised``); returns how many lines were
    read again."""
    texts = list(recognised.txts or ())
    letters = sum(1 for text in texts for char in text if char.isalpha())
    cjk = [index for index, text in enumerate(texts) if any(is_cjk(char) for char in text)]
    if sum(is_cjk(char) for text in texts for char in text) > LATIN_PAGE_CJK_SHARE * letters:
        return 0
    scores = list(recognised.scores)
    if cjk:
        recogniser: Any = ocr.text_rec  # loaded (``load`` checks): one reader per thread, so swapping is safe
        decoder = recogniser.postprocess_op
        recogniser.postprocess_op = _WithoutCjk(decoder)
        try:
            second = ocr.recognize_txt([upright[index] for index in cjk])
        finally:
            recogniser.postprocess_op = decoder
        for index, text, score in zip(cjk, second.txts or (), second.scores, strict=True):
            texts[index], scores[index] = text, score
    recognised.txts = tuple(_FULL_WIDTH.sub(lambda found: unicodedata.normalize("NFKC", found[0]), t) for t in texts)
    recognised.scores = tuple(scores)
    return len(cjk)


_FULL_WIDTH = re.compile("[\uff01-\uff5e]+")  # full-width ASCII, which NFKC maps to ASCII


def is_cjk(char: str) -> bool:
    """Han, kana, hangul, and CJK symbols and punctuation (``。``, ``、``)."""
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFE30 <= code <= 0xFE4F
        or code >= 0x20000
    )


class _WithoutCjk:
    """RapidOCR's CTC decoder with the CJK characters' columns zeroed: the best non-CJK character wins each step."""

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._cjk = np.array([index for index, char in enumerate(decoder.character) if char and is_cjk(char[0])])

    def __call__(self, preds: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        preds = preds.copy()
        preds[:, :, self._cjk] = 0.0  # the model's outputs are per-step probabilities
        return self._decoder(preds, *args, **kwargs)


def _turned_over(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[::-1, ::-1])
