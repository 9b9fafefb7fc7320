"""Pages of known text as a scanner gives them (black print on white at a page size and DPI), and the character
error rate of a reading of them. Fonts come from Debian packages (the Makefile's ``DEBIAN_TEST_PACKAGES``)."""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

DEJAVU = "/usr/share/fonts/truetype/dejavu"  # fonts-dejavu-core
LATIN_FONT = f"{DEJAVU}/DejaVuSans.ttf"
CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # fonts-wqy-zenhei
LETTER = (8.5, 11.0)  # inches
CJK = "[\u2e80-\u9fff]"  # radicals, CJK punctuation, kana, ideographs
WORDS = (
    "pressure valve pump station filter cartridge report service inspection hours measured before after replaced "
    "technician signature invoice total amount due payment account customer order shipped delivery warehouse "
    "quantity unit price discount tax net gross balance reference contract clause party agreement effective date "
    "term renewal notice period schedule maintenance engine turbine bearing shaft seal gasket temperature voltage "
    "current resistance sample batch laboratory result method analysis approved rejected pending review meeting "
    "minutes agenda action owner deadline budget forecast quarter revenue margin the of and to in for on with at by "
    "from per or is was be are not all new first last next each"
).split()
SENTENCES = (
    "本合同自双方签字之日起生效，有效期为一年。",
    "如有争议，双方应友好协商解决。",
    "今天天气很好，我们去公园散步。",
    "请在下周五之前提交报告。",
    "北京市海淀区中关村大街一号",
    "文字识别技术可以把图片中的文字转换成文本。",
    "会议时间改为星期二下午三点。",
    "价格：人民币一百二十元",
    "设备运行正常，压力测试合格。",
    "订单号码为二零二五零三一四，请妥善保管。",
    "本产品保修期为两年，人为损坏不在保修范围内。",
    "第三季度营业收入同比增长百分之十二。",
    "请将发票寄往上海市浦东新区世纪大道一百号。",
    "检验结果：合格，批准出厂。",
)
# The page of the report (issue 15): RapidOCR's own pipeline read its second line as noise ("Hys…bice") once the
# gateway had shrunk the page to the engine's 2000-px limit, its orientation classifier having turned it over.
REPORTED_LINES = [
    "Maintenance report for pump station 7",
    "Hydraulic pressure measured at 212 bar before service",
    "Filter cartridges replaced on 14 March 2025",
    "Next inspection due in 6 months or 1,500 hours",
    "Technician: J. Alvarez, signature on file",
]


@dataclass(frozen=True)
class Page:
    """A rendered page, the lines printed on it top to bottom, and the Tesseract language that reads them."""

    name: str
    image: Image.Image
    lines: list[str]
    language: str  # "eng" or "chi_sim"
    dpi: int | None  # None: a bare image of no stated resolution


def latin_page(dpi: int, seed: int = 0) -> Page:
    """A Letter page of mixed words, numbers, dates and codes: a 16-pt heading, 11-pt body, 8-pt small print."""
    rng = random.Random(seed)
    blocks = [(_latin_line(rng, 6), 16)] + [(_latin_line(rng, 12), 11) for _ in range(18)]
    blocks += [(_latin_line(rng, 14), 8) for _ in range(3)]
    return _letter_page(f"latin {dpi} dpi", blocks, LATIN_FONT, dpi, "eng")


def cjk_page(dpi: int, seed: int = 0) -> Page:
    """A Letter page of Simplified Chinese: a 16-pt heading and 12-pt lines of one to three sentences."""
    rng = random.Random(seed)
    blocks = [(rng.choice(SENTENCES), 16)]
    blocks += [("".join(rng.sample(SENTENCES, rng.randint(1, 3))), 12) for _ in range(14)]
    return _letter_page(f"cjk {dpi} dpi", blocks, CJK_FONT, dpi, "chi_sim")


