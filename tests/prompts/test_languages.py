"""Target languages: codes, tags and names in any script → one language and the official prompts' wording."""

from __future__ import annotations

import pytest

from prompts.languages import LANGUAGES, TargetLanguage, UnknownLanguage, resolve_language


@pytest.mark.parametrize(
    "words,code",
    [
        # ISO 639-1 and -2 codes, any case, and the deprecated ones
        ("en", "en"),
        ("EN", "en"),
        ("fra", "fr"),
        ("zho", "zh"),
        ("in", "id"),
        # BCP 47 tags: the region is dropped, a script the language is usually written in too
        ("en-US", "en"),
        ("en_GB", "en"),
        ("pt-BR", "pt"),
        ("zh-Hans", "zh"),
        ("zh-CN", "zh"),
        ("cmn", "zh"),
        # English names, native names, Chinese names
        ("English", "en"),
        ("french", "fr"),
        ("français", "fr"),
        ("Deutsch", "de"),
        ("español", "es"),
        ("Português", "pt"),
        ("中文", "zh"),
        ("汉语", "zh"),
        ("日本語", "ja"),
        ("한국어", "ko"),
        ("Русский", "ru"),
        ("العربية", "ar"),
        ("Tiếng Việt", "vi"),
        ("Bahasa Indonesia", "id"),
        ("Türkçe", "tr"),
        ("Mandarin", "zh"),
        ("Brazilian Portuguese", "pt"),
        ("法语", "fr"),
        ("  de  ", "de"),
    ],
)
def test_codes_tags_and_names_resolve_to_the_official_target(words: str, code: str) -> None:
    english, chinese = LANGUAGES[code]
    assert resolve_language(words) == TargetLanguage(code, english, chinese)


@pytest.mark.parametrize("code", sorted(LANGUAGES))
def test_each_official_wording_names_its_own_language(code: str) -> None:
    english, chinese = LANGUAGES[code]
    assert resolve_language(english).code == code and resolve_language(chinese).code == code
    assert (
        resolve_language(english, in_prose=True).code == code and resolve_language(chinese, in_prose=True).code == code
    )


@pytest.mark.parametrize("words", ["zh-Hant", "zh-TW", "zh-HK", "zh-Hant-CN", "繁體中文", "Traditional Chinese"])
def test_traditional_chinese_is_kept_apart_from_chinese(words: str) -> None:
    assert resolve_language(words) == TargetLanguage("zh-Hant", "Chinese (Traditional)", "中文（繁体）")


@pytest.mark.parametrize(
    "words,expected",
    [
        ("Swahili", TargetLanguage("sw", "Swahili", "斯瓦希里语")),
        ("sw", TargetLanguage("sw", "Swahili", "斯瓦希里语")),
        ("斯瓦希里语", TargetLanguage("sw", "Swahili", "斯瓦希里语")),
        ("Nederlands", TargetLanguage("nl", "Dutch", "荷兰语")),
        ("yue", TargetLanguage("yue", "Cantonese", "粤语")),
        ("sr-Latn", TargetLanguage("sr-Latn", "Serbian (Latin)", "塞尔维亚语（拉丁文）")),
    ],
)
def test_languages_beyond_the_official_targets_get_their_cldr_names(words: str, expected: TargetLanguage) -> None:
    assert resolve_language(words) == expected


@pytest.mark.parametrize(
    "words",
    # The last three only start with a name (Klingon, French, Lett: CLDR's old name of Latvian).
    [
        "",
        "xx",
        "Elvish",
        "qaa",
        "x-foo",
        "und",
        "mul",
        "zxx",
        "the",
        "123",
        "en-",
        "Klingonese-42",
        "Frenchish",
        "letters",
    ],
)
def test_words_that_name_no_writable_language_are_refused_with_examples(words: str) -> None:
    with pytest.raises(UnknownLanguage) as refused:
        resolve_language(words)
    message = str(refused.value)
    assert repr(words) in message and "français" in message and "pt-BR" in message and "en, zh, fr" in message


@pytest.mark.parametrize("words", ["to", "it", "an", "in", "more", "java"])
def test_in_prose_codes_and_rare_homonyms_are_plain_words(words: str) -> None:
    resolve_language(words)  # a code, or a rare CLDR name, when it stands alone in a request field
    with pytest.raises(UnknownLanguage):
        resolve_language(words, in_prose=True)


@pytest.mark.parametrize("words,code", [("Swahili", "sw"), ("粤语", "yue"), ("Nederlands", "nl"), ("Mandarin", "zh")])
def test_in_prose_languages_are_read_by_their_plain_names(words: str, code: str) -> None:
    assert resolve_language(words, in_prose=True).code == code
