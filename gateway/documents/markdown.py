"""A document-parsing answer in Markdown → blocks, in the order the model wrote them.

The structure comes from markdown-it-py (CommonMark) with mdit-py-plugins for LaTeX (``$$…$$``, ``\\[…\\]`` blocks,
``$…$`` and ``\\(…\\)`` inline); HTML tables go through ``prompts.tables``. Conventions of HunyuanOCR's answers
read here:

- a figure is written as its box, ``(x1,y1),(x2,y2)`` in 0–1000 coordinates, at the end of a line (alone, or
  after the text printed with it, which becomes the picture's caption); a line of prose that really ends in two
  coordinate pairs is read as a figure too (Tencent's own clean-up makes the same call);
- ``<caption>`` inside a ``<table>`` is the table's caption; a paragraph next to a table or picture that starts
  like "Figure 2" / "Table 1" / "图 3" / "表 1" is a caption too;
- a paragraph that is only a Markdown image is a picture without a box (its alt text the caption);
- lines written one under another (an address, a form's lines) stay lines of their paragraph;
- pipe tables as 1.5 writes them: rows longer than the header (the header is widened, as no cell may be lost),
  a full-width colon in the rule (``|---：|``), ``<br>`` in cells; an HTML table cut before its ``</table>`` is
  read as far as it goes.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin

from gateway.documents.blocks import FIGURES, Block, named_kind
from prompts.layout import bounds, points
from prompts.spotting import to_pixels
from prompts.tables import Cell, Table, read_table

_PARSER = (
    MarkdownIt("commonmark")
    .use(dollarmath_plugin, double_inline=True)
    .use(texmath_plugin, delimiters="brackets")
    .enable("table")
)
# One box at the end of a line; searched in the line's last ``_BOX_WINDOW`` characters only, box after box, so
# a line of thousands of coordinates (a looping model) costs linear time.
_BOX_AT_END = re.compile(r"[ \t,，]*\(\s*\d{1,4}\s*,\s*\d{1,4}\s*\)\s*,\s*\(\s*\d{1,4}\s*,\s*\d{1,4}\s*\)[ \t]*$")
_BOX_WINDOW = 64
_PIPE = re.compile(r"(?<!\\)\|")
_RULE_CELL = re.compile(r"^\s*[:：]?\s*-+\s*[:：]?\s*$")
_TAG = re.compile(r"<[^<>]*(?:>|$)")  # a tag, or one cut at the end


def read_markdown(text: str, width: int, height: int) -> list[Block]:
    """The blocks of one page's Markdown; figure boxes in pixels of its ``width`` × ``height`` image."""
    reader = _Reader(width, height)
    reader.read(SyntaxTreeNode(_PARSER.parse(_even_pipe_tables(text))).children, depth=0)
    return _mark_captions(reader.blocks)


