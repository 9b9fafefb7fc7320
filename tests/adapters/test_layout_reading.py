"""A page read region by region (``adapters/layout_reading.py``): lines grouped by the layout's regions, regions in
reading order, and the document answer written as HunyuanOCR writes one, so ``gateway/documents/markdown.py`` reads
it into headings, pictures, captions and tables."""

from __future__ import annotations

from adapters.layout_reading import document_markdown, page_parts, plain_text
from adapters.rapidocr_layout import Region
from adapters.reading_order import Box
from gateway.documents.markdown import read_markdown

SIZE = (1000, 1400)
LINE = 20  # px: every line's height


def line(x: float, y: float, width: float = 400) -> Box:
    return (x, y, x + width, y + LINE)


# A page: running header, a title (its region narrower than its line, as the model draws them), two columns of
# two lines each, a figure with a label inside and its caption below, a two-row table, a page number.
TEXTS = ["Journal of Tests", "A Title", "left one", "left two.", "right one", "right two."]
BOXES = [line(400, 30, 200), line(100, 120, 600), line(100, 200), line(100, 225), line(540, 200), line(540, 225)]
TEXTS += ["axis label", "Figure 1: A chart", "Name Value", "alpha 1", "12"]
BOXES += [line(200, 500, 100), line(200, 760, 300), line(100, 900, 300), line(100, 930, 300), line(490, 1350, 20)]
REGIONS = [
    Region("header", (390, 25, 610, 55)),
    Region("title", (250, 118, 500, 142)),
    Region("text", (95, 195, 505, 250)),
    Region("text", (535, 195, 945, 250)),
    Region("figure", (150, 400, 700, 740)),
    Region("figure_caption", (195, 755, 505, 785)),
    Region("table", (95, 895, 405, 955)),
    Region("footer", (480, 1345, 515, 1375)),
]


def test_regions_are_read_in_order_and_the_header_and_footer_kept_out_of_the_document() -> None:
    parts = page_parts(BOXES, REGIONS, SIZE[1])
    assert [part.kind for part in parts] == [
        "header", "title", "text", "text", "figure", "figure_caption", "table", "footer"
    ]  # fmt: skip
    text = plain_text(parts, TEXTS, BOXES)
    assert text.startswith("Journal of Tests") and text.endswith("12")
    assert text.index("left two") < text.index("right one")  # the left column whole, then the right
    assert "Name Value\nalpha 1" in text  # a table read row by row
    markdown = document_markdown(parts, TEXTS, BOXES, SIZE)
    assert "Journal of Tests" not in markdown and "12" not in markdown.split()
    assert markdown.startswith("# A Title\n\nleft one left two.\n\nright one right two.")  # wrapped lines run on


def test_the_document_answer_reads_back_as_a_heading_a_captioned_picture_and_paragraphs() -> None:
    markdown = document_markdown(page_parts(BOXES, REGIONS, SIZE[1]), TEXTS, BOXES, SIZE)
    assert "Figure 1: A chart(150,286),(700,529)" in markdown  # HunyuanOCR's figure: caption, then its box
    assert "axis label" not in markdown  # words inside a figure stay with it, as the model leaves them
    blocks = read_markdown(markdown, *SIZE)
    kinds = [(block.kind, block.text) for block in blocks]
    assert kinds[0] == ("heading", "A Title") and blocks[0].level == 1
    assert ("picture", "") in kinds and ("caption", "Figure 1: A chart") in kinds
    assert [block.box for block in blocks if block.kind == "picture"] == [(150, 400, 700, 741)]


def test_a_table_the_table_reader_reads_is_html_with_its_caption_inside() -> None:
    texts = [*TEXTS, "Table 2: Values"]
    boxes = [*BOXES, line(100, 860, 300)]
    regions = [*REGIONS, Region("table_caption", (95, 855, 405, 885))]
    seen: list[tuple[Box, list[int]]] = []

    def read_table(box: Box, lines: list[int]) -> str:
        seen.append((box, lines))
        return "<table><tr><td>Name</td><td>Value</td></tr><tr><td>alpha</td><td>1</td></tr></table>"

    parts = page_parts(boxes, regions, SIZE[1])
    markdown = document_markdown(parts, texts, boxes, SIZE, read_table)
    assert seen == [((95, 895, 405, 955), [8, 9])]
    assert "<table><caption>Table 2: Values</caption><tr><td>Name</td>" in markdown
    tables = [block for block in read_markdown(markdown, *SIZE) if block.kind == "table"]
    assert len(tables) == 1 and tables[0].table is not None


