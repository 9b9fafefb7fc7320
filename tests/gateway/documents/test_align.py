"""Blocks get their boxes from the spotting lines that hold their text — or none, when no line does."""

from __future__ import annotations

from gateway.documents.align import align, normalise
from gateway.documents.blocks import Block
from prompts.spotting import Box
from prompts.tables import read_table

HEIGHT = 1000


def line(text: str, left: int, top: int, right: int, bottom: int) -> Box:
    return Box(text, (left, top, right, bottom))


def boxes(blocks: list[Block]) -> list[tuple[str, tuple[int, int, int, int] | None]]:
    return [(block.kind, block.box) for block in blocks]


def test_normalised_text_drops_case_space_punctuation_markup_and_latex_commands() -> None:
    assert normalise("**Total:**  12.5 %") == normalise("TOTAL 12,5%") == "total125"
    assert normalise("$\\alpha + \\beta^{2}$") == "2"
    assert normalise("<b>压力</b>测试，合格。") == "压力测试合格"
    assert normalise("ｆｕｌｌ ｗｉｄｔｈ ①") == "fullwidth1"


def test_a_paragraph_gets_the_union_of_its_lines() -> None:
    blocks = [Block("paragraph", "Hydraulic pressure measured at 212 bar before service, then again after.")]
    lines = [
        line("Hydraulic pressure measured at 212 bar", 100, 200, 800, 220),
        line("before service, then again after.", 100, 225, 650, 245),
    ]
    assert boxes(align(blocks, lines, HEIGHT)) == [("paragraph", (100, 200, 800, 245))]


def test_a_block_no_line_holds_gets_no_box() -> None:
    blocks = [Block("paragraph", "Nothing on the page reads like this sentence."), Block("heading", "Results")]
    lines = [line("Results", 100, 100, 300, 120), line("A completely different line of text", 100, 300, 700, 320)]
    assert boxes(align(blocks, lines, HEIGHT)) == [("paragraph", None), ("heading", (100, 100, 300, 120))]


def test_a_block_whose_lines_cover_too_little_of_it_gets_no_box() -> None:
    long = "The first sentence is on the page. " + "The rest was never spotted by the model at all. " * 4
    lines = [line("The first sentence is on the page.", 100, 100, 700, 120)]
    assert boxes(align([Block("paragraph", long)], lines, HEIGHT)) == [("paragraph", None)]


def test_lines_read_slightly_differently_still_match_but_a_different_reading_does_not() -> None:
    blocks = [Block("paragraph", "The pump was inspected by two engineers.")]
    close = [line("The pump was inspccted by tw0 engineers", 100, 100, 700, 120)]
    far = [line("The pipe was repaired by one plumber", 100, 100, 700, 120)]
    assert align(blocks, close, HEIGHT)[0].box == (100, 100, 700, 120)
    assert align(blocks, far, HEIGHT)[0].box is None


def test_a_table_aligns_whatever_order_its_cells_were_spotted_in() -> None:
    table = read_table(
        "<table><tr><th>Part</th><th>Before</th><th>After</th></tr>"
        "<tr><td>Main valve</td><td>212</td><td>180</td></tr></table>"
    )
    block = Block("table", "Part Before After Main valve 212 180", table=table)
    by_columns = [  # column by column, numbers last
        line("Part", 100, 400, 300, 420),
        line("Main valve", 100, 430, 300, 450),
        line("Before", 300, 400, 500, 420),
        line("After", 500, 400, 700, 420),
        line("212", 300, 430, 500, 450),
        line("180", 500, 430, 700, 450),
    ]
    assert boxes(align([block], by_columns, HEIGHT)) == [("table", (100, 400, 700, 450))]


def test_short_lines_join_a_block_only_next_to_its_lines() -> None:
    block = Block("table", "Part Count Valve 12 Seal 12", table=read_table("<table></table>"))
    lines = [
        line("Part Count", 100, 400, 700, 420),
        line("Valve 12", 100, 425, 700, 445),
        line("Seal", 100, 450, 400, 470),
        line("12", 400, 450, 700, 470),  # next to the table: joins it
        line("12", 400, 950, 700, 970),  # the same text at the foot of the page: the page number
    ]
    assert boxes(align([block], lines, HEIGHT)) == [
        ("table", (100, 400, 700, 470)),
        ("page_footer", (400, 950, 700, 970)),
    ]


def test_columns_read_across_by_the_spotting_still_find_their_paragraphs() -> None:
    left = Block("paragraph", "Left column first line continues on the second line here.")
    right = Block("paragraph", "Right column talks about something else entirely today.")
    lines = [
        line("Left column first line", 50, 100, 450, 120),
        line("Right column talks about", 550, 100, 950, 120),
        line("continues on the second line here.", 50, 125, 450, 145),
        line("something else entirely today.", 550, 125, 950, 145),
    ]
    assert boxes(align([left, right], lines, HEIGHT)) == [
        ("paragraph", (50, 100, 450, 145)),
        ("paragraph", (550, 100, 950, 145)),
    ]


def test_repeated_text_goes_to_the_block_next_in_reading_order() -> None:
    blocks = [Block("heading", "Summary of results"), Block("paragraph", "Summary of results")]
    lines = [line("Summary of results", 100, 100, 500, 120), line("Summary of results", 100, 300, 500, 320)]
    assert boxes(align(blocks, lines, HEIGHT)) == [
        ("heading", (100, 100, 500, 120)),
        ("paragraph", (100, 300, 500, 320)),
    ]


def test_a_block_with_the_models_own_box_keeps_it_and_the_lines_inside_are_no_one_elses() -> None:
    blocks = [Block("picture", box=(100, 500, 900, 800)), Block("paragraph", "PUMP-7 is shown above.")]
    lines = [line("PUMP-7", 400, 600, 600, 620), line("PUMP-7 is shown above.", 100, 820, 600, 840)]
    assert boxes(align(blocks, lines, HEIGHT)) == [
        ("picture", (100, 500, 900, 800)),
        ("paragraph", (100, 820, 600, 840)),
    ]


def test_unplaced_lines_in_the_margins_become_the_running_header_and_footer() -> None:
    blocks = [Block("paragraph", "The body of the page, which document parsing read.")]
    lines = [
        line("ACME Quarterly", 100, 20, 500, 40),
        line("The body of the page, which document parsing read.", 100, 200, 900, 220),
        line("stray words in the body", 100, 500, 400, 520),  # not in a margin: dropped
        line("Page 7", 450, 960, 550, 980),
    ]
    assert [(block.kind, block.text, block.box) for block in align(blocks, lines, HEIGHT)] == [
        ("page_header", "ACME Quarterly", (100, 20, 500, 40)),
        ("paragraph", "The body of the page, which document parsing read.", (100, 200, 900, 220)),
        ("page_footer", "Page 7", (450, 960, 550, 980)),
    ]


def test_no_header_or_footer_is_guessed_when_no_block_was_placed() -> None:
    blocks = [Block("paragraph", "Nothing matches this.")]
    lines = [line("ACME Quarterly", 100, 20, 500, 40), line("Page 7", 450, 960, 550, 980)]
    assert align(blocks, lines, HEIGHT) == blocks


def test_no_lines_leave_every_block_as_it_was() -> None:
    blocks = [Block("heading", "Title"), Block("picture", box=(1, 2, 3, 4))]
    assert align(blocks, [], HEIGHT) == blocks
