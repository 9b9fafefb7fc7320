"""Each phrase family of the intent matcher, in English and Chinese."""

from __future__ import annotations

import pytest

from prompts.catalog import TaskRequest
from prompts.intents import MAX_INSTRUCTION_CHARS, match_intent
from tests.prompts.hangs import fails_if_it_hangs

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
    # translate: the target as people name it, read by the same resolver as the request's target_lang
    ("Translate this into français", TaskRequest("translate", target_lang="fr", lang="en")),
    ("translate to Deutsch, keeping the layout", TaskRequest("translate", target_lang="de", lang="en")),
    ("translate the text in this image into Spanish", TaskRequest("translate", target_lang="es", lang="en")),
    ("please translate it into Brazilian Portuguese", TaskRequest("translate", target_lang="pt", lang="en")),
    ("translate into Swahili", TaskRequest("translate", target_lang="sw", lang="en")),
    ("translate it to 日本語", TaskRequest("translate", target_lang="ja", lang="zh")),
    ("翻译成繁體中文", TaskRequest("translate", target_lang="zh-Hant", lang="zh")),
    ("因为看不懂，把菜单翻译成汉语并保留格式", TaskRequest("translate", target_lang="zh", lang="zh")),
    ("翻译成印度尼西亚语", TaskRequest("translate", target_lang="id", lang="zh")),
    ("translate it into more natural wording", TaskRequest("translate", target_lang="en", lang="en")),
    ("translate it to me", TaskRequest("translate", target_lang="en", lang="en")),  # "me": not a code here
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
    # fields → JSON, Chinese: the names listed, and JSON asked for, in one sentence
    (
        "提取发票号码、日期和总金额，以JSON格式返回",
        TaskRequest("fields", fields=("发票号码", "日期", "总金额"), lang="zh"),
    ),
    ("提取发票号码、日期和总金额，用JSON输出", TaskRequest("fields", fields=("发票号码", "日期", "总金额"), lang="zh")),
    ("请提取姓名、性别和出生日期，JSON格式输出", TaskRequest("fields", fields=("姓名", "性别", "出生日期"), lang="zh")),
    ("用JSON给出姓名、电话和地址", TaskRequest("fields", fields=("姓名", "电话", "地址"), lang="zh")),
    ("返回JSON：姓名、年龄、职业", TaskRequest("fields", fields=("姓名", "年龄", "职业"), lang="zh")),
    # one field
    ("What's the invoice number?", TaskRequest("field", key="invoice number", lang="en")),
    ("what is the total", TaskRequest("field", key="total", lang="en")),
    # pass through unchanged
    ("find all phone numbers in this image", None),
    ("Is this receipt from a restaurant?", None),
    ("Answer in JSON", None),
    ("这张图里有什么？用json回答", None),
    ("", None),
]


@pytest.mark.parametrize("instruction,expected", CASES, ids=[case[0] or "empty" for case in CASES])
def test_instruction_maps_to_the_expected_task(instruction: str, expected: TaskRequest | None) -> None:
    assert match_intent(instruction) == expected


# Phrasings that are in no table above: the Chinese field-list patterns must generalise.
CHINESE_FIELD_LISTS: list[tuple[str, tuple[str, ...]]] = [
    ("帮我提取一下发票代码和发票号码，给出JSON", ("发票代码", "发票号码")),
    ("从这张发票中提取购买方名称、税号及金额，以JSON形式返回", ("购买方名称", "税号", "金额")),
    ("把发票号码、开票日期、金额提取出来，返回json", ("发票号码", "开票日期", "金额")),
    ("将图中的姓名、身份证号以及住址以json格式输出", ("姓名", "身份证号", "住址")),
    ("请把车牌号和车辆颜色用JSON格式给出来", ("车牌号", "车辆颜色")),
    ("识别出 姓名，性别，民族 三个字段，输出为JSON", ("姓名", "性别", "民族")),
    ("提取以下字段：收款人、开户行与账号，返回JSON", ("收款人", "开户行", "账号")),
    ("读取快递单上的收件人、电话与地址，输出json", ("收件人", "电话", "地址")),
    ("请以JSON格式返回：合同编号、签订日期", ("合同编号", "签订日期")),
    ("识别图片，提取“姓名”、“电话”等，并以JSON格式输出", ("姓名", "电话")),
    ("提取用户名和密码 以JSON返回", ("用户名", "密码")),
    ("提取总额，按照json格式返回", ("总额",)),
]


@pytest.mark.parametrize("instruction,fields", CHINESE_FIELD_LISTS, ids=[case[0] for case in CHINESE_FIELD_LISTS])
def test_chinese_field_lists_asking_for_json_become_the_fields_task(instruction: str, fields: tuple[str, ...]) -> None:
    assert match_intent(instruction) == TaskRequest("fields", fields=fields, lang="zh")


# JSON asked for, but no field named: the text (or table) task, or the words unchanged — never fields.
NOT_FIELD_LISTS: list[tuple[str, TaskRequest | None]] = [
    ("提取图片中的文字", TaskRequest("text", lang="zh")),
    ("提取图中的文字，以JSON格式返回", TaskRequest("text", lang="zh")),
    ("用JSON格式输出图中所有文字", TaskRequest("text", lang="zh")),
    ("以JSON格式输出识别结果", TaskRequest("text", lang="zh")),
    ("识别表格并以JSON格式输出", TaskRequest("table", lang="zh")),
    ("把表格转成json", TaskRequest("table", lang="zh")),
    ("返回JSON", None),
    ("请提取，以JSON格式返回", None),
]


@pytest.mark.parametrize("instruction,expected", NOT_FIELD_LISTS, ids=[case[0] for case in NOT_FIELD_LISTS])
def test_json_without_field_names_is_not_a_field_list(instruction: str, expected: TaskRequest | None) -> None:
    assert match_intent(instruction) == expected


HOSTILE = [
    "json extract a" + " " * 5000 + "x",
    "get " * 249,
    "字段\n" + "提取" * 400,
    "提取" * 495 + "json",
    "把" + "名、" * 330 + "以json",
    "提取" + "姓名，" * 330 + "json",
    "translate " + "to more natural " * 62,
    "翻译" + "成为到" * 330,
    "x" * 100_000,
    "get " * 25_000,  # a minute of backtracking in the text rule without the length cap
]


@pytest.mark.parametrize("text", HOSTILE, ids=[f"{text[:12]}…{len(text)}" for text in HOSTILE])
def test_long_or_hostile_instructions_cannot_hang_the_matcher(text: str) -> None:
    with fails_if_it_hangs():
        match_intent(text)


def test_instructions_over_the_cap_are_not_read() -> None:
    assert match_intent("extract the text " * (MAX_INSTRUCTION_CHARS // 17 + 1)) is None
    assert match_intent("translate to ſpanish") == TaskRequest("translate", target_lang="es", lang="en")