def test_without_regions_the_page_reads_as_reading_order_alone() -> None:
    parts = page_parts(BOXES, [], SIZE[1])
    assert {part.kind for part in parts} <= {"header", "text", "footer"}
    text = plain_text(parts, TEXTS, BOXES)
    assert text.startswith("Journal of Tests") and text.index("left two") < text.index("right one")
    assert "Journal of Tests" not in document_markdown(parts, TEXTS, BOXES, SIZE)


def test_a_line_in_no_region_is_kept_where_it_stands() -> None:
    texts = [*TEXTS, "stray note"]
    boxes = [*BOXES, line(100, 1100, 200)]
    parts = page_parts(boxes, REGIONS, SIZE[1])
    markdown = document_markdown(parts, texts, boxes, SIZE)
    assert markdown.rstrip().endswith("stray note")


def test_body_lines_the_model_calls_a_header_stay_in_the_document() -> None:
    """Found on a scan of two lines in 48-px print 12% down a Letter page: the model drew a text region and a
    header region over both lines (and, on the next page, a header over the first line alone)."""
    texts = ["Quarterly maintenance report", "Hydraulic pressure 212 bar", "Invoice 2024-0815"]
    boxes = [line(150, 210, 600), line(150, 240, 900), line(150, 500, 900)]
    regions = [Region("text", (150, 209, 1443, 347)), Region("header", (226, 211, 1441, 345))]
    regions += [Region("header", (150, 495, 1060, 525))]
    parts = page_parts(boxes, regions, 1650)
    assert [part.kind for part in parts] == ["text", "header"] and not any(part.furniture for part in parts)
    markdown = document_markdown(parts, texts, boxes, (1275, 1650))
    assert markdown == "Quarterly maintenance report\nHydraulic pressure 212 bar\n\nInvoice 2024-0815"  # short lines


def test_wrapped_prose_runs_on_and_bulleted_lines_become_list_items() -> None:
    texts = [
        "Pumps were serviced in every station this quarter and the report",
        "below lists what was replaced, station by station, before it closes.",
        "• Station seven: the main seal",
        "• Station nine: two bearings",
    ]
    boxes = [line(100, 100, 800), line(100, 125, 805), line(100, 150, 400), line(100, 175, 380)]
    markdown = document_markdown(page_parts(boxes, [], 1400), texts, boxes, SIZE)
    assert markdown.startswith("Pumps were serviced in every station this quarter and the report below lists")
    blocks = read_markdown(markdown, *SIZE)
    assert [(block.kind, block.text) for block in blocks[1:]] == [
        ("list_item", "Station seven: the main seal"),
        ("list_item", "Station nine: two bearings"),
    ]


def test_a_figure_over_lines_of_prose_is_read_as_text() -> None:
    """Found on a real brochure page in a printed frame: the model took the whole page for one figure."""
    texts = [f"line {n} of a paragraph that runs the full width of its column" for n in range(4)]
    boxes = [line(100, 200 + 25 * n, 700) for n in range(4)]
    markdown = document_markdown(
        page_parts(boxes, [Region("figure", (50, 50, 950, 1300))], SIZE[1]), texts, boxes, SIZE
    )
    assert markdown == " ".join(texts)


def test_tall_regions_of_a_horizontal_page_are_read_left_to_right() -> None:
    """Two columns of references are taller than wide, as is a page number: the page is still horizontal."""
    texts = [f"[{n}] A reference of the {side} column" for side in ("left", "right") for n in range(6)]
    boxes = [line(x, 200 + 25 * n, 380) for x in (100, 540) for n in range(6)]
    regions = [Region("reference", (95, 195, 485, 355)), Region("reference", (535, 195, 925, 355))]
    markdown = document_markdown(page_parts(boxes, regions, SIZE[1]), texts, boxes, SIZE)
    assert markdown.index("left column") < markdown.index("right column")


def test_a_footnote_of_several_lines_at_the_foot_of_the_page_stays_in_the_body() -> None:
    texts = ["Body text of the page.", "1 A footnote that runs", "over three lines at the", "foot of the page."]
    boxes = [line(100, 200), line(100, 1300, 300), line(100, 1322, 300), line(100, 1344, 300)]
    regions = [Region("text", (95, 195, 505, 225)), Region("text", (95, 1295, 405, 1370))]
    parts = page_parts(boxes, regions, SIZE[1])
    assert not any(part.furniture for part in parts)
    assert "foot of the page." in document_markdown(parts, texts, boxes, SIZE)


