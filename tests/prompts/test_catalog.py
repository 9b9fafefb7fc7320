"""The task catalog: both prompt sets, how a task's official prompt is filled in, and what it refuses."""

from __future__ import annotations

import pytest

from prompts.catalog import PROMPT_SETS, TaskRequest, UnknownTask, detect_prompt_set, load_prompt_set

V1, V15 = load_prompt_set("1.0"), load_prompt_set("1.5")
TRANSLATE_EN = "First extract the text, then translate the text content into {}. If it is a document, ignore"
TRANSLATE_ZH = "先提取文字，再将文字内容翻译为{}。若是文档"


def prompt(request: TaskRequest, version: str = "1.0") -> str:
    return load_prompt_set(version).resolve(request).prompt


def test_both_prompt_sets_load_with_their_tasks_and_official_decoding() -> None:
    assert {V1.version, V15.version} == set(PROMPT_SETS)
    assert V1.default_task == V15.default_task == "document"
    official = {
        "text",
        "document",
        "table",
        "formula",
        "chart",
        "spotting",
        "field",
        "fields",
        "subtitles",
        "translate",
    }
    assert set(V1.tasks) == official
    assert set(V1.tasks) < set(V15.tasks) and {"layout", "layout_parse", "spotting_hunyuan"} <= set(V15.tasks)
    assert (V1.sampling["top_k"], V1.sampling["repetition_penalty"]) == (1, 1.0)
    assert (V15.sampling["top_k"], V15.sampling["repetition_penalty"]) == (-1, 1.08)
    assert (V1.cleanup_min_chars, V15.cleanup_min_chars) == (8000, 2000)
    assert load_prompt_set("1.5") is V15  # read once


def test_an_unknown_prompt_set_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownTask, match="1.0, 1.5"):
        load_prompt_set("2.0")


def test_a_task_resolves_to_its_official_prompt_output_and_decoding() -> None:
    text = V1.resolve(TaskRequest("text"))
    assert (text.task, text.prompt, text.output) == ("text", "Extract the text in the image.", "text")
    assert text.sampling == V1.sampling and text.sampling is not V1.sampling
    assert prompt(TaskRequest("text", lang="zh")) == "提取图中的文字。"


def test_a_prompt_set_without_english_prompts_answers_in_chinese() -> None:
    assert prompt(TaskRequest("table", lang="en"), "1.5") == "把图中的表格解析为HTML。"


def test_an_unknown_task_is_refused_naming_the_param_and_the_known_tasks() -> None:
    with pytest.raises(UnknownTask) as refused:
        V1.resolve(TaskRequest("poetry"))
    assert refused.value.param == "task" and "document, field, fields" in str(refused.value)
    with pytest.raises(UnknownTask):
        V1.resolve(TaskRequest("layout"))  # a 1.5 task


def test_field_tasks_put_the_names_in_the_official_wording_and_need_them() -> None:
    assert prompt(TaskRequest("fields", fields=("姓名", "total"), lang="zh"), "1.5") == (
        "提取图片中的: ['姓名', 'total'] 的字段内容，并按照 JSON 格式返回。"
    )
    assert prompt(TaskRequest("field", key="invoice number")) == "Output the value of invoice number."
    for missing in (TaskRequest("fields"), TaskRequest("field")):
        with pytest.raises(UnknownTask) as refused:
            V1.resolve(missing)
        assert refused.value.param == "task"


def test_markdown_conversion_is_kept_only_for_tasks_that_answer_in_html() -> None:
    assert V1.resolve(TaskRequest("table", convert_to="markdown")).convert_to == "markdown"
    assert V1.resolve(TaskRequest("text", convert_to="markdown")).convert_to is None


def test_official_prompts_pasted_verbatim_are_recognised_and_templates_are_not() -> None:
    assert V1.official_task("提取图中的文字。") == TaskRequest("text", lang="zh")
    assert V15.official_task(V15.tasks["layout"]["zh"]) == TaskRequest("layout", lang="zh")
    assert V1.official_task(V1.tasks["translate"]["en"]) is None
    assert V1.official_task("Extract the text in the image") is None  # not verbatim


@pytest.mark.parametrize(
    "target_lang,english,chinese",
    [
        (None, "English", "英文"),  # translate without a target: into English
        ("fr", "French", "法文"),
        ("French", "French", "法文"),
        ("français", "French", "法文"),
        ("English", "English", "英文"),
        ("en-US", "English", "英文"),
        ("pt-BR", "Portuguese", "葡萄牙文"),
        ("中文", "Chinese", "中文"),
        ("zh-Hans", "Chinese", "中文"),
        ("日本語", "Japanese", "日文"),
        ("Deutsch", "German", "德文"),
        ("español", "Spanish", "西班牙文"),
        ("zh-TW", "Chinese (Traditional)", "中文（繁体）"),
        ("Swahili", "Swahili", "斯瓦希里语"),
    ],
)
def test_translate_names_the_target_in_the_prompts_own_wording(
    target_lang: str | None, english: str, chinese: str
) -> None:
    assert prompt(TaskRequest("translate", target_lang=target_lang, lang="en")).startswith(TRANSLATE_EN.format(english))
    assert prompt(TaskRequest("translate", target_lang=target_lang, lang="zh")).startswith(TRANSLATE_ZH.format(chinese))
    assert prompt(TaskRequest("translate", target_lang=target_lang), "1.5").endswith(f"再将文字内容翻译为{chinese}。")


def test_an_unknown_target_language_is_refused_naming_target_lang_with_examples() -> None:
    with pytest.raises(UnknownTask) as refused:
        V1.resolve(TaskRequest("translate", target_lang="Elvish"))
    assert refused.value.param == "target_lang"
    assert "'Elvish'" in str(refused.value) and "français" in str(refused.value) and "en, zh, fr" in str(refused.value)


def test_target_lang_is_ignored_by_tasks_that_take_none() -> None:
    assert prompt(TaskRequest("text", target_lang="Elvish")) == "Extract the text in the image."


@pytest.mark.parametrize(
    "config,version",
    [
        ({"vision_config": {"max_image_size": 2048}}, "1.0"),
        ({"vision_config": {"max_image_size": 4096}}, "1.5"),
        ({}, "1.0"),
        ({"prompt_set": "1.5"}, "1.5"),
    ],
)
def test_the_prompt_set_follows_the_model_config(config: dict, version: str) -> None:
    assert detect_prompt_set(config) == version
