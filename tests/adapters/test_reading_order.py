"""Reading order from line boxes alone (``adapters/reading_order.py``): columns whole and in order, running header
and footer apart, paragraphs, vertical CJK right to left — on the shapes a text detector gives."""

from __future__ import annotations

from adapters.reading_order import Box, read_order, text

PAGE = 1300  # px, page height


def _two_columns(left_rows: int = 10, right_rows: int = 10) -> tuple[list[str], list[Box]]:
    """A header, a full-width title, two columns typeset on one grid (rows at the same heights), a page number."""
    texts, boxes = ["Journal of Tests 2026"], [(400.0, 20.0, 700.0, 40.0)]
    texts.append("A Title Across Both Columns")
    boxes.append((100.0, 120.0, 960.0, 150.0))
    for column, (left, right, rows) in enumerate([(100.0, 500.0, left_rows), (560.0, 960.0, right_rows)]):
        for row in range(rows):
            texts.append(f"{'LR'[column]}{row}")
            boxes.append((left, 200.0 + 30 * row, right - (150 if row == rows - 1 else 0), 220.0 + 30 * row))
    texts.append("3")
    boxes.append((520.0, 1260.0, 540.0, 1280.0))
    return texts, boxes


def _words(order_text: str) -> list[str]:
    return order_text.split()


def test_two_columns_on_one_grid_are_read_column_by_column() -> None:
    texts, boxes = _two_columns()
    order = read_order(boxes, PAGE)
    body = [texts[i] for block in order.body for i in block.lines]
    assert body == ["A Title Across Both Columns"] + [f"L{n}" for n in range(10)] + [f"R{n}" for n in range(10)]
    assert [texts[i] for block in order.header for i in block.lines] == ["Journal of Tests 2026"]
    assert [texts[i] for block in order.footer for i in block.lines] == ["3"]
    assert "Journal" not in text(order, texts, boxes, furniture=False)
    full = text(order, texts, boxes)
    assert full.startswith("Journal of Tests 2026\n\nA Title Across Both Columns\n\nL0\nL1\n") and full.endswith(
        "R9\n\n3"
    )


def test_a_column_ending_early_keeps_the_columns_apart() -> None:
    texts, boxes = _two_columns(left_rows=10, right_rows=6)
    order = read_order(boxes, PAGE)
    body = [texts[i] for block in order.body for i in block.lines]
    assert body[1:] == [f"L{n}" for n in range(10)] + [f"R{n}" for n in range(6)]


def test_one_column_reads_top_to_bottom_with_paragraphs() -> None:
    boxes: list[Box] = [
        (100.0, 100.0 + 30 * n + (40 if n >= 3 else 0), 900.0, 120.0 + 30 * n + (40 if n >= 3 else 0)) for n in range(6)
    ]
    texts = [f"line {n}" for n in range(6)]
    assert text(read_order(boxes, PAGE), texts, boxes) == "line 0\nline 1\nline 2\n\nline 3\nline 4\nline 5"


def test_boxes_on_one_row_are_joined_left_to_right() -> None:
    boxes: list[Box] = [(500.0, 100.0, 600.0, 120.0), (100.0, 102.0, 480.0, 121.0), (100.0, 130.0, 600.0, 150.0)]
    assert text(read_order(boxes, PAGE), ["there", "Hello", "next"], boxes) == "Hello there\nnext"


def test_vertical_cjk_columns_read_right_to_left() -> None:
    xs = [800.0, 700.0, 600.0, 500.0]
    boxes: list[Box] = [(x, 100.0, x + 40, 900.0) for x in reversed(xs)]  # given left to right
    texts = ["第四列", "第三列", "第二列", "第一列"]
    order = read_order(boxes, PAGE)
    assert order.vertical and [texts[i] for block in order.body for i in block.lines] == texts[::-1]


def test_an_empty_page_has_no_blocks() -> None:
    order = read_order([], PAGE)
    assert (order.header, order.body, order.footer) == ([], [], []) and text(order, [], []) == ""
