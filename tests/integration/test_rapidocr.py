"""``--engine rapidocr`` through a real gateway process and the official openai client: character error rate on
rendered text (fonts from Debian packages, see the Makefile), spotting boxes in image pixels, the 400 for what
PP-OCR cannot do, and a /v1/models that says what is serving."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from docling_core.types.doc import ContentLayer, DoclingDocument
from openai import OpenAI
from PIL import Image, ImageDraw, ImageFont
from rapidfuzz.distance import Levenshtein

from tests.images import encode, image_part, make_pdf, render_text
from tests.pages import report_page, wrapped
from tests.servers import start_gateway, stop_gateway

MODEL = "rapidocr-ppocrv6-small"
FONTS = "/usr/share/fonts/truetype"
# name → (font file, size in px, lines): Latin from fonts-dejavu-core, Chinese from fonts-wqy-zenhei and
# fonts-arphic-uming.
CASES: dict[str, tuple[str, int, list[str]]] = {
    "en / DejaVu Sans 28": (
        "dejavu/DejaVuSans.ttf",
        28,
        [
            "The quick brown fox jumps over the lazy dog.",
            "Invoice number 2024-0815, total 1,234.56 EUR",
            "Meeting moved to Tuesday at 14:30 in room B12",
        ],
    ),
    "en / DejaVu Serif 22": (
        "dejavu/DejaVuSerif.ttf",
        22,
        [
            "Optical character recognition turns pictures of text",
            "into machine-readable characters, line by line.",
            "Pack my box with five dozen liquor jugs!",
        ],
    ),
    "en / DejaVu Sans Mono 18": (
        "dejavu/DejaVuSansMono.ttf",
        18,
        ["def add(a, b): return a + b", "print(add(40, 2))  # 42", "SELECT name FROM users WHERE id = 7;"],
    ),
    "en / DejaVu Sans 12 (small)": (
        "dejavu/DejaVuSans.ttf",
        12,
        [
            "Small print: payment is due within 30 days of the invoice date.",
            "Late payments incur a fee of 1.5% per month (18% per year).",
        ],
    ),
    "zh / WenQuanYi Zen Hei 14 (small)": (
        "wqy/wqy-zenhei.ttc",
        14,
        ["本合同自双方签字之日起生效，有效期为一年。", "如有争议，双方应友好协商解决。"],
    ),
    "zh / WenQuanYi Zen Hei 32": (
        "wqy/wqy-zenhei.ttc",
        32,
        ["今天天气很好，我们去公园散步。", "请在下周五之前提交报告。", "北京市海淀区中关村大街一号"],
    ),
    "zh / AR PL UMing 26": (
        "arphic/uming.ttc",
        26,
        ["文字识别技术可以把图片中的文字转换成文本。", "会议时间改为星期二下午三点。", "价格：人民币一百二十元"],
    ),
    "zh+en / WenQuanYi Zen Hei 24": (
        "wqy/wqy-zenhei.ttc",
        24,
        ["订单号 A1234 已发货", "Hello 世界, OCR 测试 2025", "电话 010-6275-1234"],
    ),
}
# Measured on this set: 0.0 for every case but the mixed one (0.038: "," read as "，", a space lost), 0.003
# overall. The bounds leave room for other OpenVINO builds and CPUs.
MAX_CASE_CER = 0.10
MAX_OVERALL_CER = 0.03


@pytest.fixture(scope="module")
def ocr(rapidocr_root: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{rapidocr_root}/v1", api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def ask(client: OpenAI, image: Image.Image, words: str, **options: object) -> object:
    """One user message: the image, then ``words`` (none: a bare image)."""
    text = [{"type": "text", "text": words}] if words else []
    return client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [image_part(image), *text]}],
        **options,  # type: ignore[arg-type]
    )


def normalised(text: str) -> str:
    """Lines without blank lines or repeated spaces: layout is not what the CER measures."""
    return "\n".join(re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip())


def rendered(case: str) -> tuple[Image.Image, list[tuple[int, int, int, int]], list[str]]:
    font, size, lines = CASES[case]
    if not Path(FONTS, font).is_file():
        pytest.fail(f"{FONTS}/{font} is missing: install the Makefile's DEBIAN_TEST_PACKAGES (make system-deps)")
    image, boxes = render_text(lines, f"{FONTS}/{font}", size)
    return image, boxes, lines


def test_character_error_rate_on_rendered_latin_and_chinese_text_is_low(ocr: OpenAI) -> None:
    errors = characters = 0
    report = []
    for case in CASES:
        image, _, lines = rendered(case)
        reply = ask(ocr, image, "Extract the text in the image.")
        text = reply.choices[0].message.content  # type: ignore[attr-defined]
        assert reply.usage.completion_tokens == len(text) and reply.usage.prompt_tokens > 0  # type: ignore[attr-defined]
        expected = normalised("\n".join(lines))
        distance = Levenshtein.distance(expected, normalised(text))
        errors, characters = errors + distance, characters + len(expected)
        report.append(f"{case}: CER {distance / len(expected):.4f} ({distance}/{len(expected)}) {text!r}")
        print(report[-1])
    print(f"overall CER {errors / characters:.4f} ({errors}/{characters})")
    assert all(float(line.split("CER ")[1].split()[0]) <= MAX_CASE_CER for line in report), report
    assert errors / characters <= MAX_OVERALL_CER, report


def test_streamed_answer_equals_the_whole_answer_and_counts_its_characters(ocr: OpenAI) -> None:
    image, _, _ = rendered("zh / WenQuanYi Zen Hei 32")
    bare = ask(ocr, image, "")  # a bare image asks for the default task (document): its plain lines
    whole = bare.choices[0].message.content  # type: ignore[attr-defined]
    assert bare.model_extra["ocr"]["task"] == "document" and whole.count("\n") == 2  # type: ignore[attr-defined]
    chunks = list(ask(ocr, image, "OCR this", stream=True, stream_options={"include_usage": True}))  # type: ignore[call-overload]
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert streamed == whole and len([chunk for chunk in chunks if chunk.choices]) > 2  # role + one per line
    assert chunks[-1].usage.completion_tokens == len(whole)


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    overlap = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def test_spotting_boxes_come_back_in_the_pixels_of_the_image_sent(ocr: OpenAI) -> None:
    text, drawn, lines = rendered("en / DejaVu Sans 28")
    # Bigger than the engine's 2000-px limit, so the gateway shrinks it and must scale the boxes back.
    image, offset = Image.new("RGB", (2400, 1000), "white"), (500, 300)
    image.paste(text.resize((text.width * 2, text.height * 2)), offset)
    expected = [
        (x0 * 2 + offset[0], y0 * 2 + offset[1], x1 * 2 + offset[0], y1 * 2 + offset[1]) for x0, y0, x1, y1 in drawn
    ]
    reply = ask(ocr, image, "Detect and recognize text in the image, and output the text coordinates.")
    boxes = reply.model_extra["ocr"]["boxes"]  # type: ignore[attr-defined]
    assert reply.model_extra["ocr"]["task"] == "spotting"  # type: ignore[attr-defined]
    assert [normalised(box["text"]) for box in boxes] == lines
    for box, want in zip(boxes, expected, strict=True):
        assert iou(tuple(box["box"]), want) > 0.7, (box, want)


@pytest.mark.parametrize(
    ("words", "options", "capability"),
    [
        ("Translate this menu to English", {}, "image translation"),
        ("Parse the table into HTML", {}, "table parsing"),
        ("What colour is the text?", {}, "answering instructions or questions"),
        ("Translate this menu to English", {"stream": True}, "image translation"),
        (
            "Read the invoice",
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"properties": {"total": {}}}},
                }
            },
            "field extraction to JSON",
        ),
    ],
)
def test_tasks_pp_ocr_cannot_do_get_a_400_that_says_how_to_get_them(
    ocr: OpenAI, words: str, options: dict, capability: str
) -> None:
    image, _, _ = rendered("zh+en / WenQuanYi Zen Hei 24")
    with pytest.raises(openai.BadRequestError) as refused:
        ask(ocr, image, words, **options)
    assert refused.value.code == "unsupported_task"
    assert capability in refused.value.message and "--engine vllm --model" in refused.value.message
    assert ask(ocr, image, "OCR this").choices[0].message.content  # type: ignore[attr-defined]


def test_models_and_health_say_rapidocr_is_serving(ocr: OpenAI, rapidocr_root: str) -> None:
    (card,) = ocr.models.list().data
    assert (card.id, card.model_extra["engine"]) == (MODEL, "rapidocr")  # type: ignore[index]
    assert httpx.get(f"{rapidocr_root}/health").json()["model"] == MODEL


def test_auto_on_a_machine_without_hunyuanocr_serves_rapidocr_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `make serve` meets on a fresh offline machine: the default engine (auto) and model, no hub, no cache.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    process, root_url = start_gateway("tencent/HunyuanOCR", tmp_path / "server.log", served_name=None, timeout=240)
    try:
        card = httpx.get(f"{root_url}/v1/models").json()["data"][0]
        assert (card["id"], card["engine"]) == (MODEL, "rapidocr")
    finally:
        stop_gateway(process)
    log = (tmp_path / "server.log").read_text()
    assert "WARNING" in log and "HunyuanOCR is NOT serving" in log and "falls back to rapidocr" in log


def test_a_scanned_pdf_becomes_a_docling_document_with_the_printed_words_where_they_were_printed(
    rapidocr_root: str,
) -> None:
    latin, latin_boxes, latin_lines = rendered("en / DejaVu Sans 28")
    chinese, chinese_boxes, chinese_lines = rendered("zh / WenQuanYi Zen Hei 32")
    response = httpx.post(
        f"{rapidocr_root}/ocr?format=docling",
        content=make_pdf([latin, chinese]),
        headers={"Content-Type": "application/pdf"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    document = DoclingDocument.model_validate(response.json())
    assert sorted(document.pages) == [1, 2]
    for page, (image, boxes, lines) in enumerate(
        [(latin, latin_boxes, latin_lines), (chinese, chinese_boxes, chinese_lines)], start=1
    ):
        items = [item for item in document.texts if item.prov and item.prov[0].page_no == page]
        read = [item.text for item in items]
        assert Levenshtein.normalized_distance(normalised("\n".join(read)), "\n".join(lines)) < MAX_CASE_CER
        size = document.pages[page].size
        scale = size.width / image.width  # the PDF page was rendered anew: same shape, its own pixels
        placed = [item.prov[0].bbox for item in items]  # a paragraph's box: the union of its lines'
        assert all(0 <= box.l < box.r <= size.width and 0 <= box.t < box.b <= size.height for box in placed)
        for drawn in boxes:  # every printed line lies in the box of an item that holds it
            centre = ((drawn[0] + drawn[2]) / 2 * scale, (drawn[1] + drawn[3]) / 2 * scale)
            assert any(box.l <= centre[0] <= box.r and box.t <= centre[1] <= box.b for box in placed), drawn


def test_markdown_of_a_scan_holds_its_printed_words(rapidocr_root: str) -> None:
    image, _, lines = rendered("en / DejaVu Serif 22")
    response = httpx.post(
        f"{rapidocr_root}/ocr?format=markdown", files={"file": ("scan.png", encode(image), "image/png")}
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    assert Levenshtein.normalized_distance(normalised(response.text), "\n".join(lines)) < MAX_CASE_CER


LEFT = (
    "Reading order matters more than any single character. A page set in two columns is read down the left column "
    "first and only then down the right one, so that every sentence stays whole from its first word to its last."
)
RIGHT = (
    "The right column picks the argument up where the left one ended. Running headers and page numbers belong to "
    "the page furniture and stay out of the body of the document, though a searchable PDF still holds them."
)


def two_column_page(number: int = 7) -> tuple[Image.Image, str]:
    """A letter page at 150 dpi: running header, a title across both columns, two columns typeset on one grid, a
    page number; and its body text in reading order."""
    page = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(page)
    serif = ImageFont.truetype(f"{FONTS}/dejavu/DejaVuSerif.ttf", 22)
    draw.text((470, 40), "Proceedings of the Rendered Society", font=serif, fill="black")
    draw.text(
        (80, 150),
        "On Reading Two Columns in Their Order",
        font=ImageFont.truetype(f"{FONTS}/dejavu/DejaVuSerif.ttf", 40),
        fill="black",
    )
    for left, paragraph in ((80, LEFT), (680, RIGHT)):
        for row, line in enumerate(wrapped(paragraph, serif, 515)):
            draw.text((left, 260 + 34 * row), line, font=serif, fill="black")
    draw.text((600, 1590), f"Page {number}", font=serif, fill="black")
    return page, f"On Reading Two Columns in Their Order {LEFT} {RIGHT}"


def _letters(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


def test_two_columns_are_read_in_order_with_header_and_footer_apart(rapidocr_root: str, ocr: OpenAI) -> None:
    page, body = two_column_page()
    files = {"file": ("two-columns.png", encode(page), "image/png")}
    markdown = httpx.post(f"{rapidocr_root}/ocr?format=markdown", files=files, timeout=120)
    assert markdown.status_code == 200, markdown.text
    # Read column by column, the body is the text as written; row by row, it would be two texts interleaved.
    assert Levenshtein.normalized_distance(_letters(markdown.text), _letters(body)) < 0.03, markdown.text
    assert "Proceedings" not in markdown.text and "Page 7" not in markdown.text  # furniture, not body
    document = httpx.post(f"{rapidocr_root}/ocr?format=docling", files=files, timeout=120).json()
    furniture = {item["label"]: item["text"] for item in document["texts"] if item["content_layer"] == "furniture"}
    assert furniture == {"page_header": "Proceedings of the Rendered Society", "page_footer": "Page 7"}
    answer = ask(ocr, page, "Extract the text in the image.")  # plain extraction: every line, in reading order
    plain = answer.choices[0].message.content or ""  # type: ignore[attr-defined]
    assert plain.startswith("Proceedings of the Rendered Society") and plain.rstrip().endswith("Page 7")


def _lines_read(root: str) -> int:
    metrics = httpx.get(f"{root}/metrics", timeout=10).text
    return int(float(re.search(r'^ocr_gateway_rapidocr_line_readings_total\{pass="first"\} (\S+)$', metrics, re.M)[1]))


def test_a_document_page_is_read_once_for_its_text_and_its_boxes(rapidocr_root: str, ocr: OpenAI) -> None:
    """The docling format asks for the page's text and its boxes: two tasks, one reading of the page."""
    before = _lines_read(rapidocr_root)
    ask(ocr, two_column_page(8)[0], "Extract the text in the image.")
    one_task = _lines_read(rapidocr_root) - before
    files = {"file": ("page.png", encode(two_column_page(9)[0]), "image/png")}
    assert httpx.post(f"{rapidocr_root}/ocr?format=docling", files=files, timeout=120).status_code == 200
    assert _lines_read(rapidocr_root) - before - one_task == one_task > 0


