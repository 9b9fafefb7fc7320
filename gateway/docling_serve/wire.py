"""docling-serve's v1 convert API on the wire: the requests it takes and the answers it gives.

Written after docling-serve's own models (``docling.datamodel.service``: ``ConvertDocumentsOptions``,
``ConvertSourcesRequest``, ``ConvertDocumentResponse``, ``TaskStatusResponse``; for chunking ``*ChunkerOptions``,
``GenericChunkDocumentsRequest``, ``ChunkDocumentResponse``), holding the fields this gateway acts on; every other
option docling-serve knows is accepted and kept in ``model_extra``, and the ones asking for something HunyuanOCR
does not do are named in the answer's ``errors`` (``service.ignored_options``).
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


# --- chunking (docling.datamodel.service.chunking, .requests, .responses) -------------------------------------

HYBRID_TOKENIZER = "sentence-transformers/all-MiniLM-L6-v2"  # docling-serve's default for the hybrid chunker


class ChunkerOptions(WireModel):
    """``BaseChunkerOptions``: how chunks are written (tables as triplets or Markdown, pictures as a placeholder)."""

    use_markdown_tables: bool = False
    use_markdown_images: bool = False
    image_placeholder: str = "![IMAGE]"
    include_raw_text: bool = False


class HierarchicalChunkerOptions(ChunkerOptions):
    chunker: Literal["hierarchical"] = "hierarchical"


class HybridChunkerOptions(ChunkerOptions):
    chunker: Literal["hybrid"] = "hybrid"
    max_tokens: int | None = Field(default=None, gt=0)
    tokenizer: str = HYBRID_TOKENIZER
    merge_peers: bool = True


ChunkingOptions = Annotated[HierarchicalChunkerOptions | HybridChunkerOptions, Field(discriminator="chunker")]


class ChunkJob(BaseModel):
    """What a chunk request asks beyond a conversion: the chunker, and whether the converted document comes too."""

    chunking_options: ChunkingOptions
    include_converted_doc: bool = False


class ChunkSourcesRequest(WireModel):
    """``POST /v1/chunk/{chunker}/source``: docling-serve's ``GenericChunkDocumentsRequest``."""

    convert_options: ConvertOptions = Field(default_factory=ConvertOptions)
    sources: list[SourceRequest] = Field(min_length=1)
    include_converted_doc: bool = False
    target: Target = Field(default_factory=Target)

    def all_sources(self) -> list[FileSource | HttpSource]:
        return list(self.sources)


class HierarchicalChunkRequest(ChunkSourcesRequest):
    chunking_options: HierarchicalChunkerOptions = Field(default_factory=HierarchicalChunkerOptions)


class HybridChunkRequest(ChunkSourcesRequest):
    chunking_options: HybridChunkerOptions = Field(default_factory=HybridChunkerOptions)


CHUNK_REQUESTS: dict[str, type[HierarchicalChunkRequest] | type[HybridChunkRequest]] = {
    "hierarchical": HierarchicalChunkRequest,
    "hybrid": HybridChunkRequest,
}
CHUNKER_OPTIONS: dict[str, type[HierarchicalChunkerOptions] | type[HybridChunkerOptions]] = {
    "hierarchical": HierarchicalChunkerOptions,
    "hybrid": HybridChunkerOptions,
}


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


class ChunkItem(BaseModel):
    """``ChunkedDocumentResultItem``: one chunk, its text with the headings above it (``text``), and where it is."""

    filename: str
    chunk_index: int
    text: str
    raw_text: str | None = None
    num_tokens: int | None = None
    headings: list[str] | None = None
    captions: list[str] | None = None
    doc_items: list[str]
    page_numbers: list[int] | None = None
    metadata: dict[str, Any] | None = None


class ExportResult(BaseModel):
    """``ExportResult`` (``DocumentResultItem``) as docling-serve writes it: the document under ``content``."""

    kind: Literal["ExportResult"] = "ExportResult"
    content: ExportDocumentResponse
    status: ConversionStatus
    errors: list[ErrorItem] = Field(default_factory=list)
    timings: dict[str, Any] = Field(default_factory=dict)


class ChunkDocumentResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunks: list[ChunkItem]
    documents: list[ExportResult]
    processing_time: float


class TaskProcessingMeta(BaseModel):
    num_docs: int
    num_processed: int = 0
    num_succeeded: int = 0
    num_partially_succeeded: int = 0
    num_failed: int = 0


TaskType = Literal["convert", "chunk"]


class TaskStatusResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    task_type: TaskType = "convert"
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
