"""Mistral's OCR request and response, as its API documents them and its SDK and Open WebUI send and read them.

Where we differ on purpose: any ``model`` name is taken (one model serves; Open WebUI always sends
``mistral-ocr-latest``) and the answer names ours; ``images`` is always empty (pictures are marked in the Markdown
but not cut out), so ``include_image_base64``, ``image_limit`` and ``image_min_size`` change nothing; the
annotation formats, which need a model that fills a JSON schema per picture and per document, are refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from gateway.protocol import ResponseModel, WireModel

MAX_PAGES_ASKED = 1000
_RANGE = re.compile(r"^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$")


class DocumentURLChunk(WireModel):
    type: Literal["document_url"]
    document_url: str = Field(min_length=1)
    document_name: str | None = Field(default=None, max_length=1000)


class ImageURLObject(WireModel):
    url: str = Field(min_length=1)
    detail: str | None = None


class ImageURLChunk(WireModel):
    type: Literal["image_url"]
    image_url: str | ImageURLObject

    @property
    def url(self) -> str:
        return self.image_url if isinstance(self.image_url, str) else self.image_url.url


class FileChunk(WireModel):
    type: Literal["file"]
    file_id: str = Field(min_length=1, max_length=64)


def _typed(value: Any) -> Any:
    """Mistral's SDK models give ``type`` a default; a document sent without it is told by its fields."""
    if isinstance(value, dict) and "type" not in value:
        for field, kind in (("document_url", "document_url"), ("image_url", "image_url"), ("file_id", "file")):
            if field in value:
                return {**value, "type": kind}
    return value


Document = Annotated[DocumentURLChunk | ImageURLChunk | FileChunk, Field(discriminator="type"), BeforeValidator(_typed)]


def _page_list(value: Any) -> Any:
    """``pages`` as a list of 0-based numbers: a list, one number, or text such as ``"0-2,5"`` (ranges inclusive)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, str):
        return value
    pages: list[int] = []
    for part in value.split(","):
        match = _RANGE.match(part)
        if match is None:
            raise ValueError("pages must be page numbers from 0, or ranges such as '0-2,5'")
        first, last = int(match[1]), int(match[2] or match[1])
        if last - first >= MAX_PAGES_ASKED or last < first:
            raise ValueError(f"the range {part.strip()} is empty or longer than {MAX_PAGES_ASKED} pages")
        pages.extend(range(first, last + 1))
    return pages


class MistralOcrRequest(WireModel):
    """``POST /v1/ocr``."""

    model: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, max_length=200)
    document: Document
    pages: Annotated[
        list[Annotated[int, Field(ge=0)]] | None, Field(max_length=MAX_PAGES_ASKED), BeforeValidator(_page_list)
    ] = None  # 0-based; None: every page
    include_image_base64: bool | None = None
    image_limit: int | None = None
    image_min_size: int | None = None
    bbox_annotation_format: dict[str, Any] | None = None
    document_annotation_format: dict[str, Any] | None = None

    @field_validator("bbox_annotation_format", "document_annotation_format")
    @classmethod
    def _no_annotations(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            raise ValueError("annotations are not supported by this server; leave it out")
        return value


class PageDimensions(ResponseModel):
    dpi: int
    height: int
    width: int


class MistralOcrPage(ResponseModel):
    index: int  # 0-based, in the whole document (also when ``pages`` chose some)
    markdown: str
    images: list[dict[str, Any]] = Field(default_factory=list)
    dimensions: PageDimensions | None


class UsageInfo(ResponseModel):
    pages_processed: int
    doc_size_bytes: int | None


class MistralOcrResponse(ResponseModel):
    pages: list[MistralOcrPage]
    model: str
    document_annotation: str | None = None
    usage_info: UsageInfo
    # Ours: what could not be read as the model's form, "Page N: …" (Mistral's clients ignore fields they lack).
    warnings: list[str] | None = None
