"""HTML tables (what HunyuanOCR writes) → Markdown tables, for users who asked for Markdown."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_TABLE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)
MAX_COLSPAN = 50  # beyond this a colspan is a model slip, not a table that wide


class _TableReader(HTMLParser):
    """Collects rows of cell texts. Markdown has no spans, so the grid stays rectangular by repetition: a cell
    spanning columns is repeated across them, one spanning rows is repeated in the rows below."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
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
            attributes = dict(attrs)
            self._colspan = _span(attributes.get("colspan"), MAX_COLSPAN)
            self._rowspan = _span(attributes.get("rowspan"), 10**9)  # no cap: it repeats only into rows that exist
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "tr", "table"):
            self._end_cell()
        if tag in ("tr", "table"):
            self._end_row()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def close(self) -> None:
        super().close()
        self._end_cell()
        self._end_row()

    def _end_cell(self) -> None:
        if self._cell is not None:
            self._place(" ".join("".join(self._cell).split()).replace("|", "\\|"))
            self._cell = None

    def _place(self, text: str) -> None:
        row = self.rows[-1]
        self._fill_from_above(row)
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


def table_to_markdown(html: str) -> str:
    """One HTML table as a Markdown table (the first row is the header); ``html`` itself if it has no cells."""
    reader = _TableReader()
    reader.feed(html)
    reader.close()
    rows = [row for row in reader.rows if row]
    if not rows:
        return html
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def html_tables_to_markdown(text: str) -> str:
    """Every ``<table>…</table>`` in ``text`` as a Markdown table; everything else untouched."""
    return _TABLE.sub(lambda match: table_to_markdown(match.group()), text)
