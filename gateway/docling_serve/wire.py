"""docling-serve's v1 convert API on the wire: the requests it takes and the answers it gives.

Written after docling-serve's own models (``docling.datamodel.service``: ``ConvertDocumentsOptions``,
``ConvertSourcesRequest``, ``ConvertDocumentResponse``, ``TaskStatusResponse``), holding the fields this gateway
acts on; every other option docling-serve knows is accepted and kept in ``model_extra``, and the ones asking for
something HunyuanOCR does not do are named in the answer's ``errors`` (``service.ignored_options``).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.protocol import TokenLimit, WireModel

# docling's OutputFormat: all of them are accepted, the first five are made (the others are named in ``errors``).
OUTPUT_FORMATS = (
    "md",
    "json",
    "html",
    "text",
    "doctags",
    "yaml",
    "html_split_page",
    "vtt",
    "doclang",
    "dclx",
    "chunks",
)
MADE_FORMATS = ("md", "json", "html", "text", "doctags")
OutputFormat = Literal[
    "md", "json", "html", "text", "doctags", "yaml", "html_split_page", "vtt", "doclang", "dclx", "chunks"
]
# docling's InputFormat; this gateway reads the two that are scans.
INPUT_FORMATS = (
    "docx", "doc", "pptx", "ppt", "html", "image", "pdf", "asciidoc", "md", "csv", "xlsx", "xls", "odt", "ods", "odp",
    "xml_uspto", "xml_jats", "xml_xbrl", "xml_doclang", "dclx", "mets_gbs", "json_docling", "audio", "video", "vtt",
    "latex", "email", "epub", "boxnote", "iwork_pages", "ebcdic",
)  # fmt: skip
ConversionStatus = Literal["pending", "started", "failure", "success", "partial_success", "skipped"]
ALL_PAGES = (1, sys.maxsize)


def _listed(value: Any) -> Any:
    """A list option as docling-serve takes it from a form: repeated fields, a JSON array, or "a,b" / "a;b"."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    items: list[Any] = []
    for item in value:
        if not isinstance(item, str):
            items.append(item)
            continue
        text = item.strip()
        if text.startswith("["):
            try:
                items.extend(json.loads(text))
                continue
            except json.JSONDecodeError:
                pass
        items.extend(part.strip() for part in re.split(r"[;,]", text) if part.strip())
    return items


class ConvertOptions(WireModel):
    """``ConvertDocumentsOptions``: the fields this gateway acts on; the rest land in ``model_extra``."""

    from_formats: list[str] = Field(default_factory=lambda: list(INPUT_FORMATS))
    to_formats: list[OutputFormat] = Field(default_factory=lambda: list[OutputFormat](["md"]))
    image_export_mode: Literal["placeholder", "embedded", "referenced"] = "placeholder"
    do_ocr: bool = True
    force_ocr: bool = False
    page_range: tuple[int, int] = ALL_PAGES
    md_page_break_placeholder: str = ""
    abort_on_error: bool = False
    document_timeout: float | None = Field(default=None, gt=0)
    return_as_file: bool = False  # docling-serve before targets: answer a zip
    # Ours, not docling's: place every item on its page (a spotting call per page on HunyuanOCR 1.0). By default
    # a JSON or DocTags answer asks for boxes, Markdown, HTML and text do not. Open WebUI passes DOCLING_PARAMS
    # through as form fields, so {"boxes": false} there keeps its Markdown + JSON request at one call per page.
    boxes: bool | None = None
    max_tokens: TokenLimit | None = None  # ours too: the longest answer per page (as /ocr's)

    _lists = field_validator("from_formats", "to_formats", mode="before")(_listed)

    @field_validator("page_range", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        return _listed(value)

    @field_validator("from_formats")
    @classmethod
    def _known_inputs(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(INPUT_FORMATS))
        if unknown:
            raise ValueError(f"unknown input format {unknown[0]!r}; docling's are {', '.join(INPUT_FORMATS)}")
        return value

    @field_validator("page_range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError("page_range is (first, last), pages counted from 1")
        return value


class FileSource(BaseModel):
    base64_string: str
    filename: str


class HttpSource(BaseModel):
    url: str
    headers: dict[str, Any] = Field(default_factory=dict)


class FileSourceRequest(FileSource):
    kind: Literal["file"] = "file"


class HttpSourceRequest(HttpSource):
    kind: Literal["http"] = "http"


# docling-serve's 422 for a presigned_url target on a server without artifact storage, word for word: docling's
# service client asks for that target first and falls back to an in-body answer only on these words.
PRESIGNED_REFUSAL = "Presigned URL target requires artifact storage to be configured and enabled on the server."


class Target(BaseModel):
    """Where the result goes: in the response body, or a zip of files. (docling-serve's other targets — S3,
    presigned URLs, PUT — push results elsewhere; this gateway keeps them: ``PRESIGNED_REFUSAL``.)"""

    kind: Literal["inbody", "zip"] = "inbody"


SourceRequest = Annotated[FileSourceRequest | HttpSourceRequest, Field(discriminator="kind")]


class ConvertSourcesRequest(WireModel):
    """``POST /v1/convert/source``: ``sources``, or the older ``file_sources`` / ``http_sources``."""

    options: ConvertOptions = Field(default_factory=ConvertOptions)
    sources: list[SourceRequest] = Field(default_factory=list)
    file_sources: list[FileSource] = Field(default_factory=list)
    http_sources: list[HttpSource] = Field(default_factory=list)
    target: Target = Field(default_factory=Target)

    @model_validator(mode="after")
    def _some_source(self) -> ConvertSourcesRequest:
        if not (self.sources or self.file_sources or self.http_sources):
            raise ValueError("send at least one source (sources, file_sources or http_sources)")
        return self

    def all_sources(self) -> list[FileSource | HttpSource]:
        return [*self.sources, *self.file_sources, *self.http_sources]


class ErrorItem(BaseModel):
    component_type: Literal["document_backend", "model", "doc_assembler", "user_input", "pipeline"]
    module_name: str
    error_message: str
    category: str = "unknown"
    page_no: int | None = None


class ExportDocumentResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str
    md_content: str | None = None
    json_content: dict[str, Any] | None = None  # a DoclingDocument
    html_content: str | None = None
    text_content: str | None = None
    doctags_content: str | None = None


class ConvertDocumentResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: ExportDocumentResponse
    status: ConversionStatus
    errors: list[ErrorItem] = Field(default_factory=list)
    processing_time: float
    timings: dict[str, Any] = Field(default_factory=dict)


class TaskProcessingMeta(BaseModel):
    num_docs: int
    num_processed: int = 0
    num_succeeded: int = 0
    num_partially_succeeded: int = 0
    num_failed: int = 0


class TaskStatusResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    task_type: Literal["convert"] = "convert"
    task_status: ConversionStatus
    task_position: int | None = None
    task_meta: TaskProcessingMeta | None = None
    error_message: str | None = None


class WebsocketMessage(BaseModel):
    """One message of docling-serve's ``WS /v1/status/ws/{task_id}``: the task as it stands, or why it cannot be
    watched (``error``: "Task not found.", the words docling's client looks for)."""

    message: Literal["connection", "update", "error"]
    task: TaskStatusResponse | None = None
    error: str | None = None


class DetailError(BaseModel):
    """docling-serve's (FastAPI's) error body."""

    detail: Any
