"""docling-serve's chunking: sources converted as ``/v1/convert`` converts them, each DoclingDocument cut into RAG
chunks by docling-core's ``HierarchicalChunker`` and answered as ``ChunkDocumentResponse`` (or, for a zip target,
``chunked_result.json`` in a zip), as docling-jobkit's ``DocumentChunkerManager`` writes them: ``text`` is the
chunk with the headings above it, ``raw_text`` (when asked) the chunk alone, ``doc_items`` the items' references.

The ``HybridChunker`` is refused (``HYBRID_REFUSAL``): it counts tokens with a Hugging Face tokenizer it downloads
from the hub (``sentence-transformers/all-MiniLM-L6-v2`` unless named), and docling-core's other tokenizer, tiktoken,
downloads its tables too; this server downloads neither.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile
from dataclasses import dataclass
from typing import Any, Literal

from docling_core.types.doc import DoclingDocument

from gateway.docling_serve import wire
from gateway.docling_serve.service import MODULE, DoclingConverter, Source, ignored_options
from gateway.documents.exports import to_json
from gateway.errors import InvalidRequest

# docling-serve's own words for a presigned_url target on its chunk routes.
PRESIGNED_CHUNK_REFUSAL = "presigned_url target is not supported for chunk endpoints."
HYBRID_REFUSAL = (
    "The hybrid chunker is not available on this server: it counts tokens with a Hugging Face tokenizer "
    "(tokenizer: {tokenizer}) downloaded from the hub, and this server downloads no tokenizer. Use "
    "/v1/chunk/hierarchical/…, which needs none (one chunk per paragraph, list or table, with its headings)."
)
ZIP_NAME = "chunked_result.json"  # docling-jobkit's file in a zip target


@dataclass
class Chunked:
    """A chunk request's answer, and how many of its documents could not be read."""

    response: wire.ChunkDocumentResponse
    options: wire.ChunkingOptions

    @property
    def total(self) -> int:
        return len(self.response.documents)

    @property
    def failed(self) -> int:
        return sum(document.status == "failure" for document in self.response.documents)


def require_chunker(job: wire.ChunkJob) -> None:
    """422 for a chunker this server cannot run (the hybrid one: ``HYBRID_REFUSAL``)."""
    options = job.chunking_options
    if isinstance(options, wire.HybridChunkerOptions):
        raise InvalidRequest(HYBRID_REFUSAL.format(tokenizer=options.tokenizer), param="chunking_options.tokenizer")


async def chunk_sources(
    converter: DoclingConverter,
    sources: list[Source],
    options: wire.ConvertOptions,
    job: wire.ChunkJob,
    report: dict[str, Any] | None,
    *,
    at_once: int,
) -> Chunked:
    """Every loaded source read, chunked, and (``include_converted_doc``) exported as DoclingDocument JSON."""
    started = time.perf_counter()
    # Boxes are not read unless the document itself is asked for: chunks carry page numbers, not places.
    reading: Literal["docling", "markdown"] = "docling" if job.include_converted_doc else "markdown"
    reads = await converter.read(sources, options, report, at_once=at_once, reading=reading)
    warnings = ignored_options(options)
    chunks: list[wire.ChunkItem] = []
    documents: list[wire.ExportResult] = []
    for read in reads:
        content = wire.ExportDocumentResponse(filename=read.name)
        if read.document is not None:
            chunks += await asyncio.to_thread(chunk_document, read.document, read.name, job.chunking_options)
            if job.include_converted_doc:
                content.json_content = await asyncio.to_thread(to_json, read.document)
        errors = [*warnings, *read.errors]
        documents.append(wire.ExportResult(content=content, status=read.status, errors=errors))
    response = wire.ChunkDocumentResponse(
        chunks=chunks, documents=documents, processing_time=time.perf_counter() - started
    )
    return Chunked(response, job.chunking_options)


def chunk_document(document: DoclingDocument, filename: str, options: wire.ChunkingOptions) -> list[wire.ChunkItem]:
    """One document's chunks, each as docling-jobkit's ``chunk_document`` writes it (``chunk_index`` counted within
    the document)."""
    # Imported here: docling-core's chunker package imports transformers and torch (seconds).
    from docling_core.transforms.chunker.hierarchical_chunker import DocChunk, HierarchicalChunker

    chunker = HierarchicalChunker(serializer_provider=_serializers(options))
    items = []
    for index, chunk in enumerate(chunker.chunk(document)):
        doc_chunk = DocChunk.model_validate(chunk)
        references = [item.self_ref for item in doc_chunk.meta.doc_items]
        pages = sorted({place.page_no for item in doc_chunk.meta.doc_items for place in item.prov})
        metadata: dict[str, Any] = {"has_image": any(ref.startswith("#/pictures/") for ref in references)}
        if doc_chunk.meta.origin is not None:
            metadata["origin"] = doc_chunk.meta.origin.model_dump(mode="json")
        items.append(
            wire.ChunkItem(
                filename=filename,
                chunk_index=index,
                text=chunker.contextualize(doc_chunk),
                raw_text=doc_chunk.text if options.include_raw_text else None,
                headings=doc_chunk.meta.headings,
                captions=doc_chunk.meta.captions,
                doc_items=references,
                page_numbers=pages,
                metadata=metadata,
            )
        )
    return items


def _serializers(options: wire.ChunkingOptions) -> Any:
    """docling-jobkit's ``MarkdownChunkingSerializerProvider``: Markdown tables and an image placeholder on ask."""
    from docling_core.transforms.chunker.hierarchical_chunker import (
        ChunkingDocSerializer,
        ChunkingSerializerProvider,
    )
    from docling_core.transforms.serializer.markdown import MarkdownTableSerializer

    class Provider(ChunkingSerializerProvider):
        def get_serializer(self, doc: DoclingDocument) -> ChunkingDocSerializer:
            params = ChunkingDocSerializer.model_fields["params"].default
            if options.use_markdown_images:
                params = params.model_copy(update={"image_placeholder": options.image_placeholder})
            if options.use_markdown_tables:
                return ChunkingDocSerializer(doc=doc, params=params, table_serializer=MarkdownTableSerializer())
            return ChunkingDocSerializer(doc=doc, params=params)

    return Provider()


def respond_chunks(chunked: Chunked, target: wire.Target) -> tuple[bytes, str]:
    """The answer's body and content type: ``ChunkDocumentResponse``, or a zip of ``chunked_result.json``."""
    if target.kind == "inbody":
        return chunked.response.model_dump_json().encode(), "application/json"
    result = {
        "kind": "ChunkedDocumentResponse",
        **chunked.response.model_dump(mode="json"),
        "chunking_info": chunked.options.model_dump(mode="json"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(ZIP_NAME, json.dumps(result, ensure_ascii=False, indent=2))
    return buffer.getvalue(), "application/zip"


def failed_chunking(filename: str, message: str) -> tuple[bytes, str]:
    """A failed chunk task's answer: no chunks, its document failed with the reason in ``errors``."""
    error = wire.ErrorItem(component_type="pipeline", module_name=MODULE, error_message=message)
    document = wire.ExportResult(
        content=wire.ExportDocumentResponse(filename=filename), status="failure", errors=[error]
    )
    response = wire.ChunkDocumentResponse(chunks=[], documents=[document], processing_time=0.0)
    return response.model_dump_json().encode(), "application/json"
