"""A DoclingDocument → the formats ``/ocr?format=…`` answers, all written by docling-core's own serializers.

Markdown, HTML and plain text hold the body (docling leaves the furniture layer — running headers and footers —
out of them); DocTags and the JSON hold everything, with boxes. Chunks come from docling-core's
``HierarchicalChunker``: one chunk per paragraph, list, table (as "row, column = value" triplets), formula…, each
with the headings above it. It needs no tokenizer; the ``HybridChunker``, which merges and splits chunks to a
token budget, loads a Hugging Face tokenizer from the hub by default, which a machine without the hub cannot.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from docling_core.transforms.serializer.markdown import MarkdownDocSerializer, MarkdownParams
from docling_core.types.doc import DocItem, DoclingDocument

from gateway.documents.build import page_only

Chunk = dict[str, Any]
_INLINE_MATH = re.compile(r"(\$\$.+?\$\$|\$[^$\n]+?\$)")  # split keeps them, as every odd part


def to_markdown(document: DoclingDocument, page_break: str | None = None, *, page_no: int | None = None) -> str:
    """The body as Markdown (tables as Markdown tables, formulas as ``$$…$$``, pictures as a comment), with
    ``page_break`` between pages when given; only page ``page_no``'s items when given (Mistral's OCR API answers
    page by page)."""
    params = MarkdownParams(page_break_placeholder=page_break or None, pages={page_no} if page_no is not None else None)
    return _MarkdownSerializer(doc=document, params=params).serialize().text


class _MarkdownSerializer(MarkdownDocSerializer):
    """docling's Markdown serializer, but inline LaTeX (``$…$`` in a text, as HunyuanOCR writes it) is left as
    written: docling escapes every underscore of a text (``\\chi\\_{U}``), which no Markdown renderer of maths
    reads back."""

    @classmethod
    def _escape_underscores(cls, text: str) -> str:
        escape = super()._escape_underscores
        return "".join(part if part.startswith("$") else escape(part) for part in _INLINE_MATH.split(text))


def to_html(document: DoclingDocument) -> str:
    """The body as a standalone HTML page (formulas as MathML)."""
    return document.export_to_html()


def to_text(document: DoclingDocument) -> str:
    """The body as plain text."""
    return document.export_to_text()


def to_doctags(document: DoclingDocument) -> str:
    """DocTags: every item with its label and its location on a 500 × 500 grid of its page."""
    return document.export_to_doctags()


def to_json(document: DoclingDocument) -> dict[str, Any]:
    """The DoclingDocument itself, as JSON data (``DoclingDocument.model_validate`` reads it back)."""
    return document.export_to_dict()


def to_chunks(document: DoclingDocument) -> list[Chunk]:
    """RAG chunks: each with its ``text``, the ``headings`` above it, and ``provenance``, a list of
    ``{"page", "bbox"}`` (``[left, top, right, bottom]`` in page pixels, or null where the place is unknown)."""
    # Imported here: docling-core's chunker package imports transformers and torch (seconds), which only
    # chunking needs.
    from docling_core.transforms.chunker.hierarchical_chunker import HierarchicalChunker

    return [
        {
            "text": chunk.text,
            "headings": list(getattr(chunk.meta, "headings", None) or []),
            "provenance": _provenance(document, getattr(chunk.meta, "doc_items", [])),
        }
        for chunk in HierarchicalChunker().chunk(document)
    ]


def _provenance(document: DoclingDocument, items: list[DocItem]) -> list[dict[str, Any]]:
    places: list[dict[str, Any]] = []
    for item in items:
        for provenance in item.prov:
            box = None if page_only(provenance, document) else list(provenance.bbox.as_tuple())
            place = {"page": provenance.page_no, "bbox": box}
            if place not in places:
                places.append(place)
    return places


EXPORTS: dict[str, tuple[Callable[[DoclingDocument], Any], str]] = {
    "markdown": (to_markdown, "text/markdown; charset=utf-8"),
    "html": (to_html, "text/html; charset=utf-8"),
    "text": (to_text, "text/plain; charset=utf-8"),
    "doctags": (to_doctags, "text/plain; charset=utf-8"),
    "docling": (to_json, "application/json"),
    "chunks": (to_chunks, "application/json"),
}
"""``format`` → (the export, its content type). ``docling`` and ``chunks`` give JSON data to be encoded."""
