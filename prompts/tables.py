"""HTML tables (what HunyuanOCR writes) → Markdown tables, for users who asked for Markdown."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_TABLE = re.compile(r"<table\b.*?</table>", re.IGNORECASE | re.DOTALL)


class _TableReader(HTMLParser):
    """Collects rows of cell texts; a cell spanning columns is repeated so the grid stays rectangular."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
            self._cell = []
            span = dict(attrs).get("colspan") or "1"
            self._span = int(span) if span.isdigit() else 1
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = " ".join("".join(self._cell).split()).replace("|", "\\|")
            self.rows[-1].extend([text] * min(self._span, 50))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_to_markdown(html: str) -> str:
    reader = _TableReader()
    reader.feed(html)
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