def test_a_report_page_has_its_title_table_figure_captions_and_furniture_in_the_document(rapidocr_root: str) -> None:
    files = {"file": ("report.png", encode(report_page()), "image/png")}
    markdown = httpx.post(f"{rapidocr_root}/ocr?format=markdown", files=files, timeout=120)
    assert markdown.status_code == 200, markdown.text
    assert markdown.text.startswith("# Widget Sales by Region, 2026\n"), markdown.text
    assert "figures region by region" in markdown.text  # wrapped prose runs on
    assert "ACME Quarterly Report" not in markdown.text and not re.search(r"^3$", markdown.text, re.M)
    document = DoclingDocument.model_validate(
        httpx.post(f"{rapidocr_root}/ocr?format=docling", files=files, timeout=120).json()
    )
    layers = {ContentLayer.BODY, ContentLayer.FURNITURE}
    labels = [item.label.value for item, _ in document.iterate_items(included_content_layers=layers)]
    assert labels[0] == "page_header" and labels[-1] == "page_footer", labels
    assert "title" in labels or "section_header" in labels, labels
    [picture] = document.pictures
    assert picture.caption_text(document) == "Figure 2: Growth of widgets over ten years."
    assert picture.prov and picture.prov[0].bbox.l < picture.prov[0].bbox.r
    assert "Growth of widgets" not in " ".join(item.text for item in document.texts if item.label.value == "text")
    [table] = document.tables  # read into cells, its caption with it
    assert (table.data.num_rows, table.data.num_cols) == (5, 4)
    assert [cell.text for cell in table.data.table_cells[:5]] == [
        "Region 0",
        "Region 1",
        "Region 2",
        "Region 3",
        "3.50",
    ]
    assert table.caption_text(document) == "Table 1: Revenue by region (million EUR)."
    assert re.search(r"^\| +Region 0 +\| +Region 1 +\| +Region 2 +\| +Region 3 +\|$", markdown.text, re.M)
