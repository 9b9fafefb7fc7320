"""Blocks: what one page holds, in reading order, before it becomes a DoclingDocument.

A block is one heading, paragraph, list item, table, formula, picture, caption, code block, footnote, or running
page header/footer. Boxes are in pixels of the page image, top-left origin; a block has one when the model gave
coordinates for it (figures, 1.5's layout regions) or when alignment with the spotting lines found it.
"""

from __future__ import annotations

import re
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
    """The table or picture the caption at ``index`` belongs to: of the kind its words name ("Table 2", "图 3")
    when one stands beside it, else the block after it (a table's title), else the block before it (a figure's
    legend); None when neither is one."""
    neighbours = [n for n in (index + 1, index - 1) if 0 <= n < len(blocks) and blocks[n].kind in FIGURES]
    named = [n for n in neighbours if blocks[n].kind == named_kind(blocks[index].text)]
    return next(iter(named or neighbours), None)


def named_kind(text: str) -> BlockKind | None:
    """What a caption's words say it captions: "Table 1 …" a table, "Figure 2 …" a picture; None for neither."""
    for kind, pattern in _CAPTION_NAMES.items():
        if pattern.match(text):
            return kind
    return None


_NUMBERED = r"\s*[0-9０-９一二三四五六七八九十ivx]"
_CAPTION_NAMES: dict[BlockKind, re.Pattern[str]] = {
    "table": re.compile(rf"^(?:tab(?:le)?\.?|表){_NUMBERED}", re.IGNORECASE),
    "picture": re.compile(rf"^(?:fig(?:ure)?\.?|chart|图){_NUMBERED}", re.IGNORECASE),
}
