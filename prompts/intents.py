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
from itertools import islice

from prompts.catalog import TaskRequest
from prompts.languages import TargetLanguage, UnknownLanguage, resolve_language

_CJK = re.compile(r"[\u3400-\u9fff]")
_MARKDOWN = re.compile(r"markdown|\bmd\b", re.IGNORECASE)

# "translate … into X", "翻译成X": X is read from the words right after one of these.
_BEFORE_TARGET = re.compile(r"\b(?:to|into|in)\b|成|为|到", re.IGNORECASE)
_NAME_WORD = re.compile(r"\s*(?:[\u3400-\u9fff]|[^\W\d_\u3400-\u9fff]+)")  # one Han character or a run of letters
MAX_NAME_WORDS = 6  # "Bahasa Indonesia", 印度尼西亚语
MAX_TARGET_TRIES = 10


def _target_language(text: str) -> dict[str, object]:
    for before in islice(_BEFORE_TARGET.finditer(text), MAX_TARGET_TRIES):
        if language := _language_named_at(text, before.end()):
            return {"target_lang": language.code}
    return {"target_lang": "en"}


def _language_named_at(text: str, start: int) -> TargetLanguage | None:
    """The longest run of words at ``start`` that names a language ("繁体中文并保留格式" → 繁体中文)."""
    ends: list[int] = []
    while len(ends) < MAX_NAME_WORDS and (word := _NAME_WORD.match(text, ends[-1] if ends else start)):
        ends.append(word.end())
    for end in reversed(ends):
        try:
            return resolve_language(text[start:end], in_prose=True)
        except UnknownLanguage:
            continue
    return None


# "give me the invoice number, date and total as JSON" → ("invoice number", "date", "total")
_FIELD_LIST = re.compile(
    r"(?:extract|give me|get|return|output|find|pull out|what(?:'s| is| are))\s+(?:the\s+|all\s+)?(?P<list>.+?)"
    r"\s*(?:\?\s*)?(?:(?:answer|reply|respond|return(?: it)?|output|formatted)?\s*(?:as|in)\s+json|from\b|$)",
    re.IGNORECASE,
)

# Chinese: "提取发票号码、日期和总金额，以JSON格式返回", "把姓名和电话用JSON给出来", "输出JSON：姓名、年龄".
# Between Han characters and "JSON" there is no word boundary, hence the look-arounds.
_JSON = r"(?<![a-z])json(?![a-z])"
_ZH_VERB = r"(?:提取|抽取|获取|读取|找出|取出|识别出?|列出|给出|输出|返回|给我)"
_ZH_SOURCE = r"(?:(?:这张|这份|这个|该|此)?[\u3400-\u9fff]{0,6}?(?:中|里|上)的)"  # "图中的", "快递单上的"
_ZH_ASK_JSON = rf"(?:(?:以|用|按照?|返回|输出|给出|转换?|整理|写|生成)\s*(?:为|成)?\s*)?{_JSON}"
_ZH_LIST_END = (
    rf"\s*(?:的?字段|的(?:值|内容|信息|数据)|等?(?:这|那)?[几两二三四五六七八九十\d]+(?:个|项)|等(?![\u3400-\u9fff])"
    rf"|[，,]?\s*(?:并且?|然后|再|请)?\s*{_ZH_ASK_JSON}|[。；;！!？?]|$)"
)
# A list never runs on into the next request: "识别图片，提取姓名…" starts over at 提取.
_ZH_LIST = rf"(?P<list>(?:(?![，,]\s*{_ZH_VERB})[^。！？!?]){{1,120}}?)"
_FIELD_LISTS_ZH = (
    re.compile(
        rf"(?:把|将)\s*{_ZH_SOURCE}?\s*{_ZH_LIST}\s*(?:(?:提取|抽取|识别|读取|找|取|列|整理|输出|返回|给出)|{_ZH_ASK_JSON})",
        re.IGNORECASE,
    ),
    re.compile(
        rf"{_ZH_VERB}(?:一下|出来|出)?\s*(?:(?:为|成)?\s*{_JSON}\s*(?:格式|形式|对象)?的?)?\s*"
        rf"(?:以下|下列|如下|这些|这几个)?的?(?:字段|信息|内容|项目?)?[:：]?\s*{_ZH_SOURCE}?[:：]?\s*{_ZH_LIST}{_ZH_LIST_END}",
        re.IGNORECASE,
    ),
)
_SPLIT_FIELDS = re.compile(r"\s*(?:,|，|、|;|；|\band\b|以及|和|及|与|还有)\s*", re.IGNORECASE)
_ZH_NAME_NOISE = re.compile(r"^(?:的|以下|下列|这些)+|(?:等|的值|的内容)+$")
# Words that say "the text", not a field: "提取图中的文字，以JSON格式返回" is the text task.
_ZH_NOT_A_FIELD = re.compile(
    r"^(?:[\u3400-\u9fff]{0,6}?(?:中|里|上)的?)?(?:所有|全部)?的?"
    r"(?:(?:识别)?(?:文字|文本|内容|信息|数据|结果|表格|字段|图片)(?:内容|信息)?|json(?:格式|形式)?)$",
    re.IGNORECASE,
)


def _field_list(text: str) -> dict[str, object]:
    if _CJK.search(text):
        for pattern in _FIELD_LISTS_ZH:
            if (match := pattern.search(text)) and (names := _chinese_field_names(match.group("list"))):
                return {"fields": names}
    match = _FIELD_LIST.search(text)
    raw = match.group("list") if match else ""
    raw = re.sub(r"\b(?:fields?|values?|of this|in this|from this)\b.*$", "", raw, flags=re.IGNORECASE)
    fields = tuple(field.strip(" '\"`.") for field in _SPLIT_FIELDS.split(raw) if field.strip(" '\"`."))
    return {"fields": fields}


def _chinese_field_names(raw: str) -> tuple[str, ...]:
    names = (_ZH_NAME_NOISE.sub("", name.strip(" '\"`.“”‘’「」『』《》【】")) for name in _SPLIT_FIELDS.split(raw))
    fields = tuple(name for name in names if name)
    return () if all(_ZH_NOT_A_FIELD.match(name) for name in fields) else fields


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
    _rule("fields", rf"{_JSON}|字段", _field_list),
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
