"""Lines → words placed by splitting the line's box → OCRmyPDF's element tree."""

from __future__ import annotations

import pytest
from ocrmypdf import OcrClass

from gateway.documents.text_layer import character_width, page_tree, split_words


def test_a_lines_box_is_cut_in_proportion_to_its_characters_widths_spaces_included() -> None:
    digit, space = character_width("0"), character_width(" ")  # Noto Sans's digits are all one width
    per_em = 700 / (6 * digit + space)
    assert split_words("12 3456", (100, 20, 800, 40)) == [
        ("12", pytest.approx((100, 20, 100 + 2 * digit * per_em, 40))),
        ("3456", pytest.approx((100 + (2 * digit + space) * per_em, 20, 800, 40))),
    ]


def test_narrow_letters_get_less_of_the_line_than_wide_ones() -> None:
    (_, narrow), (_, wide) = split_words("iiii WWWW", (0, 0, 1000, 10))
    assert (narrow[2] - narrow[0]) * 3 < wide[2] - wide[0]


def test_a_wide_character_the_font_lacks_counts_one_em() -> None:
    assert [character_width(c) for c in "订，あ한"] == [1.0] * 4
    digit, space = character_width("1"), character_width(" ")
    per_em = 100 / (2 + space + 2 * digit)
    assert split_words("订单 12", (0, 0, 100, 10)) == [
        ("订单", pytest.approx((0, 0, 2 * per_em, 10))),
        ("12", pytest.approx(((2 + space) * per_em, 0, 100, 10))),
    ]


def test_a_cjk_line_without_spaces_is_one_word_over_the_whole_box() -> None:
    assert split_words("今天天气很好，我们去公园散步。", (5, 5, 305, 25)) == [
        ("今天天气很好，我们去公园散步。", (5, 5, 305, 25))
    ]


def test_spaces_around_a_line_take_no_room_and_runs_of_spaces_keep_theirs() -> None:
    digit, space = character_width("0"), character_width(" ")
    per_em = 100 / (2 * digit + 2 * space)
    assert split_words("  1  2 ", (0, 0, 100, 10)) == [
        ("1", pytest.approx((0, 0, digit * per_em, 10))),
        ("2", pytest.approx((100 - digit * per_em, 0, 100, 10))),
    ]
    assert split_words("   ", (0, 0, 40, 10)) == []


def test_the_page_tree_has_a_line_per_line_holding_its_words() -> None:
    tree = page_tree([("Total 12", (10, 10, 90, 30)), ("订单号", (10, 40, 70, 60))], 100, 200, 200.0, 3)
    assert tree.ocr_class == OcrClass.PAGE and tree.page_number == 3 and tree.dpi == 200.0
    assert (tree.bbox.right, tree.bbox.bottom) == (100, 200)
    assert [line.ocr_class for line in tree.children] == [OcrClass.LINE, OcrClass.LINE]
    assert [[word.text for word in line.children] for line in tree.children] == [["Total", "12"], ["订单号"]]
    assert [word.ocr_class for word in tree.words] == [OcrClass.WORD] * 3
    words = [(word.text, (word.bbox.left, word.bbox.top, word.bbox.right, word.bbox.bottom)) for word in tree.words]
    assert words[:2] == split_words("Total 12", (10, 10, 90, 30))


def test_boxes_are_clamped_into_the_page_lines_without_text_left_out_and_flat_ones_kept_a_pixel_high() -> None:
    tree = page_tree(
        [("out", (-20, -5, 40, 15)), ("", (0, 0, 50, 50)), ("flat", (10, 30, 60, 30)), ("ok", (60, 80, 150, 99))],
        100,
        100,
        72.0,
        0,
    )
    assert [line.get_text_recursive() for line in tree.children] == ["out", "flat", "ok"]
    first, flat, last = (line.bbox for line in tree.children)
    assert (first.left, first.top, first.right, first.bottom) == (0, 0, 40, 15)
    assert (flat.top, flat.bottom) == (30, 31)  # the model wrote a box of no height: its words still count
    assert (last.left, last.right) == (60, 100)


def test_a_vertical_line_is_set_one_character_under_the_other_and_a_block_over_several_lines() -> None:
    vertical = page_tree([("茶餘酒後", (400, 0, 450, 400))], 1000, 1000, 72.0, 0)
    assert [line.get_text_recursive() for line in vertical.children] == ["茶", "餘", "酒", "後"]
    assert [line.bbox.top for line in vertical.children] == [0, 100, 200, 300]
    caption = "Figure 4 | To test model performance under different compression ratios we configure it"
    block = page_tree([(caption, (100, 50, 870, 240))], 1000, 1000, 72.0, 0)
    assert len(block.children) > 2 and " ".join(line.get_text_recursive() for line in block.children) == caption
    one_line = page_tree([("Hydraulic pressure 212 bar", (100, 0, 400, 20))], 1000, 1000, 72.0, 0)
    assert len(one_line.children) == 1


@pytest.mark.parametrize("text", ["Hydraulic pressure 212 bar", "订单号 A1234 已发货", "مرحبا بالعالم"])
def test_words_tile_the_line_box_from_its_left_to_its_right_edge(text: str) -> None:
    words = split_words(text, (100, 0, 400, 20))
    assert [word for word, _ in words] == text.split()
    assert words[0][1][0] == 100 and words[-1][1][2] == pytest.approx(400)
    assert all(left < right for _, (left, _, right, _) in words)
    assert all(a[1][2] < b[1][0] for a, b in zip(words, words[1:], strict=False))  # in order, a gap between
