"""Document parsing's Markdown → typed blocks in reading order."""

from __future__ import annotations

import pytest

from gateway.documents.blocks import Block
from gateway.documents.markdown import read_markdown, region_box
from prompts.tables import Cell
from tests.gateway.documents.canned import DOCUMENT, HEIGHT, WIDTH


def kinds(blocks: list[Block]) -> list[tuple[str, str]]:
    return [(block.kind, block.text) for block in blocks]


def test_the_canned_page_reads_as_its_blocks_in_order() -> None:
    assert [block.kind for block in read_markdown(DOCUMENT, WIDTH, HEIGHT)] == [
        "heading",
        "heading",
        "paragraph",
        "list_item",
        "list_item",
        "list_item",
        "paragraph",
        "formula",
        "caption",
        "table",
        "picture",
        "caption",
    ]


def test_headings_keep_their_level_and_lose_their_markup() -> None:
    blocks = read_markdown("# The *Title*\n\n### A `deep` one", 100, 100)
    assert [(block.kind, block.text, block.level) for block in blocks] == [
        ("heading", "The Title", 1),
        ("heading", "A deep one", 3),
    ]


def test_a_paragraphs_lines_stay_lines_and_inline_formulas_stay_as_latex() -> None:
    blocks = read_markdown("Energy is **$E = mc^2$** here\nand \\(x_1\\) there<br>too.", 100, 100)
    assert kinds(blocks) == [("paragraph", "Energy is $E = mc^2$ here\nand $x_1$ there\ntoo.")]


def test_list_items_know_their_list_depth_marker_and_numbering() -> None:
    blocks = read_markdown("3. three\n4. four\n   - inner\n\n- other list", 100, 100)
    items = [(b.text, b.level, b.enumerated, b.marker) for b in blocks]
    assert items == [
        ("three", 1, True, "3."),
        ("four", 1, True, "4."),
        ("inner", 2, False, "-"),
        ("other list", 1, False, "-"),
    ]
    first, second, inner, other = (block.list_id for block in blocks)
    assert first == second and len({first, inner, other}) == 3


def test_display_formulas_in_either_delimiter_are_formula_blocks() -> None:
    blocks = read_markdown("$$\n\\frac{a}{b}\n$$\n\n\\[ x^2 + y^2 = z^2 \\]", 100, 100)
    assert kinds(blocks) == [("formula", "\\frac{a}{b}"), ("formula", "x^2 + y^2 = z^2")]


def test_an_html_table_keeps_its_cells_and_spans() -> None:
    (table,) = [block for block in read_markdown(DOCUMENT, WIDTH, HEIGHT) if block.kind == "table"]
    assert table.table is not None
    assert (table.table.num_rows, table.table.num_cols) == (3, 3)
    assert table.table.cells == (
        Cell("Part", 0, 0, row_span=2, header=True),
        Cell("Pressure (bar)", 0, 1, col_span=2, header=True),
        Cell("Before", 1, 1),
        Cell("After", 1, 2),
        Cell("Main valve", 2, 0),
        Cell("212", 2, 1),
        Cell("180", 2, 2),
    )
    assert table.text == "Part Pressure (bar) Before After Main valve 212 180"


def test_text_around_a_table_in_one_html_block_is_kept_and_its_html_caption_is_a_caption() -> None:
    answer = "<table><caption>Costs</caption><tr><td>Tea</td></tr></table>\nPrices *include* tax."
    assert kinds(read_markdown(answer, 100, 100)) == [
        ("caption", "Costs"),
        ("table", "Tea"),
        ("paragraph", "Prices include tax."),
    ]


def test_a_pipe_table_is_a_table_too() -> None:
    (block,) = read_markdown("| a | b |\n|---|---|\n| 1 | 2 |", 100, 100)
    assert block.kind == "table" and block.table is not None
    assert [(cell.text, cell.row, cell.col, cell.header) for cell in block.table.cells] == [
        ("a", 0, 0, True),
        ("b", 0, 1, True),
        ("1", 1, 0, False),
        ("2", 1, 1, False),
    ]


def test_a_figures_box_becomes_a_picture_in_page_pixels_and_its_text_the_caption() -> None:
    blocks = read_markdown("Figure 1: The pump after service(100,700),(900,900)", WIDTH, HEIGHT)
    assert blocks == [
        Block("picture", box=(170, 1540, 1530, 1980)),
        Block("caption", "Figure 1: The pump after service"),
    ]


