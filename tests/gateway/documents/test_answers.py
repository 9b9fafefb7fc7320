"""1.5's layout answers (hy-meta tags and JSON regions) → blocks with the model's boxes; Markdown otherwise."""

from __future__ import annotations

import json

from gateway.documents.answers import BOX_ONLY, TABLE_CUT, Reading, read_answer
from gateway.documents.blocks import Block
from prompts.markup import NON_ANSWER
from tests.gateway.documents.canned import HEIGHT, LAYOUT_PARSE, WIDTH, pixels


def test_layout_parse_regions_take_their_category_and_box() -> None:
    blocks = read_answer(LAYOUT_PARSE, WIDTH, HEIGHT).blocks
    assert [(block.kind, block.text, block.box) for block in blocks] == [
        ("page_header", "ACME Engineering Quarterly 2026", pixels((60, 15, 560, 35))),
        ("heading", "Pump Maintenance Report", pixels((100, 50, 900, 90))),
        ("paragraph", "Hydraulic pressure measured at 212 bar before service.", pixels((100, 140, 900, 195))),
        ("table", "Part 212", pixels((100, 425, 900, 510))),
        ("picture", "", pixels((100, 700, 900, 900))),
        ("caption", "Figure 1: The pump after service", pixels((250, 910, 750, 935))),
        ("page_footer", "7", pixels((470, 965, 530, 985))),
    ]


def test_a_page_number_at_the_top_is_a_page_header() -> None:
    answer = "12<hy-meta><layout>page_number</layout><quad>(480,10),(520,10),(520,30),(480,30)</quad></hy-meta>"
    assert [block.kind for block in read_answer(answer, 1000, 1000).blocks] == ["page_header"]


def test_a_heading_region_without_hashes_is_a_section_heading_and_a_title_a_title() -> None:
    answer = (
        "Report<hy-meta><layout>title</layout><quad>(0,0),(1000,0),(1000,50),(0,50)</quad></hy-meta>"
        "Results<hy-meta><layout>para_title</layout><quad>(0,60),(1000,60),(1000,90),(0,90)</quad></hy-meta>"
    )
    assert [(block.kind, block.text, block.level) for block in read_answer(answer, 1000, 1000).blocks] == [
        ("heading", "Report", 1),
        ("heading", "Results", 2),
    ]


def test_a_region_cut_off_by_the_length_limit_keeps_its_text_without_a_box() -> None:
    answer = (
        "Intro<hy-meta><layout>paragraph</layout><quad>(0,0),(1000,0),(1000,50),(0,50)</quad></hy-meta>\n"
        "# Closing notes<hy-meta><layout>heading</layout><quad>[[80,220],[920,220]"
    )
    blocks = read_answer(answer, 1000, 1000).blocks
    assert blocks[-1] == Block("heading", "Closing notes", level=1)


def test_layout_json_regions_read_like_the_tags_and_the_layout_task_gives_boxes_only() -> None:
    regions = [
        {"layout_type": "Page-Header", "bbox": "(60,15),(560,15),(560,35),(60,35)", "text": "ACME"},
        {"layout_type": "figure", "bbox": [[100, 700], [900, 700], [900, 900], [100, 900]]},
        {"layout_type": "paragraph", "bbox": "(0,0),(10,10)"},  # the layout task: no text, nothing to keep
        {"layout_type": "formula", "bbox": "(0,0),(10,10)", "text": "$$x^2$$"},
        {"not": "a region"},
    ]
    blocks = read_answer(json.dumps(regions), WIDTH, HEIGHT).blocks
    assert [(block.kind, block.text, block.box) for block in blocks] == [
        ("page_header", "ACME", pixels((60, 15, 560, 35))),
        ("picture", "", pixels((100, 700, 900, 900))),
        ("formula", "x^2", pixels((0, 0, 10, 10))),
    ]


def test_an_answer_that_is_neither_form_is_markdown() -> None:
    assert read_answer('["just", "a list"]', 100, 100).blocks == [Block("paragraph", '["just", "a list"]')]
    assert read_answer("[not json but layout_type", 100, 100).blocks == [
        Block("paragraph", "[not json but layout_type")
    ]


def test_a_non_answer_is_an_empty_page_with_a_warning() -> None:
    for answer in ("图片中没有文字。", "<dir>0</dir>"):
        assert read_answer(answer, 100, 100) == Reading([], (NON_ANSWER,))


def test_a_page_that_is_only_boxes_says_its_text_was_not_read() -> None:
    reading = read_answer("(156,68),(783,758)", 1000, 1000)
    assert [block.kind for block in reading.blocks] == ["picture"] and reading.warnings == (BOX_ONLY,)
    layout_only = '[{"layout_type":"paragraph","bbox":"(7,38),(952,38),(952,998),(7,998)"}]'
    assert read_answer(layout_only, 1000, 1000) == Reading([], (BOX_ONLY,))


def test_a_table_cut_by_the_length_limit_is_kept_and_said_so() -> None:
    reading = read_answer("<table><tr><td>Part</td><td>Count</td></tr><tr><td>Seal", 100, 100)
    assert [block.text for block in reading.blocks] == ["Part Count Seal"] and reading.warnings == (TABLE_CUT,)


def test_categories_seen_in_real_answers_take_their_kinds() -> None:
    box = "(0,0),(1000,0),(1000,50),(0,50)"
    answer = "".join(
        f'{{"layout_type":"{category}","bbox":"{box}","text":"{text}"}},'
        for category, text in [("sub_title", "Results"), ("chart_caption", "Fig. 2"), ("table_note", "n=12")]
    )
    blocks = read_answer(f"[{answer.rstrip(',')}]", 1000, 1000).blocks
    assert [(block.kind, block.text) for block in blocks] == [
        ("heading", "Results"),
        ("caption", "Fig. 2"),
        ("footnote", "n=12"),
    ]


def test_a_layout_answer_that_turned_into_spotting_keeps_its_words_as_lines() -> None:
    answer = (
        "<hy-meta><layout>paragraph</layout><poly>(69,178),(160,178),(160,347)"
        "500 Superior Ave.(179,184),(316,238)Suite 250(179,238),(255,275)"
    )
    assert [block.text for block in read_answer(answer, 1000, 1000).blocks] == ["500 Superior Ave.\nSuite 250"]
