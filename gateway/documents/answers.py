"""One page's document-parsing answer → blocks, whichever form the model wrote it in.

- Markdown (the ``document`` task of 1.0 and 1.5): read by ``markdown.read_markdown``.
- HunyuanOCR-1.5's layout forms (``layout_parse``, ``layout``), where every region carries a category and a box
  in 0–1000 coordinates. Two wire forms, as Tencent's own layout scorer reads them:
  ``text<hy-meta><layout>category</layout><quad>(x,y),(x,y),(x,y),(x,y)</quad></hy-meta>`` after each region
  (``<poly>`` for ``<quad>``, points also as ``[[x,y],…]``), or a JSON array of
  ``{"layout_type": category, "bbox": "(x,y),…" | [[x,y],…], "text": …}``. A region's text is Markdown too;
  its category decides what its blocks are (``_KINDS``) and its box is theirs.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from gateway.documents.blocks import Block, BlockKind, PixelBox
from gateway.documents.markdown import read_markdown, region_box

_META = re.compile(r"<hy-meta>\s*<layout>([^<]*)</layout>\s*<(?:quad|poly)>([^<]*)</(?:quad|poly)>\s*</hy-meta>")
# Layout categories (lower case, "_" for spaces and hyphens) whose blocks are of one kind; any other category
# (paragraph, table, list, abstract, reference, …) keeps what its Markdown says.
_KINDS: dict[str, BlockKind] = {
    **dict.fromkeys(("title", "doc_title", "section_title", "para_title", "paragraph_title", "heading"), "heading"),
    **dict.fromkeys(("figure", "chart", "image", "picture", "seal", "photo"), "picture"),
    **dict.fromkeys(("figure_title", "table_title", "chart_title", "caption", "figure_caption"), "caption"),
    **dict.fromkeys(("table_caption", "image_caption"), "caption"),
    **dict.fromkeys(("header", "page_header"), "page_header"),
    **dict.fromkeys(("footer", "page_footer"), "page_footer"),
    **dict.fromkeys(("formula", "equation", "isolate_formula", "display_formula"), "formula"),
    **dict.fromkeys(("footnote", "page_footnote"), "footnote"),
}
_TITLES = ("title", "doc_title")  # headings of level 1; other heading categories are of level 2


def read_answer(answer: str, width: int, height: int) -> list[Block]:
    """The blocks of one page's answer; boxes in pixels of its ``width`` × ``height`` image."""
    if "<hy-meta>" in answer:
        return _tagged(answer, width, height)
    regions = _json_regions(answer)
    if regions is not None:
        return [
            block
            for region in regions
            for block in _region(
                str(region.get("text") or ""), str(region["layout_type"]), region.get("bbox"), width, height
            )
        ]
    return read_markdown(answer, width, height)


def _tagged(answer: str, width: int, height: int) -> list[Block]:
    blocks, start = [], 0
    for match in _META.finditer(answer):
        blocks += _region(answer[start : match.start()], match.group(1), match.group(2), width, height)
        start = match.end()
    # After the last complete tag: text the model wrote without one, or a region the length limit cut off.
    return blocks + read_markdown(answer[start:].split("<hy-meta>")[0], width, height)


def _json_regions(answer: str) -> list[dict[str, Any]] | None:
    stripped = answer.strip()
    if not stripped.startswith("[") or "layout_type" not in stripped:
        return None
    try:
        items = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("layout_type"), str)]


def _region(text: str, category: str, coordinates: Any, width: int, height: int) -> list[Block]:
    """The blocks of one layout region: its Markdown read, recast by its category, each with the region's box."""
    category = re.sub(r"[\s-]+", "_", category.strip().lower())
    box = region_box(coordinates if isinstance(coordinates, str) else json.dumps(coordinates), width, height)
    kind = _kind(category, box, height)
    blocks = [replace(block, box=box) for block in read_markdown(text, width, height)]
    if kind is None or (kind == "heading" and blocks and blocks[0].kind == "heading"):
        return blocks
    if kind == "picture":
        return [Block("picture", box=box), *blocks]  # text read inside a figure follows it
    if kind == "formula" and blocks and all(block.kind == "formula" for block in blocks):
        return blocks
    joined = " ".join(block.text for block in blocks)
    if not joined:
        return []
    if kind == "heading":
        return [Block("heading", joined, level=1 if category in _TITLES else 2, box=box)]
    return [Block(kind, joined, box=box)]


def _kind(category: str, box: PixelBox | None, height: int) -> BlockKind | None:
    if category == "page_number":  # furniture either way; which one, its place says
        return "page_footer" if box is not None and box[1] + box[3] > height else "page_header"
    return _KINDS.get(category)
