"""HTML tables (what HunyuanOCR writes) → Markdown tables, for users who asked for Markdown, and → a grid of cells
with their spans (``read_table``), for documents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

_TABLE_START = re.compile(r"<table\b", re.IGNORECASE)
_TABLE_END = re.compile(r"</table>", re.IGNORECASE)
MAX_COLSPAN = 50  # beyond this a colspan is a model slip, not a table that wide


@dataclass(frozen=True)
class Cell:
    """One cell where the HTML wrote it: its first row and column (0-based) and how many it spans."""

    text: str
    row: int
    col: int
    row_span: int = 1
    col_span: int = 1
    header: bool = False  # a ``<th>``


@dataclass(frozen=True)
class Table:
    """A table's cells once each, on a grid of ``num_rows`` × ``num_cols``; ``caption`` from ``<caption>``;
    ``cut``: the HTML ended before its ``</table>`` (the length limit)."""

    cells: tuple[Cell, ...]
    num_rows: int
    num_cols: int
    caption: str = ""
    cut: bool = False


class _TableReader(HTMLParser):
    """Collects rows of cell texts. Markdown has no spans, so the grid stays rectangular by repetition: a cell
    spanning columns is repeated across them, one spanning rows is repeated in the rows below."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.cells: list[Cell] = []
        self.caption: list[str] = []
        self._cell: list[str] | None = None
        self._in_caption = self._header = False
        self._colspan = self._rowspan = 1
        self._row_open = False
        self._from_above: dict[int, tuple[str, int]] = {}  # column → (text, rows still to fill) of rowspans

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("tr", "td", "th"):
            self._end_cell()  # HTML lets a new cell or row close the one before
        if tag == "tr":
            self._end_row()
            self.rows.append([])
            self._row_open = True
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
                self._row_open = True
            self._cell = []
            self._header = tag == "th"
            attributes = dict(attrs)
            self._colspan = _span(attributes.get("colspan"), MAX_COLSPAN)
            self._rowspan = _span(attributes.get("rowspan"), 10**9)  # no cap: it repeats only into rows that exist
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "caption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        if tag in ("td", "th", "tr", "table"):
            self._end_cell()
        if tag in ("tr", "table"):
            self._end_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_caption:
            self.caption.append(data)

    def close(self) -> None:
        super().close()
        self._end_cell()
        self._end_row()

    def _end_cell(self) -> None:
        if self._cell is not None:
            self._place(" ".join("".join(self._cell).split()))
            self._cell = None

    def _place(self, text: str) -> None:
        row = self.rows[-1]
        self._fill_from_above(row)
        self.cells.append(Cell(text, len(self.rows) - 1, len(row), self._rowspan, self._colspan, self._header))
        for _ in range(self._colspan):
            if self._rowspan > 1:
                self._from_above[len(row)] = (text, self._rowspan - 1)
            row.append(text)

    def _end_row(self) -> None:
        if self._row_open:
            self._fill_from_above(self.rows[-1], to_the_end=True)
            self._row_open = False

    def _fill_from_above(self, row: list[str], *, to_the_end: bool = False) -> None:
        """Puts the cells of rowspans from rows above in ``row``, from its end on; ``to_the_end``: all of them
        (the row is complete), with blanks where a short row leaves a gap before one."""
        while True:
            if (above := self._from_above.pop(len(row), None)) is not None:
                text, rows_left = above
                if rows_left > 1:
                    self._from_above[len(row)] = (text, rows_left - 1)
                row.append(text)
            elif to_the_end and any(column > len(row) for column in self._from_above):
                row.append("")
            else:
                return


def _span(value: str | None, limit: int) -> int:
    digits = (value or "").strip()
    # isdigit() holds for "²" too, and int() refuses thousands of digits: neither may fail the answer.
    if not (digits.isascii() and digits.isdigit()):
        return 1
    return max(1, min(int(digits) if len(digits) < 10 else limit, limit))


def _read(html: str) -> _TableReader:
    reader = _TableReader()
    reader.feed(html)
    reader.close()
    return reader


def read_table(html: str) -> Table:
    """One HTML table's cells with their spans; a rowspan past the last row is cut there."""
    reader = _read(html)
    num_rows = len(reader.rows)
    cells = tuple(
        Cell(cell.text, cell.row, cell.col, min(cell.row_span, num_rows - cell.row), cell.col_span, cell.header)
        for cell in reader.cells
    )
    num_cols = max((len(row) for row in reader.rows), default=0)
    cut = _TABLE_END.search(html) is None
    return Table(cells, num_rows, num_cols, " ".join("".join(reader.caption).split()), cut)


def table_to_markdown(html: str) -> str:
    """One HTML table as a Markdown table (the first row is the header); ``html`` itself if it has no cells."""
    rows = [[cell.replace("|", "\\|") for cell in row] for row in _read(html).rows if row]
    if not rows:
        return html
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def html_tables_to_markdown(text: str) -> str:
    """Every ``<table>…</table>`` in ``text`` as a Markdown table; everything else untouched.

    One pass over the text: a looping model's thousands of unclosed ``<table`` tags (where a lazy
    ``<table.*?</table>`` would scan to the end once per tag) cost no more than any other text."""
    parts, position = [], 0
    while (start := _TABLE_START.search(text, position)) and (end := _TABLE_END.search(text, start.end())):
        parts += [text[position : start.start()], table_to_markdown(text[start.start() : end.end()])]
        position = end.end()
    return "".join([*parts, text[position:]])
