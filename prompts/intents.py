"""From a user's own words to an official task: a small, deterministic intent matcher.

The table below is the whole matcher: rules are tried in order, the first
whose pattern is found in the instruction wins, and its ``arguments`` function
pulls out what the task needs (target language, field names). Nothing matched
→ ``None``: the user's words go to the model unchanged (questions about the
image, "find all phone numbers", …). Add a phrase family by adding a rule and
a test in ``tests/prompts/test_intents.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from prompts.catalog import LANGUAGES, TaskRequest

_LANGUAGE_WORDS: dict[str, str] = {
    **{english.lower(): code for code, (english, _) in LANGUAGES.items()},
    **{chinese: code for code, (_, chinese) in LANGUAGES.items()},
    **{chinese.replace("文", "语"): code for code, (_, chinese) in LANGUAGES.items()},
    "中文": "zh",
    "汉语": "zh",
    "英语": "en",
    "mandarin": "zh",
    "japanese": "ja",
}
_LANGUAGE_PATTERN = "|".join(sorted(map(re.escape, _LANGUAGE_WORDS), key=len, reverse=True))
_TARGET_LANGUAGE = re.compile(rf"(?:\b(?:to|into|in)\s+|成|为|到)\s*({_LANGUAGE_PATTERN})", re.IGNORECASE)
_CJK = re.compile(r"[\u3400-\u9fff]")
_MARKDOWN = re.compile(r"markdown|\bmd\b", re.IGNORECASE)


def _target_language(text: str) -> dict[str, object]:
    match = _TARGET_LANGUAGE.search(text)
    word = match.group(1) if match else ""
    # IGNORECASE also matches letters whose lower() differs ("ſpanish"): fall back to English.
    return {"target_lang": _LANGUAGE_WORDS.get(word.lower()) or _LANGUAGE_WORDS.get(word.casefold(), "en")}


# "give me the invoice number, date and total as JSON" → ("invoice number", "date", "total")
_FIELD_LIST = re.compile(
    r"(?:extract|give me|get|return|output|find|pull out|what(?:'s| is| are))\s+(?:the\s+|all\s+)?(?P<list>.+?)"
    r"\s*(?:\?\s*)?(?:(?:answer|reply|respond|return(?: it)?|output|formatted)?\s*(?:as|in)\s+json|from\b|$)",
    re.IGNORECASE,
)
_FIELD_LIST_ZH = re.compile(
    r"(?:提取|输出|给出|给我)(?:图片中的|图中的)?[:：]?\s*(?P<list>.+?)\s*(?:的字段|字段|的值|的内容|，|,|以|用)"
)
_SPLIT_FIELDS = re.compile(r"\s*(?:,|，|、|;|\band\b|和|及)\s*", re.IGNORECASE)


def _field_list(text: str) -> dict[str, object]:
    match = _FIELD_LIST.search(text) or _FIELD_LIST_ZH.search(text)
    raw = match.group("list") if match else ""
    raw = re.sub(r"\b(?:fields?|values?|of this|in this|from this)\b.*$", "", raw, flags=re.IGNORECASE)
    fields = tuple(field.strip(" '\"`.") for field in _SPLIT_FIELDS.split(raw) if field.strip(" '\"`."))
    return {"fields": fields}


_SINGLE_FIELD = re.compile(
    r"^\s*(?:what(?:'s| is) the|output the value of|give me the|find the)\s+(?P<key>[\w][\w \-]{0,40}?)\s*\??\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rule:
    task: str
    pattern: re.Pattern[str]
    arguments: Callable[[str], dict[str, object]] = lambda text: {}


def _rule(task: str, pattern: str, arguments: Callable[[str], dict[str, object]] | None = None) -> Rule:
    return Rule(task, re.compile(pattern, re.IGNORECASE), arguments or (lambda text: {}))


RULES: tuple[Rule, ...] = (
    _rule("translate", r"translat|翻译|译成|译为|\bin (?:english|chinese)\b", _target_language),
    _rule("fields", r"\bjson\b|字段", _field_list),
    _rule("table", r"\btables?\b|表格", lambda text: {"convert_to": "markdown"} if _MARKDOWN.search(text) else {}),
    _rule("formula", r"\b(?:formulas?|equations?|latex|math)\b|公式"),
    _rule("chart", r"\b(?:charts?|graphs?|plots?|diagrams?|flow ?charts?)\b|图表|流程图"),
    _rule("spotting", r"\b(?:coordinates?|bounding box(?:es)?|boxes|spotting|where each)\b|坐标|位置|检测"),
    _rule("subtitles", r"\b(?:subtitles?|captions?)\b|字幕"),
    _rule("document", r"\b(?:markdown|md|documents?|pages?|pdf|parse|layout)\b|文档|版面|解析"),
    _rule(
        "text",
        r"\bocr\b|\b(?:extract|read|get|copy|transcribe|recogni[sz]e|pull|give me)\b[^.?!]*\b(?:text|words|writing)\b"
        r"|what does (?:it|this|the \w+) say|文字|文本|识别",
    ),
)


MAX_INSTRUCTION_CHARS = 1000  # a longer text is not a task request; and the patterns stay cheap


def match_intent(instruction: str) -> TaskRequest | None:
    """The task the instruction asks for, or ``None`` to pass the words through unchanged."""
    # Whitespace runs collapsed and length capped: no pattern can backtrack for long on the event loop.
    text = " ".join(instruction.split())
    if not text or len(text) > MAX_INSTRUCTION_CHARS:
        return None
    lang = "zh" if _CJK.search(text) else "en"
    if single := _SINGLE_FIELD.match(text):
        if not re.search(r"\b(?:text|image|picture|photo)\b", single.group("key"), re.IGNORECASE):
            return TaskRequest("field", key=single.group("key").strip(), lang=lang)
    for rule in RULES:
        if rule.pattern.search(text):
            arguments = rule.arguments(text)
            if rule.task == "fields" and not arguments.get("fields"):
                continue  # "answer in JSON" without field names: not an extraction request
            return TaskRequest(rule.task, lang=lang, **arguments)  # type: ignore[arg-type]
    return None
