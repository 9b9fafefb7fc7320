"""HTML tables as HunyuanOCR writes them → Markdown tables; spans keep the grid rectangular."""

from __future__ import annotations

import re

import pytest

from prompts.tables import Cell, html_tables_to_markdown, read_table, table_to_markdown
from tests.prompts.hangs import fails_if_it_hangs


def markdown(*rows: str) -> str:
    width = len(re.findall(r"(?<!\\)\|", rows[0])) - 1  # pipes that are not escaped
    return "\n".join([rows[0], "|" + "---|" * width, *rows[1:]])


def test_first_row_is_the_header_and_the_text_around_tables_stays() -> None:
    html = "Prices:\n<table><tr><th>Item</th><th>Cost</th></tr><tr><td>Tea</td><td>3</td></tr></table>\nThanks"
    assert html_tables_to_markdown(html) == "Prices:\n" + markdown("| Item | Cost |", "| Tea | 3 |") + "\nThanks"


def test_every_table_of_a_page_is_converted() -> None:
    one = "<table><tr><td>a</td></tr></table>"
    assert html_tables_to_markdown(f"{one} and {one.upper()}") == f"{markdown('| a |')} and {markdown('| A |')}"


def test_a_cell_spanning_columns_is_repeated_across_them() -> None:
    html = '<table><tr><td>Item</td><td>Cost</td></tr><tr><td colspan="2">Total 3</td></tr></table>'
    assert table_to_markdown(html) == markdown("| Item | Cost |", "| Total 3 | Total 3 |")


def test_a_cell_spanning_rows_is_repeated_in_the_rows_below_in_its_column() -> None:
    html = (
        '<table><tr><th>Region</th><th>Year</th><th rowspan="3">Note</th></tr>'
        '<tr><td rowspan="2">North</td><td>2024</td></tr>'
        "<tr><td>2025</td></tr>"
        "<tr><td>South</td><td>2024</td><td>-</td></tr></table>"
    )
    assert table_to_markdown(html) == markdown(
        "| Region | Year | Note |",
        "| North | 2024 | Note |",
        "| North | 2025 | Note |",
        "| South | 2024 | - |",
    )


def test_a_cell_spanning_rows_and_columns_fills_its_whole_block() -> None:
    html = '<table><tr><td rowspan="2" colspan="2">A</td><td>1</td></tr><tr><td>2</td></tr></table>'
    assert table_to_markdown(html) == markdown("| A | A | 1 |", "| A | A | 2 |")


def test_rows_without_closing_tags_and_cells_without_rows_are_read() -> None:
    assert table_to_markdown("<table><tr><td>a<td>b<tr><td>c<td>d</table>") == markdown("| a | b |", "| c | d |")
    assert table_to_markdown("<table><td>a</td><td>b</td></table>") == markdown("| a | b |")


def test_short_rows_are_padded_to_the_widest() -> None:
    html = "<table><tr><td>a</td><td>b</td><td>c</td></tr><tr><td>d</td></tr></table>"
    assert table_to_markdown(html) == markdown("| a | b | c |", "| d |  |  |")


def test_pipes_in_cells_are_escaped() -> None:
    html = "<table><tr><td>Tea | hot</td><td>a||b</td></tr></table>"
    assert table_to_markdown(html) == markdown("| Tea \\| hot | a\\|\\|b |")


def test_markup_inside_cells_keeps_its_text_and_line_breaks_become_spaces() -> None:
    html = (
        "<table><tr><td><b>Total</b> <i>3</i><br>EUR</td>"
        '<td><span style="color:red">a &amp; b</span>\n  <sup>2</sup></td></tr></table>'
    )
    assert table_to_markdown(html) == markdown("| Total 3 EUR | a & b 2 |")


@pytest.mark.parametrize("span", ["0", "-1", "two", "²", "1.5", ""])
def test_a_span_that_is_not_a_small_number_counts_as_one(span: str) -> None:
    html = f'<table><tr><td colspan="{span}" rowspan="{span}">a</td><td>b</td></tr><tr><td>c</td></tr></table>'
    assert table_to_markdown(html) == markdown("| a | b |", "| c |  |")


@pytest.mark.parametrize("span", ["51", "1000000", "9" * 5000])
def test_a_huge_colspan_is_capped_at_fifty_columns(span: str) -> None:
    assert table_to_markdown(f'<table><tr><td colspan="{span}">a</td></tr></table>').count("a") == 50


@pytest.mark.parametrize(
    "text",
    [
        "no tables <b>here</b>",
        "<div><p>Paragraph</p><ul><li>item</li></ul></div>",
        "<table></table>",
        "<table><tr></tr></table> after",
        "<table>unclosed <td>cell",
        "$$a<b$$ and x > y",
    ],
)
def test_text_without_a_complete_table_with_cells_is_left_untouched(text: str) -> None:
    assert html_tables_to_markdown(text) == text


def test_read_table_gives_each_cell_once_with_its_place_spans_and_header_flag() -> None:
    table = read_table(
        '<table><caption>Pressures <b>(bar)</b></caption><tr><th rowspan="2">Part</th><th colspan="2">Bar</th></tr>'
        "<tr><td>Before</td><td>After | now</td></tr></table>"
    )
    assert (table.num_rows, table.num_cols, table.caption) == (2, 3, "Pressures (bar)")
    assert table.cells == (
        Cell("Part", 0, 0, row_span=2, header=True),
        Cell("Bar", 0, 1, col_span=2, header=True),
        Cell("Before", 1, 1),
        Cell("After | now", 1, 2),  # pipes escaped for Markdown only
    )


def test_read_table_cuts_a_rowspan_at_the_last_row() -> None:
    table = read_table('<table><tr><td rowspan="9">a</td><td>b</td></tr><tr><td>c</td></tr></table>')
    assert table.cells == (Cell("a", 0, 0, row_span=2), Cell("b", 0, 1), Cell("c", 1, 1))


def test_thousands_of_unclosed_tables_cost_one_pass_not_one_per_tag() -> None:
    looping = "<table><tr><td>x" * 20_000  # a looping model's answer that never closes its tables
    with fails_if_it_hangs():  # the old lazy pattern took minutes on this
        assert html_tables_to_markdown(looping) == looping
