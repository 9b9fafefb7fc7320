"""One page's document-parsing answer → blocks, whichever form the model wrote it in, and what the reading found
wrong with it.

- Markdown (the ``document`` task of 1.0 and 1.5): read by ``markdown.read_markdown``.
- HunyuanOCR-1.5's layout forms (``layout_parse``, ``layout``), read into regions by ``prompts.layout``: each
  region's text is Markdown too, its category decides what its blocks are (``_KINDS``) and its box is theirs.

Whatever the form, an answer's words reach the blocks: a non-answer (``图片中没有文字。``, ``<dir>0</dir>``) gives
no block and a warning; wrappers (``<trans>``) are taken off; markup the readers did not take (a cut tag, a run of
coordinates) is taken out of the text; a page that is only a figure's box, or a table the length limit cut, is
read as far as it goes and said so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from gateway.documents.blocks import Block, BlockKind, PixelBox
from gateway.documents.markdown import read_markdown
from prompts.layout import Region, is_layout, read_layout
from prompts.markup import answer_text, is_punctuation, strip_markup
from prompts.spotting import runs_as_lines, to_pixels

BOX_ONLY = "The model gave only boxes for the page, no text: its text was not read."
TABLE_CUT = "A table was cut off by the length limit; its rows up to the cut are kept."
# Layout categories (lower case, "_" for spaces and hyphens) whose blocks are of one kind; any other category
# (paragraph, table, list, abstract, reference, …) keeps what its Markdown says.
_KINDS: dict[str, BlockKind] = {
    **dict.fromkeys(("title", "doc_title", "section_title", "para_title", "paragraph_title", "heading"), "heading"),
    **dict.fromkeys(("sub_title", "subtitle", "sub_heading"), "heading"),
    **dict.fromkeys(("figure", "chart", "image", "picture", "seal", "photo", "diagram"), "picture"),
    **dict.fromkeys(("figure_title", "table_title", "chart_title", "caption", "figure_caption"), "caption"),
    **dict.fromkeys(("table_caption", "image_caption", "chart_caption", "diagram_caption"), "caption"),
    **dict.fromkeys(("header", "page_header"), "page_header"),
    **dict.fromkeys(("footer", "page_footer"), "page_footer"),
    **dict.fromkeys(("formula", "equation", "isolate_formula", "display_formula"), "formula"),
    **dict.fromkeys(("footnote", "page_footnote", "table_note", "footer_note", "table_footnote"), "footnote"),
    **dict.fromkeys(("algorithm", "code"), "code"),
}
_TITLES = ("title", "doc_title")  # headings of level 1; other heading categories are of level 2
_LITERAL = ("formula", "code", "table")  # blocks whose text is kept as written (LaTeX, code, cells)


@dataclass(frozen=True)
class Reading:
    """One page's blocks, and warnings for the client about what could not be read as it was written."""

    blocks: list[Block]
    warnings: tuple[str, ...] = ()


def read_answer(answer: str, width: int, height: int) -> Reading:
    """The blocks of one page's answer; boxes in pixels of its ``width`` × ``height`` image."""
    answer, said = answer_text(answer)
    if not answer:
        return Reading([], said)
    if is_layout(answer):
        blocks = [block for region in read_layout(answer) for block in _region(region, width, height)]
    else:
        blocks = _markdown(answer, width, height)
    blocks = [cleaned for block in blocks if (cleaned := _without_markup(block)) is not None]
    warnings = [] if any(block.text for block in blocks) else [BOX_ONLY]  # the answer is not blank (see above)
    if any(block.table is not None and block.table.cut for block in blocks):
        warnings.append(TABLE_CUT)
    return Reading(blocks, tuple(warnings))


def _markdown(text: str, width: int, height: int) -> list[Block]:
    """Markdown's blocks, HunyuanOCR's stray tags out first (a word on either side of one stays a word) and
    spotting runs as lines."""
    return read_markdown(runs_as_lines(strip_markup(text, runs=False)), width, height)


def _without_markup(block: Block) -> Block | None:
    """``block`` with leftover tags and coordinate runs out of its text; None when nothing else was in it."""
    if not block.text:
        return block
    if block.kind in _LITERAL:  # LaTeX, code and cells keep their parentheses; HunyuanOCR's tags never belong
        return (
            replace(block, text=stripped) if (stripped := strip_markup(block.text, runs=False)) != block.text else block
        )
    lines = (" ".join(line.split()) for line in strip_markup(block.text).split("\n"))
    text = "\n".join(line for line in lines if line)
    if text == block.text:
        return block
    return replace(block, text=text) if text and not is_punctuation(text) else None


def _region(region: Region, width: int, height: int) -> list[Block]:
    """The blocks of one layout region: its Markdown read, recast by its category, each with the region's box."""
    bounds = region.bounds
    box = to_pixels(bounds, width, height) if bounds is not None else None
    kind = _kind(region.category, box, height)
    blocks = [replace(block, box=box) for block in _markdown(region.text, width, height)]
    if kind is None or (kind == "heading" and blocks and blocks[0].kind == "heading"):
        return blocks
    if kind == "picture":
        return [Block("picture", box=box), *blocks]  # text read inside a figure follows it
    if kind in ("formula", "code") and blocks and all(block.kind == kind for block in blocks):
        return blocks
    joined = "\n".join(block.text for block in blocks if block.text)
    if not joined:
        return []
    if kind == "heading":
        return [Block("heading", " ".join(joined.split()), level=1 if region.category in _TITLES else 2, box=box)]
    return [Block(kind, joined, box=box)]


def _kind(category: str, box: PixelBox | None, height: int) -> BlockKind | None:
    if category in ("page_number", "number", "page"):  # furniture either way; which one, its place says
        return "page_footer" if box is not None and box[1] + box[3] > height else "page_header"
    return _KINDS.get(category)
