"""PaddleX serving's request and answers (``paddlex/inference/serving/schemas/``: ``ocr.py``, ``pp_structurev3.py``,
``paddleocr_vl.py``, ``infra/models.py``), as PaddleOCR's own clients send and read them.

Where we differ on purpose: a ``file`` sent without ``fileType`` is told by its bytes (PaddleX refuses one that is
not a URL); the pipelines' tuning options (``useDocUnwarping``, ``textDetThresh``, ``visualize``, …) are taken and
ignored, as one model reads every page; no images are returned (``ocrImage``, ``outputImages``, Markdown
``images`` stay empty); ``rec_scores`` are 1.0, as the engine gives no per-line confidence.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from gateway.protocol import ResponseModel, WireModel


class PaddleXRequest(WireModel):
    """``POST /paddlex/ocr`` and ``POST /paddlex/layout-parsing``."""

    file: str = Field(min_length=1)  # an http(s) URL, or the file's bytes in base64
    fileType: Literal[0, 1] | None = None  # 0: PDF, 1: image; None: the bytes decide


class ImageInfo(ResponseModel):
    type: Literal["image"] = "image"
    width: int
    height: int


class PdfPageInfo(ResponseModel):
    width: int
    height: int


class PdfInfo(ResponseModel):
    type: Literal["pdf"] = "pdf"
    numPages: int
    pages: list[PdfPageInfo]


class OcrResult(ResponseModel):
    # rec_texts, rec_scores, rec_polys, rec_boxes (x_min, y_min, x_max, y_max) in the page's pixels, as PP-OCR's
    prunedResult: dict[str, Any]
    ocrImage: str | None = None
    docPreprocessingImage: str | None = None
    inputImage: str | None = None


class OcrAnswer(ResponseModel):
    ocrResults: list[OcrResult]
    dataInfo: ImageInfo | PdfInfo


class MarkdownData(ResponseModel):
    text: str
    images: dict[str, str] = Field(default_factory=dict)  # required by paddleocr-mcp, even empty
    isStart: bool = True
    isEnd: bool = True


class LayoutParsingResult(ResponseModel):
    prunedResult: dict[str, Any]  # page_index, width, height
    markdown: MarkdownData
    outputImages: dict[str, str] | None = None
    inputImage: str | None = None


class LayoutParsingAnswer(ResponseModel):
    layoutParsingResults: list[LayoutParsingResult]
    dataInfo: ImageInfo | PdfInfo


class PaddleXOcrResponse(ResponseModel):
    """PaddleX's envelope around an OCR answer."""

    logId: str = Field(default_factory=lambda: str(uuid.uuid4()))
    errorCode: Literal[0] = 0
    errorMsg: Literal["Success"] = "Success"
    result: OcrAnswer


class PaddleXLayoutParsingResponse(ResponseModel):
    """PaddleX's envelope around a layout-parsing answer."""

    logId: str = Field(default_factory=lambda: str(uuid.uuid4()))
    errorCode: Literal[0] = 0
    errorMsg: Literal["Success"] = "Success"
    result: LayoutParsingAnswer


class PaddleXError(ResponseModel):
    """PaddleX's error: the envelope without ``result``, ``errorCode`` the HTTP status."""

    logId: str = Field(default_factory=lambda: str(uuid.uuid4()))
    errorCode: int
    errorMsg: str