def reported_page() -> Page:
    """The report's 1700×2200 PNG: a 200-dpi Letter page, five lines of 38-px DejaVu Sans."""
    image = Image.new("RGB", (1700, 2200), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(LATIN_FONT, 38)
    for index, line in enumerate(REPORTED_LINES):
        draw.text((200, 400 + index * 68), line, font=font, fill="black")
    return Page("reported 1700×2200 PNG", image, REPORTED_LINES, "eng", None)


def character_errors(lines: list[str], reading: str) -> tuple[int, int]:
    """(edit distance, characters) between the printed lines and a reading of them, both normalised."""
    expected = normalised("\n".join(lines))
    return Levenshtein.distance(expected, normalised(reading)), len(expected)


def normalised(text: str) -> str:
    """NFKC (full- and half-width punctuation alike), no blank lines, one space between words and none between
    Chinese characters: layout is not what the error rate measures."""
    text = unicodedata.normalize("NFKC", text)
    lines = (re.sub(r"\s+", " ", line).strip() for line in text.splitlines())
    return "\n".join(re.sub(f"(?<={CJK}) | (?={CJK})", "", line) for line in lines if line)


def _letter_page(name: str, blocks: list[tuple[str, int]], font_path: str, dpi: int, language: str) -> Page:
    """Lines (text, points) from the top margin down, each cut to fit between one-inch margins."""
    width, height = round(LETTER[0] * dpi), round(LETTER[1] * dpi)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    top, printed = dpi, []
    for text, points in blocks:
        font = ImageFont.truetype(font_path, round(points * dpi / 72))
        while font.getlength(text) > width - 2 * dpi:
            text = text.rsplit(" ", 1)[0] if " " in text else text[:-1]
        draw.text((dpi, top), text, font=font, fill="black")
        printed.append(text)
        top += round(points * dpi / 72 * 1.6)
    return Page(name, image, printed, language, dpi)


def _latin_line(rng: random.Random, most_words: int) -> str:
    makers = [
        lambda: str(rng.randint(1, 9999)),
        lambda: f"{rng.randint(1, 99)},{rng.randint(100, 999)}.{rng.randint(0, 99):02d}",
        lambda: f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.choice('ABCDEFGHKLMNPRSTUVWXZ')}-{rng.randint(100, 9999)}",
        lambda: f"{rng.randint(1, 100)}%",
    ]
    words = []
    for _ in range(rng.randint(3, most_words)):
        word = rng.choice(WORDS)
        words.append(
            rng.choice(makers)() if rng.random() < 0.27 else word.capitalize() if rng.random() < 0.15 else word
        )
    return " ".join(words)


PROSE = (
    "Widgets sold well in every region this quarter, and the report below sets out the figures region by region "
    "before the chart shows how the totals grew over ten years of steady trading across all of our markets."
)


def report_page() -> Image.Image:
    """An A4 page at 150 dpi as reports are set: running header, title, prose, a ruled table with its caption, a
    bar chart with its caption, a page number."""
    page = Image.new("RGB", (1240, 1754), "white")
    draw = ImageDraw.Draw(page)
    serif = ImageFont.truetype(f"{DEJAVU}/DejaVuSerif.ttf", 22)
    small = ImageFont.truetype(f"{DEJAVU}/DejaVuSans.ttf", 16)
    draw.text((100, 40), "ACME Quarterly Report", font=small, fill="gray")
    bold = ImageFont.truetype(f"{DEJAVU}/DejaVuSerif-Bold.ttf", 44)
    draw.text((100, 120), "Widget Sales by Region, 2026", font=bold, fill="black")
    top = 220
    for row, line in enumerate(wrapped(PROSE, serif, 1000)):
        draw.text((100, top + 30 * row), line, font=serif, fill="black")
    left, top, width, height = 150, 420, 230, 45
    for row in range(5):
        for column in range(4):
            cell = f"Region {column}" if row == 0 else f"{row * (column + 1) * 3.5:.2f}"
            draw.text((left + column * width + 10, top + row * height + 10), cell, font=serif, fill="black")
    for row in range(6):
        draw.line((left, top + row * height, left + 4 * width, top + row * height), fill="black", width=2)
    for column in range(5):
        draw.line((left + column * width, top, left + column * width, top + 5 * height), fill="black", width=2)
    draw.text((150, 650), "Table 1: Revenue by region (million EUR).", font=small, fill="black")
    draw.rectangle((300, 720, 940, 1020), outline="black", width=3)
    for bar in range(10):
        draw.rectangle((340 + bar * 58, 1000 - bar * 25, 380 + bar * 58, 1000), fill=(60, 100, 200))
    draw.text((300, 1035), "Figure 2: Growth of widgets over ten years.", font=small, fill="black")
    draw.text((600, 1694), "3", font=small, fill="black")
    return page


def wrapped(paragraph: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """``paragraph`` in lines no wider than ``width`` in ``font``."""
    lines: list[str] = []
    for word in paragraph.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines
