"""Loop clean-up and spotting parsing, on hand-made model outputs."""

from __future__ import annotations

from prompts.catalog import load_prompt_set
from prompts.postprocess import LoopGuard, cut_repeated_tail
from prompts.spotting import Box, parse_spotting
from tests.prompts.hangs import fails_if_it_hangs


def test_long_text_ending_in_ten_repeats_keeps_one_copy() -> None:
    text = "Invoice 42\n" + "x" * 8000 + "total: 5;" * 12
    cleaned, cut = cut_repeated_tail(text, min_chars=8000)
    assert cut and cleaned.endswith("x" * 10 + "total: 5;") and not cleaned.endswith("total: 5;" * 2)


def test_short_or_non_repeating_text_is_left_alone() -> None:
    assert cut_repeated_tail("ab" * 20, min_chars=8000) == ("ab" * 20, False)
    text = "".join(chr(65 + i % 26) + str(i) for i in range(3000))
    assert cut_repeated_tail(text, min_chars=10) == (text, False)


def test_loop_guard_stops_a_synthetic_looping_stream_and_not_a_normal_one() -> None:
    guard, stream, stopped_at = LoopGuard(start=4000, every=1000, min_repeats=8), "", None
    for step in range(2000):
        stream += f"line {step}\n" if step < 400 else "the same line\n"
        if guard.looping(stream):
            stopped_at = step
            break
    assert stopped_at is not None and stopped_at < 600
    normal, calm = "", LoopGuard(start=100, every=50, min_repeats=8)
    assert not calm.due(99) and calm.due(100)
    assert not any(calm.looping(normal := normal + f"word{index} ") for index in range(2000))


def test_hunyuan_spotting_format_becomes_pixel_boxes() -> None:
    output = "Hello(100,200),(300,250)World 2(0,0),(1000,1000)"
    assert parse_spotting(output, width=2000, height=1000) == [
        Box("Hello", (200, 200, 600, 250)),
        Box("World 2", (0, 0, 2000, 1000)),
    ]


def test_json_spotting_format_becomes_pixel_boxes_and_skips_bad_items() -> None:
    output = '[{"box": [500, 0, 1000, 100], "text": "Total"}, {"box": [1, 2], "text": "bad"}, "junk"]'
    assert parse_spotting(output, width=640, height=480) == [Box("Total", (320, 0, 640, 48))]


def test_out_of_range_and_swapped_coordinates_are_clamped_and_ordered() -> None:
    assert parse_spotting("x(1200,900),(-5,100)", width=100, height=100) == [Box("x", (0, 10, 100, 90))]


def test_loop_guard_lets_dot_leaders_and_form_blanks_through() -> None:
    guard, text = LoopGuard(start=4000, every=1000, min_repeats=8), ""
    for entry in range(400):
        text += f"Chapter {entry} " + "." * 40 + f" {entry * 3}\n" + "Name: ________  Date: ________\n"
        assert not guard.looping(text)


def test_spotting_parser_cannot_hang_on_broken_output() -> None:
    # Milliseconds when linear. A pattern that reads each item's text by backtracking (what this parser once
    # was) rescans to the end from every "(" when no complete item follows: hours on these.
    with fails_if_it_hangs():
        assert parse_spotting("(" * 200_000, 1000, 1000) == []
        assert parse_spotting("(1,2) " * 40_000, 1000, 1000) == []
        boxes = parse_spotting("(" * 200_000 + "x(1,2),(3,4)", 1000, 1000)
    assert boxes == [Box("(" * 200_000 + "x", (1, 2, 3, 4))]


def test_loop_guard_reads_its_first_check_from_the_prompt_sets_settings() -> None:
    assert LoopGuard(start=100).start == 100
    assert LoopGuard().start == LoopGuard(**load_prompt_set("1.5").stream_loop_check or {}).start == 4000
