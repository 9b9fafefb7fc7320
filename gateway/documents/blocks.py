"""Blocks: what one page holds, in reading order, before it becomes a DoclingDocument.

A block is one heading, paragraph, list item, table, formula, picture, caption, code block, footnote, or running
page header/footer. Boxes are in pixels of the page image, top-left origin; a block has one when the model gave
coordinates for it (figures, 1.5's layout regions) or when alignment with the spotting lines found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prompts.tables import Table

PixelBox = tuple[int, int, int, int]  # x_min, y_min, x_max, y_max in pixels of the page image
BlockKind = Literal[
    "heading",
    "paragraph",
    "list_item",
    "table",
    "formula",
    "picture",
    "caption",
    "code",
    "footnote",
    "page_header",
    "page_footer",
]
FIGURES: frozenset[BlockKind] = frozenset({"table", "picture"})  # the blocks a caption belongs to


@dataclass(frozen=True)
class Block:
    """One block of a page.

    ``text`` is plain text (Markdown markup gone, inline formulas kept as ``$…$``); a formula's is its LaTeX, a
    table's its cells in reading order, a picture's empty. ``level`` is a heading's level (1 for ``#``) or a list
    item's nesting depth (1 at the top); ``list_id`` tells items of different lists apart (a nested list is a list
    of its own).
    """

    kind: BlockKind
    text: str = ""
    level: int = 1
    list_id: int = 0
    enumerated: bool = False
    marker: str = ""
    table: Table | None = None
    box: PixelBox | None = None


def caption_owner(blocks: list[Block], index: int) -> int | None:
    """The table or picture the caption at ``index`` belongs to: the block after it (a table's title), else the
    block before it (a figure's legend); None when neither is one."""
    for neighbour in (index + 1, index - 1):
        if 0 <= neighbour < len(blocks) and blocks[neighbour].kind in FIGURES:
            return neighbour
    return None
