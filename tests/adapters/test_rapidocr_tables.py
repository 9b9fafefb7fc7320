"""The CPU path's table reader (``adapters/rapidocr_tables.py``): a ruled table into cells, and what it cannot read
(a sliver, a region past the image's edge, a blank one) answered None — read as rows — never an error that would
fail the page."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from adapters.rapidocr_tables import TableReader
from tests.pages import LATIN_FONT

ROWS = [["Name", "Qty", "Price"], ["Apple", "12", "3.40"], ["Banana", "7", "1.25"]]


@pytest.fixture(scope="module")
def reader() -> TableReader:
    return TableReader()


def ruled_table() -> tuple[Image.Image, list[tuple[tuple[float, float, float, float], str, float]]]:
    """A 3×3 ruled table on a page, and its cells' text lines as the detector gives them."""
    page = Image.new("RGB", (800, 400), "white")
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(LATIN_FONT, 24)
    lines = []
    for row, cells in enumerate(ROWS):
        for column, text in enumerate(cells):
            x, y = 110 + 200 * column, 110 + 50 * row
            draw.text((x, y), text, font=font, fill="black")
            lines.append(((x, y, x + font.getlength(text), y + 26.0), text, 0.99))
    for row in range(4):
        draw.line((100, 100 + 50 * row, 700, 100 + 50 * row), fill="black", width=2)
    for column in range(4):
        draw.line((100 + 200 * column, 100, 100 + 200 * column, 250), fill="black", width=2)
    return page, lines


def test_a_ruled_table_comes_back_as_cells(reader: TableReader) -> None:
    page, lines = ruled_table()
    table = reader(page, (95, 95, 705, 255), lines)
    assert table is not None and table.startswith("<table>")
    for cells in ROWS:
        assert "".join(f"<td>{text}</td>" for text in cells) in table, table


def test_what_is_no_table_is_none_not_an_error(reader: TableReader) -> None:
    page, lines = ruled_table()
    assert reader(page, (95, 95, 705, 255), []) is None  # no line in it
    assert reader(page, (95, 95, 705, 99), lines) is None  # a sliver
    assert reader(page, (900, 500, 1200, 700), lines) is None  # past the image's edge
    blank = Image.new("RGB", (800, 400), "white")
    answer = reader(blank, (95, 95, 705, 255), lines)
    assert answer is None or answer.startswith("<table>")
