"""The forms real HunyuanOCR answers take, each read as its form: spotting (text runs, JSON in its variants, a
layout answer where spotting was asked), 1.5's layout tags and JSON as they break, loops of long units, non-answers.
The answers quoted here are real ones (``tests/real_answers``) or cut from them; see each file for its source."""

from __future__ import annotations

import pytest

from prompts.layout import Region, read_layout
from prompts.markup import NON_ANSWER, answer_text, is_non_answer, strip_markup
from prompts.postprocess import LoopGuard, cut_repeated_tail
from prompts.spotting import Box, parse_spotting, runs_as_lines, unplaced_text
from tests.corpus import ANSWERS

REAL = {answer.id: answer.answer for answer in ANSWERS}


def test_a_texts_own_parentheses_stay_in_it_and_four_point_boxes_become_their_bounds() -> None:
    output = "is incorrect and indicate change(s) on reverse side(81,587),(305,623)Total(1,2),(9,2),(9,8),(1,8)"
    assert parse_spotting(output, 1000, 1000) == [
        Box("is incorrect and indicate change(s) on reverse side", (81, 587, 305, 623)),
        Box("Total", (1, 2, 9, 8)),
    ]


@pytest.mark.parametrize(
    "output",
    [
        '```json\n[{"box": [100, 200, 300, 400], "text": "Total"}]\n```',
        '[{"bbox": [100, 200, 300, 400], "text": "Total"}]',
        '[{"box": ["100", "200", "300", "400"], "text": "Total"}]',
        '[{"box": [[100, 200], [300, 200], [300, 400], [100, 400]], "text": "Total"}]',
        '{"box": [100, 200, 300, 400], "text": "Total"}\n{"box": [1, 2',  # objects back to back, cut off
        '{"results": [{"box": [100, 200, 300, 400], "text": "Total"}]}',
    ],
)
def test_every_json_spotting_variant_gives_its_box(output: str) -> None:
    assert parse_spotting(output, 1000, 1000) == [Box("Total", (100, 200, 300, 400))]


def test_a_box_that_holds_text_gives_no_box_and_its_words_to_fall_back_on() -> None:
    output = REAL["v15-spotjson-fenced-object-single"]  # ```json {"box": ["OFFICIAL NOTICE"], "text": …}
    assert parse_spotting(output, 1000, 1000) == []
    assert unplaced_text(output) == "OFFICIAL NOTICE"


def test_a_layout_answer_given_for_spotting_gives_a_box_per_region_and_per_run_no_tag_fragments() -> None:
    boxes = parse_spotting(REAL["v15-run00-hymeta-spotting-in-poly"], 1000, 1000)
    texts = [box.text for box in boxes]
    assert texts[:3] == ["500 Superior Ave.", "Suite 250", "Newport Beach, CA 92663-3662"]
    assert boxes[0].box == (179, 184, 316, 238)
    assert not [text for text in texts if "<" in text or not text.strip(",.")]


def test_punctuation_and_markup_alone_never_make_a_box() -> None:
    output = ",(1,2),(3,4)<ref>(5,6),(7,8)<pFig>Caption</pFig>(10,10),(20,20)"
    assert parse_spotting(output, 1000, 1000) == [Box("Caption", (10, 10, 20, 20))]


def test_spotting_runs_inside_a_text_become_its_lines_and_a_figure_box_at_a_lines_end_stays() -> None:
    assert runs_as_lines("Legend (1,2),(3,4)\n500 Superior Ave.(1,2),(3,4)Suite 250(5,6),(7,8)") == (
        "Legend (1,2),(3,4)\n500 Superior Ave.\nSuite 250"
    )


def test_layout_tags_read_however_they_break() -> None:
    answer = (
        "Title<hy-meta><layout>doc_title</layout><poly>1,2,30,2,30,40,1,40</poly></hy-meta>"
        "Body<hy-meta><layout>paragraph<poly>(1,50),(30,50),(30,90),(1,90)"  # </layout>, </poly>, </hy-meta> missing
        "Tail<hy-meta><layout>foot"  # cut inside the last tag
    )
    assert read_layout(answer) == [
        Region("Title", "doc_title", ((1, 2), (30, 2), (30, 40), (1, 40))),
        Region("Body", "paragraph", ((1, 50), (30, 50), (30, 90), (1, 90))),
        Region("Tail", "foot"),
    ]


def test_a_polygon_that_runs_on_into_text_ends_where_its_points_do() -> None:
    regions = read_layout("<hy-meta><layout>paragraph</layout><poly>(69,178),(160,178),(160,347)500 Superior Ave.")
    assert regions[0].points == ((69, 178), (160, 178), (160, 347))
    assert regions[-1].text == "500 Superior Ave."


def test_layout_json_with_unescaped_quotes_or_cut_off_keeps_every_region() -> None:
    answer = (
        '[{"layout_type":"table","bbox":"(1,2),(30,2),(30,40),(1,40)","text":"<table border="1"><tr><td>9</td></tr>'
        '</table>"},{"layout_type":"paragraph","bbox":"(1,50),(30,50),(30,90),(1,90)","text":"Cut \\"here'
    )
    assert [(region.category, region.text) for region in read_layout(answer)] == [
        ("table", '<table border="1"><tr><td>9</td></tr></table>'),
        ("paragraph", 'Cut "here'),
    ]


def test_a_loop_of_a_long_sentence_is_cut_as_tencents_clean_up_cuts_it() -> None:
    sentence = "".join(f"word{index} " for index in range(80))[:485]  # a 485-character unit
    text = "Introduction. " * 10 + sentence * 14 + sentence[:100]
    cleaned, cut = cut_repeated_tail(text, min_chars=2000)
    assert cut and cleaned == "Introduction. " * 10 + sentence + sentence[:100]


def test_the_loop_guard_stops_a_long_unit_loop_while_it_streams() -> None:
    sentence = "".join(f"w{index} " for index in range(200))[:485]
    prefix = "".join(f"line {index}\n" for index in range(400))
    text, guard = prefix, LoopGuard()
    while not guard.looping(text):
        text += sentence[:97]  # a stream's pieces
        sentence = sentence[97:] + sentence[:97]
        assert len(text) < 20_000, "the guard never fired"
    # Eight repeats (the stream check's count), then at most one check interval (1000) and one piece late.
    assert len(text) <= len(prefix) + 8 * 485 + 1000 + 97


@pytest.mark.parametrize("answer", ["图片中没有文字。", "图中没有文字", "<dir>0</dir>", "<trans></trans>", "No text."])
def test_a_non_answer_is_no_text_and_a_warning(answer: str) -> None:
    assert is_non_answer(answer) and answer_text(answer) == ("", (NON_ANSWER,))


def test_a_page_that_is_only_a_box_or_has_words_is_an_answer() -> None:
    assert not is_non_answer("(156,68),(783,758)") and not is_non_answer("Total: 12")
    assert answer_text("<trans>The menu</trans>") == ("The menu", ())


def test_markup_cut_by_the_length_limit_leaves_no_fragment() -> None:
    assert strip_markup("Suite 250<hy-meta><layout>para").strip() == "Suite 250"
    assert strip_markup("Suite 250</pol").strip() == "Suite 250"


def test_punctuation_the_model_read_is_an_answer_not_a_non_answer() -> None:
    assert not is_non_answer("，，。") and answer_text("……") == ("……", ())
