"""Each phrase family of the intent matcher, in English and Chinese."""

from __future__ import annotations

import pytest

from prompts.catalog import TaskRequest
from prompts.intents import match_intent

CASES: list[tuple[str, TaskRequest | None]] = [
    # text
    ("Extract all text in this image.", TaskRequest("text", lang="en")),
    ("Please read the text on this sign", TaskRequest("text", lang="en")),
    ("OCR this", TaskRequest("text", lang="en")),
    ("What does this say?", TaskRequest("text", lang="en")),
    ("提取图中的文字", TaskRequest("text", lang="zh")),
    ("识别这张图片", TaskRequest("text", lang="zh")),
    # document
    ("Convert this page to Markdown", TaskRequest("document", lang="en")),
    ("parse this document", TaskRequest("document", lang="en")),
    ("把这个文档转成markdown", TaskRequest("document", lang="zh")),
    # table
    ("Turn this table into Markdown", TaskRequest("table", lang="en", convert_to="markdown")),
    ("把表格转成markdown", TaskRequest("table", lang="zh", convert_to="markdown")),
    ("Parse the table as HTML", TaskRequest("table", lang="en")),
    # formula
    ("Write this equation in LaTeX", TaskRequest("formula", lang="en")),
    ("识别公式", TaskRequest("formula", lang="zh")),
    # chart
    ("Describe the data in this bar chart", TaskRequest("chart", lang="en")),
    ("把流程图转成mermaid", TaskRequest("chart", lang="zh")),
    # spotting
    ("Give me every line of text with its bounding box", TaskRequest("spotting", lang="en")),
    ("output the text coordinates", TaskRequest("spotting", lang="en")),
    ("检测文字并输出坐标", TaskRequest("spotting", lang="zh")),
    # subtitles
    ("extract the subtitles", TaskRequest("subtitles", lang="en")),
    ("提取字幕", TaskRequest("subtitles", lang="zh")),
    # translate
    ("translate this menu to English", TaskRequest("translate", target_lang="en", lang="en")),
    ("Translate it into French please", TaskRequest("translate", target_lang="fr", lang="en")),
    ("translate", TaskRequest("translate", target_lang="en", lang="en")),
    ("翻译成英文", TaskRequest("translate", target_lang="en", lang="zh")),
    ("把菜单翻译成中文", TaskRequest("translate", target_lang="zh", lang="zh")),
    ("翻译为日语", TaskRequest("translate", target_lang="ja", lang="zh")),
    # fields → JSON
    (
        "give me the invoice number, date and total as JSON",
        TaskRequest("fields", fields=("invoice number", "date", "total"), lang="en"),
    ),
    (
        "what's the invoice number, date and total? answer as JSON",
        TaskRequest("fields", fields=("invoice number", "date", "total"), lang="en"),
    ),
    (
        "Extract name, date of birth and ID number in JSON",
        TaskRequest("fields", fields=("name", "date of birth", "ID number"), lang="en"),
    ),
    (
        "提取图片中的: 姓名、性别、出生日期 的字段内容，并按照 JSON 格式返回。",
        TaskRequest("fields", fields=("姓名", "性别", "出生日期"), lang="zh"),
    ),
    # one field
    ("What's the invoice number?", TaskRequest("field", key="invoice number", lang="en")),
    ("what is the total", TaskRequest("field", key="total", lang="en")),
    # pass through unchanged
    ("find all phone numbers in this image", None),
    ("Is this receipt from a restaurant?", None),
    ("Answer in JSON", None),
    ("", None),
]


@pytest.mark.parametrize("instruction,expected", CASES, ids=[case[0] or "empty" for case in CASES])
def test_instruction_maps_to_the_expected_task(instruction: str, expected: TaskRequest | None) -> None:
    assert match_intent(instruction) == expected


def test_long_or_hostile_instructions_are_matched_fast_and_safely() -> None:
    import time

    for text in ["json extract a" + " " * 5000 + "x", "get " * 249, "字段\n" + "提取" * 400, "x" * 100_000]:
        started = time.perf_counter()
        match_intent(text)
        assert time.perf_counter() - started < 0.5
    assert match_intent("translate to ſpanish") == TaskRequest("translate", target_lang="es", lang="en")