def test_a_bare_figure_box_splits_the_paragraph_it_stands_in() -> None:
    blocks = read_markdown("Before the figure.\n(0,0),(500,250)\nAfter it.", 1000, 2000)
    assert blocks == [
        Block("paragraph", "Before the figure."),
        Block("picture", box=(0, 0, 500, 500)),
        Block("paragraph", "After it."),
    ]


def test_coordinates_inside_a_formula_or_in_mid_sentence_are_not_figures() -> None:
    blocks = read_markdown("$$\nS = \\{(2,4),(3,3)\\}\n$$\n\nThe points (2,4),(3,3) lie on it.", 100, 100)
    assert [block.kind for block in blocks] == ["formula", "paragraph"]


def test_a_paragraph_beside_a_table_reading_like_a_title_is_its_caption_but_not_elsewhere() -> None:
    table = "<table><tr><td>x</td></tr></table>"
    beside = read_markdown(f"表 2 产量\n\n{table}", 100, 100)
    apart = read_markdown(f"Table 2 lists the output.\n\nMore text.\n\n{table}", 100, 100)
    assert beside[0] == Block("caption", "表 2 产量")
    assert apart[0].kind == "paragraph"


def test_a_linked_image_is_a_picture_without_a_box() -> None:
    assert read_markdown("![A pump](pump.png)", 100, 100) == [Block("picture"), Block("caption", "A pump")]


def test_code_blocks_are_code_and_empty_answers_have_no_blocks() -> None:
    assert kinds(read_markdown("```mermaid\ngraph TD\n  A-->B\n```", 100, 100)) == [("code", "graph TD\n  A-->B")]
    assert read_markdown("", 100, 100) == [] and read_markdown("\n\n---\n", 100, 100) == []


def test_region_boxes_read_every_point_form_and_need_two_points() -> None:
    assert region_box("(100,200),(300,400)", 1000, 500) == (100, 100, 300, 200)
    assert region_box("[[100,200],[300,200],[300,400],[100,400]]", 1000, 500) == (100, 100, 300, 200)
    assert region_box("[100, 200, 300, 400]", 1000, 500) == (100, 100, 300, 200)
    assert region_box("(1200,-5),(300,400)", 1000, 500) == (300, 0, 1000, 200)  # clamped into the page
    assert region_box("(100,200)", 1000, 500) is None


@pytest.mark.timeout(20)  # each took minutes when a pattern was searched from every position of the line
def test_answers_of_a_looping_model_are_read_in_linear_time() -> None:
    boxes = "(1,2),(3,4)" * 50_000
    assert read_markdown(f"Legend {boxes}", 1000, 1000) == [
        Block("picture", box=(1, 2, 3, 4)),
        Block("caption", "Legend"),
    ]
    assert read_markdown(f"{boxes} and then prose (5)", 1000, 1000)[0].kind == "paragraph"
    assert [block.kind for block in read_markdown("<table>" * 50_000 + "x", 100, 100)] == ["paragraph"]


def test_a_pipe_tables_row_longer_than_its_header_loses_no_cell() -> None:
    answer = "| Item | Due |\n|---|--|\n| Ambulance | 05 Sep |\n|  |  | Sub Total: $13,900.00 <br>Tax Rate (5%): 695 |"
    table = read_markdown(answer, 100, 100)[0].table
    assert table is not None and table.num_cols == 3
    assert "Sub Total: $13,900.00 Tax Rate (5%): 695" in [cell.text for cell in table.cells]


def test_a_pipe_table_whose_rule_has_a_full_width_colon_is_a_table() -> None:
    blocks = read_markdown("| Fee | Amount |\n|---：|---|\n| Late | $38.00 |", 100, 100)
    assert [block.kind for block in blocks] == ["table"] and "$38.00" in blocks[0].text


def test_an_html_table_cut_before_its_end_is_read_up_to_the_cut() -> None:
    blocks = read_markdown("<table><caption>Fees</caption><td>stray</td><tr><td>Late</td><td>38", 100, 100)
    table = blocks[-1].table
    assert table is not None and table.cut and [cell.text for cell in table.cells] == ["stray", "Late", "38"]
    assert (blocks[0].kind, blocks[0].text) == ("caption", "Fees")


def test_lines_written_one_under_another_stay_lines() -> None:
    blocks = read_markdown("Bill To: Aaron Brown  \nGreater South Avenue\n10001 New York U.S.A", 100, 100)
    assert kinds(blocks) == [("paragraph", "Bill To: Aaron Brown\nGreater South Avenue\n10001 New York U.S.A")]