def region_box(coordinates: str, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The pixel box around the points in ``coordinates`` (0–1000, written as ``(x,y),(x,y)…``, ``[[x,y],…]`` or
    ``[x1,y1,x2,y2]``); None with fewer than two points."""
    found = bounds(points(coordinates))
    return to_pixels(found, width, height) if found is not None else None


def _even_pipe_tables(text: str) -> str:
    """Pipe tables made readable by CommonMark's table rule, which drops the cells of a row past the header's
    count and wants an ASCII rule: the header and rule widened to the longest row, full-width colons made ASCII."""
    if "|" not in text:
        return text
    lines, index = text.split("\n"), 0
    while index < len(lines) - 1:
        header, rule = _cells(lines[index]), _cells(lines[index + 1])
        if not (header and rule and all(_RULE_CELL.match(cell) for cell in rule)):
            index += 1
            continue
        end = index + 2
        while end < len(lines) and "|" in lines[end]:
            end += 1
        width = max(len(header), len(rule), *(len(_cells(line) or []) for line in lines[index + 2 : end]))
        lines[index] = "|" + "|".join(header + [" "] * (width - len(header))) + "|"
        lines[index + 1] = (
            "|" + "|".join([cell.replace("：", ":") for cell in rule] + ["---"] * (width - len(rule))) + "|"
        )
        index = end
    return "\n".join(lines)


def _cells(line: str) -> list[str] | None:
    """A pipe-table line's cells (outer pipes optional); None for a line without a pipe."""
    stripped = line.strip()
    if "|" not in stripped:
        return None
    return _PIPE.split(stripped.removeprefix("|").removesuffix("|"))


class _Reader:
    """Walks markdown-it's syntax tree, appending blocks."""

    def __init__(self, width: int, height: int) -> None:
        self.blocks: list[Block] = []
        self._size = (width, height)
        self._lists = 0

    def read(self, nodes: list[SyntaxTreeNode], depth: int) -> None:
        for node in nodes:
            self._node(node, depth)

    def _node(self, node: SyntaxTreeNode, depth: int) -> None:
        kind = node.type
        if kind == "heading":
            self._add(Block("heading", _plain(_inline(node)), level=int(node.tag[1:])))
        elif kind == "paragraph":
            self._paragraph(node.children[0].content if node.children else "")
        elif kind in ("bullet_list", "ordered_list"):
            self._list(node, depth + 1)
        elif kind.startswith("math_block"):
            self._add(Block("formula", node.content.strip()))
        elif kind == "html_block":
            self._html(node.content)
        elif kind == "table":
            self._add(_table_block(_pipe_table(node)))
        elif kind in ("fence", "code_block"):
            self._add(Block("code", node.content.rstrip("\n")))
        else:  # blockquotes and the like: their content counts; a rule has none
            self.read(node.children, depth)

    def _add(self, block: Block) -> None:
        if block.text or block.kind in FIGURES:
            self.blocks.append(block)

    def _paragraph(self, source: str) -> None:
        """A paragraph, split where a line ends in a figure's box."""
        run: list[str] = []
        for line in source.split("\n"):
            legend, boxes = _figure(line)
            if not boxes:
                run.append(line)
                continue
            self._text("\n".join(run))
            run = []
            self._add(Block("picture", box=region_box(boxes, *self._size)))
            self._add(Block("caption", _plain(_parse_inline(legend))))
        self._text("\n".join(run))

    def _text(self, source: str) -> None:
        tokens = _parse_inline(source)
        shown = [token for token in tokens if token.type != "text" or token.content.strip()]
        if len(shown) == 1 and shown[0].type == "image":  # a picture the model linked rather than boxed
            self._add(Block("picture"))
            self._add(Block("caption", _plain(shown[0].children or [])))
        else:
            self._add(Block("paragraph", _plain(tokens, lines=True)))

    def _list(self, node: SyntaxTreeNode, depth: int) -> None:
        self._lists += 1
        list_id, enumerated = self._lists, node.type == "ordered_list"
        for item in node.children:
            paragraphs = [child for child in item.children if child.type == "paragraph"]
            text = " ".join(_plain(_inline(paragraph)) for paragraph in paragraphs)
            marker = f"{item.info}{item.markup}" if enumerated else item.markup
            self.blocks.append(Block("list_item", text, depth, list_id, enumerated, marker))
            self.read([child for child in item.children if child.type != "paragraph"], depth)

    def _html(self, source: str) -> None:
        """Tables as tables; what stands around them (an HTML block runs to the next blank line) as Markdown."""
        start, lower = 0, source.lower()
        while (opening := lower.find("<table", start)) != -1:
            self._loose(source[start:opening])
            closing = lower.find("</table>", opening)
            start = len(source) if closing == -1 else closing + len("</table>")  # cut: the table runs to the end
            table = read_table(source[opening:start])
            if not table.cells:  # no cell to hold its words: text
                self._loose(source[opening:start])
                continue
            if table.caption:
                self._add(Block("caption", table.caption))
            self._add(_table_block(table))
        self._loose(source[start:])

    def _loose(self, source: str) -> None:
        """Text around tables in an HTML block, its tags (cut ones too) taken out, read as Markdown."""
        text = html.unescape(_TAG.sub(" ", source)).strip()
        if text.startswith("<"):  # still HTML to CommonMark (an unclosed "<x" left): as text, not read again
            self._add(Block("paragraph", text))
        elif text:
            self.read(SyntaxTreeNode(_PARSER.parse(text)).children, depth=0)


def _figure(line: str) -> tuple[str, str]:
    """A line split into the text before the boxes it ends in, and those boxes ("" when it ends in none)."""
    end = start = len(line.rstrip())
    while match := _BOX_AT_END.search(line, max(0, start - _BOX_WINDOW), start):
        start = match.start()
    return line[:start], line[start:end]


def _table_block(table: Table) -> Block:
    return Block("table", " ".join(cell.text for cell in table.cells if cell.text), table=table)


def _pipe_table(node: SyntaxTreeNode) -> Table:
    """A Markdown pipe table (1.5 writes them in translations and charts) as a grid without spans."""
    rows = [row for section in node.children for row in section.children]
    cells = tuple(
        Cell(_plain(_inline(cell)), r, c, header=cell.type == "th")
        for r, row in enumerate(rows)
        for c, cell in enumerate(row.children)
    )
    return Table(cells, len(rows), max((len(row.children) for row in rows), default=0))


def _mark_captions(blocks: list[Block]) -> list[Block]:
    """Paragraphs beside a table or picture that read like "Table 1 …" become captions."""
    return [
        replace(block, kind="caption")
        if block.kind == "paragraph"
        and named_kind(block.text) is not None
        and any(0 <= n < len(blocks) and blocks[n].kind in FIGURES for n in (index - 1, index + 1))
        else block
        for index, block in enumerate(blocks)
    ]


def _inline(node: SyntaxTreeNode) -> list[Token]:
    children = node.children[0].to_tokens() if node.children else []
    return [child for token in children for child in token.children or []]


def _parse_inline(source: str) -> list[Token]:
    return [child for token in _PARSER.parseInline(source) for child in token.children or []]


def _plain(tokens: list[Token], *, lines: bool = False) -> str:
    """Inline tokens as plain text: emphasis, links and HTML tags gone, formulas kept in their ``$`` delimiters;
    line breaks (``<br>`` too) kept as ``\\n`` when ``lines``, else spaces."""
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == "math_inline":
            parts.append(f"${token.content}$")
        elif token.type == "math_inline_double":
            parts.append(f"$${token.content}$$")
        elif token.type == "image":
            parts.append(_plain(token.children or []))
        elif token.type in ("softbreak", "hardbreak") or token.content.lower().startswith("<br"):
            parts.append("\n" if lines else " ")
    kept = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in kept if line)