def test_two_text_regions_are_two_paragraphs_and_a_logo_takes_no_line() -> None:
    texts = ["The first paragraph runs the width of the column and", "ends here.", "A second paragraph."]
    boxes = [line(100, 100, 800), line(100, 122, 100), line(100, 150, 800)]
    regions = [Region("text", (95, 95, 905, 145)), Region("text", (95, 148, 905, 172))]
    regions += [Region("figure", (860, 95, 900, 125))]  # a small logo over the end of the first line
    markdown = document_markdown(page_parts(boxes, regions, SIZE[1]), texts, boxes, SIZE)
    paragraphs = markdown.split("\n\n")
    assert paragraphs[0] == "(860,68),(900,89)"  # the logo, as a figure
    assert paragraphs[1:] == ["The first paragraph runs the width of the column and ends here.", "A second paragraph."]


def test_a_caption_with_markup_stays_a_caption() -> None:
    texts = ["Table 2: a<b</caption> & more", "Name Value"]
    boxes = [line(100, 860, 300), line(100, 900, 300)]
    regions = [Region("table_caption", (95, 855, 405, 885)), Region("table", (95, 895, 405, 925))]
    markdown = document_markdown(
        page_parts(boxes, regions, SIZE[1]), texts, boxes, SIZE, lambda box, lines: "<table><tr><td>x</td></tr></table>"
    )
    assert "<caption>Table 2: a&lt;b&lt;/caption&gt; &amp; more</caption>" in markdown
    [table] = [block for block in read_markdown(markdown, *SIZE) if block.kind == "table"]
    assert table.table is not None and [cell.text for cell in table.table.cells] == ["x"]


def test_text_regions_of_two_columns_a_narrow_gutter_apart_are_read_column_by_column() -> None:
    """Found on a handbook page at 150 dpi: justified columns 23 px apart with 24-px lines, the detected lines
    standing a few pixels past their regions into the gutter, paragraphs of both columns level with each other."""
    texts = [f"{side} paragraph {n}." for side in ("Left", "Right") for n in (1, 2)]
    boxes = [line(x, y, 398) for x in (96, 502) for y in (200, 270)]
    regions = [Region("text", (x, y, x + 388, y + 20)) for x in (100, 504) for y in (200, 270)]
    markdown = document_markdown(page_parts(boxes, regions, SIZE[1]), texts, boxes, SIZE)
    assert markdown.split("\n\n") == texts


def test_a_paragraph_cut_by_a_column_break_runs_on_over_the_figure_below_it() -> None:
    """Found on a handbook page: a left column's last paragraph ends mid-sentence above a figure and its caption
    and goes on at the top of the right column; the figure is read after the paragraph, not inside it."""
    texts = ["Nuts are made in three styles. The wing type that is", "the most common ranges in size.", "Figure 7"]
    boxes = [line(100, 700), line(540, 200), line(100, 1100, 100)]
    regions = [Region("text", (95, 695, 505, 725)), Region("text", (535, 195, 945, 225))]
    regions += [Region("figure", (95, 800, 505, 1080)), Region("figure_caption", (95, 1095, 205, 1125))]
    markdown = document_markdown(page_parts(boxes, regions, SIZE[1]), texts, boxes, SIZE)
    assert markdown.split("\n\n") == [
        "Nuts are made in three styles. The wing type that is the most common ranges in size.",
        "Figure 7(95,571),(505,771)",
    ]


def test_a_running_header_twelve_percent_down_the_page_is_kept_out_of_the_document() -> None:
    """Found on a paper's page set on Letter paper: its running header and page number 12% down the page."""
    texts = ["Optimized Table Tokenization", "9", "Body text of the page.", "More body text."]
    boxes = [line(400, 190, 500), line(990, 190, 15), line(280, 241), line(280, 400)]
    regions = [Region("header", (404, 193, 896, 207)), Region("text", (275, 236, 685, 265))]
    regions += [Region("text", (275, 395, 685, 425))]
    parts = page_parts(boxes, regions, 1650)
    assert [part.furniture for part in parts] == [True, True, False, False]
    assert document_markdown(parts, texts, boxes, (1275, 1650)) == "Body text of the page.\n\nMore body text."
