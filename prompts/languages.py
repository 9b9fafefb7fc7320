"""Target languages for the translate task: what people write (codes, tags, names) → the prompt's wording.

``resolve_language`` accepts ISO 639 codes (``fr``, ``fra``), BCP 47 tags (``en-US``, ``zh-TW``, ``pt-BR``)
and names in English or in the language itself (``French``, ``français``, ``中文``, ``日本語``), read with
``langcodes`` and its CLDR name data. The region of a tag is dropped (``pt-BR`` → Portuguese); a script
the language is not usually written in is kept (``zh-TW`` and ``zh-Hant`` → Traditional Chinese).

The languages of ``LANGUAGES`` get the official prompts' wording. Any other language is accepted too, in
CLDR's English and Chinese names: the official prompts are templates taking a language name, and
HunyuanOCR 1.5's prompts are Chinese only, so a language needs a Chinese name to be asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from langcodes import Language, LanguageTagError, find
from language_data import names as cldr_names

if TYPE_CHECKING:
    import marisa_trie

# Target languages: (English name, Chinese name) as the official prompts spell them.
LANGUAGES: dict[str, tuple[str, str]] = {
    "en": ("English", "英文"),
    "zh": ("Chinese", "中文"),
    "fr": ("French", "法文"),
    "de": ("German", "德文"),
    "es": ("Spanish", "西班牙文"),
    "it": ("Italian", "意大利文"),
    "pt": ("Portuguese", "葡萄牙文"),
    "ru": ("Russian", "俄文"),
    "ja": ("Japanese", "日文"),
    "ko": ("Korean", "韩文"),
    "ar": ("Arabic", "阿拉伯文"),
    "th": ("Thai", "泰文"),
    "vi": ("Vietnamese", "越南文"),
    "id": ("Indonesian", "印尼文"),
    "ms": ("Malay", "马来文"),
    "tr": ("Turkish", "土耳其文"),
}

# Everyday Chinese names of these languages that CLDR does not list.
_MISSING_NAMES = {"汉语": "zh", "华语": "zh", "韩国语": "ko", "印尼语": "id"}
_NAMES = {
    **{name.casefold(): code for code, names in LANGUAGES.items() for name in names},
    **_MISSING_NAMES,
}
_NOT_LANGUAGES = frozenset({"mis", "mul", "und", "zxx"})  # uncoded, multiple, undetermined, no language


class UnknownLanguage(ValueError):
    """Words that name no language a prompt can be written for."""


@dataclass(frozen=True)
class TargetLanguage:
    """A language to translate into: its tag and its name in the English and the Chinese prompts."""

    code: str  # "fr", "zh-Hant", "sw"
    english: str
    chinese: str


def resolve_language(words: str, *, in_prose: bool = False) -> TargetLanguage:
    """The language ``words`` names (a code, a tag or a name).

    ``in_prose``: the words come from a sentence (the intent matcher), where "to" and "an" are words, not
    the codes of Tonga and Aragonese, and "more" or "letters" are not CLDR's rarer names of Mossi and
    Latvian. So codes are not read, and a language beyond the official targets counts only by its English,
    Chinese or own name."""
    text = words.strip()
    language = None if in_prose else _tag(text)
    if language is None:
        language = _named(text)
    target = _target(language) if language is not None else None
    if target is None or (in_prose and not _plainly_named(text, target)):
        raise UnknownLanguage(
            f"Unknown target language {words!r}: give a language name (French, français, 中文), an ISO 639 "
            f"code or a BCP 47 tag (fr, pt-BR, zh-Hant). The model's own targets: {', '.join(LANGUAGES)}."
        )
    return target


def load_names() -> None:
    """Loads langcodes' name data now (about 0.3 s, once), so no request waits for it."""
    resolve_language("Kiswahili")


def _tag(text: str) -> Language | None:
    try:
        language = Language.get(text)
    except LanguageTagError:
        return None
    return language if language.is_valid() else None


def _named(text: str) -> Language | None:
    if code := _NAMES.get(text.casefold()):
        return Language.get(code)
    if not _is_a_name(text):
        return None
    try:
        return find(text)
    except LookupError:
        return None


def _is_a_name(text: str) -> bool:
    """Whether ``text`` is a language's name, or a name and more words ("Hakka Chinese", "French language").
    langcodes' ``find`` also takes any string that merely starts with a name: "Klingonese-42" would be Klingon."""
    lookup = cldr_names.normalize_name(text)
    names = _names()
    if lookup in names:
        return True
    prefixes = names.prefixes(lookup)
    rest = lookup[len(prefixes[-1]) :] if prefixes else ""
    return rest.startswith(" ") and all(word.isalpha() for word in rest.split())


@lru_cache(maxsize=1)
def _names() -> marisa_trie.Trie:
    """CLDR's language names in every language, as ``find`` reads them (language_data's trie)."""
    cldr_names.name_to_code("language", "English")  # loads the trie
    return cldr_names.TRIES["und/name_to_language"]


def _target(language: Language) -> TargetLanguage | None:
    return _target_of_tag(language.to_tag())


@lru_cache(maxsize=1024)
def _target_of_tag(tag: str) -> TargetLanguage | None:
    language = Language.get(tag).prefer_macrolanguage()  # cmn (Mandarin) → zh
    code = language.language
    if code is None or code in _NOT_LANGUAGES:
        return None
    bare = Language.get(code)
    script = language.maximize().script  # zh-TW → zh-Hant-TW
    key = Language.make(language=code, script=script) if script != bare.maximize().script else bare
    if (key_tag := key.to_tag()) in LANGUAGES:
        english, chinese = LANGUAGES[key_tag]
        return TargetLanguage(key_tag, english, chinese)
    if not _has_chinese_name(bare):
        return None
    return TargetLanguage(key_tag, key.display_name("en"), key.display_name("zh"))


def _plainly_named(name: str, target: TargetLanguage) -> bool:
    return target.code.split("-")[0] in LANGUAGES or name.casefold() in _plain_names(target.code)


@lru_cache(maxsize=1024)
def _plain_names(tag: str) -> frozenset[str]:
    """A language's names in English, in Chinese and in itself, with and without its script."""
    language = Language.get(tag)
    bare = Language.get(tag.split("-")[0])
    names = (language.display_name("en"), language.display_name("zh"), language.autonym(), bare.autonym())
    return frozenset(name.casefold() for name in (*names, bare.language_name("en"), bare.language_name("zh")))


def _has_chinese_name(language: Language) -> bool:
    # Without one, CLDR answers in English or "unknown language": private-use codes, tags nobody assigned,
    # and the many small languages whose names are also English words ("The", "Are", "Even").
    chinese = language.language_name("zh")
    return chinese != language.language_name("en") and not chinese.startswith(_unknown_in_chinese())


def _unknown_in_chinese() -> str:
    return Language.get("und").language_name("zh")
