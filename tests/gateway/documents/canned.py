"""Canned HunyuanOCR answers for one scanned page: what document parsing and spotting say about it.

The page image is 1700 × 2200 pixels (Letter at 200 dpi); the model's coordinates are 0–1000 of it, so a box
``(x1, y1, x2, y2)`` lands at ``x · 1.7``, ``y · 2.2`` in pixels (``pixels`` below, written out by hand rather than
with the code under test).
"""

from __future__ import annotations

import json

WIDTH, HEIGHT = 1700, 2200

# The `document` task: Markdown, HTML table with a rowspan and a colspan, LaTeX, a figure given by its box with
# its legend, no running header (the prompt says to leave headers and footers out).
DOCUMENT = r"""# Pump Maintenance Report

## 1 Introduction

Hydraulic pressure measured at 212 bar before service.
The pump was inspected by two engineers.

1. Drain the oil
2. Replace the filter
   - use a torque wrench

压力测试合格，设备运行正常。

$$
E = mc^2
$$

Table 1: Pressures
<table><tr><th rowspan="2">Part</th><th colspan="2">Pressure (bar)</th></tr>
<tr><td>Before</td><td>After</td></tr>
<tr><td>Main valve</td><td>212</td><td>180</td></tr></table>

Figure 1: The pump after service(100,700),(900,900)
"""

# The spotting task on the same page, top to bottom, boxes in 0–1000.
LINES: list[tuple[str, tuple[int, int, int, int]]] = [
    ("ACME Engineering Quarterly 2026", (60, 15, 560, 35)),  # the running header
    ("Pump Maintenance Report", (100, 50, 900, 90)),
    ("1 Introduction", (100, 100, 400, 125)),
    ("Hydraulic pressure measured at 212 bar before service.", (100, 140, 900, 165)),
    ("The pump was inspected by two engineers.", (100, 170, 800, 195)),
    ("1. Drain the oil", (120, 210, 500, 232)),
    ("2. Replace the filter", (120, 240, 500, 262)),
    ("use a torque wrench", (160, 268, 520, 290)),
    ("压力测试合格，设备运行正常。", (100, 300, 600, 325)),
    ("E=mc2", (400, 340, 600, 370)),
    ("Table 1: Pressures", (100, 390, 500, 415)),
    ("Part", (100, 425, 300, 450)),
    ("Pressure (bar)", (300, 425, 900, 450)),
    ("Before", (300, 455, 600, 480)),
    ("After", (600, 455, 900, 480)),
    ("Main valve", (100, 485, 300, 510)),
    ("212", (300, 485, 600, 510)),
    ("180", (600, 485, 900, 510)),
    ("PUMP-7", (450, 780, 550, 800)),  # printed inside the figure
    ("Figure 1: The pump after service", (250, 910, 750, 935)),
    ("Page 7", (470, 965, 530, 985)),  # the running footer
]


def spotting_v1(lines: list[tuple[str, tuple[int, int, int, int]]] = LINES) -> str:
    """1.0's spotting answer: ``text(x1,y1),(x2,y2)`` back to back."""
    return "".join(f"{text}({x1},{y1}),({x2},{y2})" for text, (x1, y1, x2, y2) in lines)


def spotting_v15(lines: list[tuple[str, tuple[int, int, int, int]]] = LINES) -> str:
    """1.5's ``spotting_json`` answer."""
    return json.dumps([{"box": list(box), "text": text} for text, box in lines], ensure_ascii=False)


def pixels(box: tuple[int, int, int, int]) -> tuple[float, float, float, float]:
    """A 0–1000 box in pixels of the canned page."""
    x1, y1, x2, y2 = box
    return (round(x1 * 1.7), round(y1 * 2.2), round(x2 * 1.7), round(y2 * 2.2))


def line_box(text: str) -> tuple[int, int, int, int]:
    return next(box for line, box in LINES if line == text)


def union(*texts: str) -> tuple[float, float, float, float]:
    """The pixel box around the named spotted lines."""
    boxes = [pixels(line_box(text)) for text in texts]
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


# 1.5's layout_parse: every region followed by its category and box.
LAYOUT_PARSE = (
    "ACME Engineering Quarterly 2026<hy-meta><layout>header</layout>"
    "<quad>(60,15),(560,15),(560,35),(60,35)</quad></hy-meta>\n"
    "# Pump Maintenance Report<hy-meta><layout>title</layout>"
    "<quad>(100,50),(900,50),(900,90),(100,90)</quad></hy-meta>\n"
    "Hydraulic pressure measured at 212 bar before service.<hy-meta><layout>paragraph</layout>"
    "<poly>[[100,140],[900,140],[900,195],[100,195]]</poly></hy-meta>\n"
    "<table><tr><td>Part</td><td>212</td></tr></table><hy-meta><layout>table</layout>"
    "<quad>(100,425),(900,425),(900,510),(100,510)</quad></hy-meta>\n"
    "<hy-meta><layout>figure</layout><quad>(100,700),(900,700),(900,900),(100,900)</quad></hy-meta>\n"
    "Figure 1: The pump after service<hy-meta><layout>figure_title</layout>"
    "<quad>(250,910),(750,910),(750,935),(250,935)</quad></hy-meta>\n"
    "7<hy-meta><layout>page_number</layout><quad>(470,965),(530,965),(530,985),(470,985)</quad></hy-meta>"
)
