"""Lines with boxes normalised to the page: from spotting pixels, through the lines file, onto the MediaBox."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.documents.page_lines import PageLines, TextLine, normalised, onto_media_box, read_lines, write_lines
from prompts.spotting import Box

LETTER = (0.0, 0.0, 612.0, 792.0)


def test_pixel_boxes_become_shares_of_the_image_clamped_and_in_order() -> None:
    assert normalised((170, 220, 850, 440), 1700, 2200) == (0.1, 0.1, 0.5, 0.2)
    assert normalised((1800, 2300, -10, 1100), 1700, 2200) == (0.0, 0.5, 1.0, 1.0)


def test_a_page_of_spotting_boxes_in_pixels_becomes_normalised_lines() -> None:
    page = PageLines.from_boxes(2, [Box("Total", (100, 50, 300, 100))], 1000, 500)
    assert page == PageLines(2, [TextLine("Total", (0.1, 0.1, 0.3, 0.2))])
    assert page.lines[0].in_pixels(2000, 1000) == (200, 100, 600, 200)


def test_the_lines_file_round_trips_every_page_and_script(tmp_path: Path) -> None:
    pages = [
        PageLines(1, [TextLine("Invoice 2024-0815", (0.1, 0.1, 0.5, 0.12))]),
        PageLines(3, [TextLine("订单号 A1234 已发货", (0.08, 0.17, 0.3, 0.2)), TextLine("", (0, 0, 1, 1))]),
    ]
    write_lines(tmp_path / "lines.json", pages)
    assert read_lines(tmp_path / "lines.json") == {page.number: page.lines for page in pages}


def test_the_lines_file_skips_lines_whose_box_is_not_four_numbers(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text(
        '{"pages": [{"number": 1, "lines": [{"text": "a", "box": [0, 0, 1]}, {"text": "b", "box": "x"},'
        ' {"text": "c", "box": [0.5, 0.5, 0.25, 2]}, {"box": [0, 0, 1, 1]}]}]}'
    )
    assert read_lines(path) == {1: [TextLine("c", (0.25, 0.5, 0.5, 1.0)), TextLine("", (0.0, 0.0, 1.0, 1.0))]}


@pytest.mark.parametrize("rotation", [0, 90, 180, 270, -90, 450])
def test_a_page_whose_cropbox_is_its_mediabox_keeps_its_boxes_however_it_is_turned(rotation: int) -> None:
    assert onto_media_box((0.1, 0.2, 0.4, 0.3), LETTER, LETTER, rotation) == pytest.approx((0.1, 0.2, 0.4, 0.3))


def test_a_box_on_a_cropped_page_moves_to_where_it_is_on_the_whole_mediabox() -> None:
    # CropBox 36..576 × 72..756 pt of a Letter MediaBox: the crop's top-left corner is 36 pt in and 36 pt down.
    crop = (36.0, 72.0, 576.0, 756.0)
    moved = onto_media_box((0.0, 0.0, 1.0, 1.0), crop, LETTER, 0)
    assert moved == pytest.approx((36 / 612, 36 / 792, 576 / 612, 720 / 792))
    middle = onto_media_box((0.5, 0.5, 0.5, 0.5), crop, LETTER, 0)
    assert middle == pytest.approx((306 / 612, 378 / 792, 306 / 612, 378 / 792))


def test_a_box_on_a_cropped_turned_page_stays_on_the_same_printed_spot() -> None:
    # Turned 90° clockwise, the shown page is the crop lying on its side: the shown top-left corner is the crop's
    # bottom-left (36, 72) pt, which is at 36/612 across and 720/792 down the unturned MediaBox; shown, that point
    # is at 1 - 720/792 across and 36/612 down.
    crop = (36.0, 72.0, 576.0, 756.0)
    x1, y1, _, _ = onto_media_box((0.0, 0.0, 0.0, 0.0), crop, LETTER, 90)
    assert (x1, y1) == pytest.approx((1 - 720 / 792, 36 / 612))
    whole = onto_media_box((0.0, 0.0, 1.0, 1.0), crop, LETTER, 90)
    assert whole == pytest.approx((1 - 720 / 792, 36 / 612, 1 - 36 / 792, 576 / 612))
