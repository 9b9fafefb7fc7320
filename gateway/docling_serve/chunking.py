"""docling-serve's chunking: sources converted as ``/v1/convert`` converts them, each DoclingDocument cut into RAG
chunks by docling-core's ``HierarchicalChunker`` and answered as ``ChunkDocumentResponse`` (or, for a zip target,
``chunked_result.json`` in a zip), as docling-jobkit's ``DocumentChunkerManager`` writes them: ``text`` is the
chunk with the headings above it, ``raw_text`` (when asked) the chunk alone, ``doc_items`` the items' references.

The ``HybridChunker`` counts tokens with a Hugging Face tokenizer (``sentence-transformers/all-MiniLM-L6-v2`` unless
named). This server downloads none: it takes the tokenizer from this machine's Hugging Face cache (put there once
with ``hf download NAME``, as an offline docling-serve needs too), by its hub name only — never a path on the
server's disk — and refuses with ``HYBRID_REFUSAL`` when it is not there.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from docling_core.types.doc import DoclingDocument

from gateway.docling_serve import wire
from gateway.docling_serve.service import MODULE, DoclingConverter, Source, ignored_options
from gateway.documents.exports import to_json
from gateway.errors import InvalidRequest

# docling-serve's own words for a presigned_url target on its chunk routes.
PRESIGNED_CHUNK_REFUSAL = "presigned_url target is not supported for chunk endpoints."
HYBRID_REFUSAL = (
    "The hybrid chunker counts tokens with the tokenizer {tokenizer!r}, which is not in this server's Hugging Face "
    "cache, and this server downloads none: its operator can add it (hf download {tokenizer}), or use "
    "/v1/chunk/hierarchical/…, which needs no tokenizer (one chunk per paragraph, list or table, with its headings)."
)
NO_MAX_TOKENS = (
    "The tokenizer {tokenizer!r} does not say how many tokens its model takes: set chunking_options.max_tokens."
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


async def require_chunker(job: wire.ChunkJob) -> None:
    """422 for a hybrid chunker whose tokenizer this server does not have, before any page is read."""
    options = job.chunking_options
    if isinstance(options, wire.HybridChunkerOptions):
        await asyncio.to_thread(hybrid_tokenizer, options.tokenizer, options.max_tokens)


@functools.lru_cache(maxsize=8)
def hybrid_tokenizer(name: str, max_tokens: int | None) -> Any:
    """docling-core's ``HuggingFaceTokenizer`` for the hub name ``name``, from this machine's Hugging Face cache
    only (its snapshot, so a name is never read as a local path); ``max_tokens`` None: the model's own limit, from
    its ``sentence_bert_config.json`` as docling-core reads it, else the tokenizer's."""
    # Imported here: transformers and docling-core's chunkers import torch (seconds).
    from docling_core.transforms.chunker.tokenizer.huggingface import HuggingFaceTokenizer
    from huggingface_hub import constants, snapshot_download
    from transformers import AutoTokenizer

    try:
        snapshot = Path(snapshot_download(name, local_files_only=True, cache_dir=constants.HF_HUB_CACHE))
        tokenizer = AutoTokenizer.from_pretrained(snapshot)
    except (OSError, ValueError) as error:  # not cached (LocalEntryNotFoundError), no tokenizer, a bad repo id
        raise InvalidRequest(HYBRID_REFUSAL.format(tokenizer=name), param="chunking_options.tokenizer") from error
    if max_tokens is None:
        config = snapshot / "sentence_bert_config.json"
        max_tokens = json.loads(config.read_text())["max_seq_length"] if config.is_file() else None
        max_tokens = max_tokens or (tokenizer.model_max_length if tokenizer.model_max_length < 1_000_000 else None)
        if max_tokens is None:  # transformers' "no limit" sentinel
            raise InvalidRequest(NO_MAX_TOKENS.format(tokenizer=name), param="chunking_options.max_tokens")
    return HuggingFaceTokenizer(tokenizer=tokenizer, max_tokens=int(max_tokens))


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
    from docling_core.transforms.chunker.hybrid_chunker import HybridChunker

    chunker: HierarchicalChunker | HybridChunker = HierarchicalChunker(serializer_provider=_serializers(options))
    if isinstance(options, wire.HybridChunkerOptions):
        tokenizer = hybrid_tokenizer(options.tokenizer, options.max_tokens)
        chunker = HybridChunker(
            tokenizer=tokenizer, merge_peers=options.merge_peers, serializer_provider=_serializers(options)
        )
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
