"""Properties of the readers of HunyuanOCR's answers, held on the real answers (``tests/real_answers``) bent the ways
the model bends them: cut off anywhere by the length limit, ending in a loop, with tags unbalanced or cut.
However an answer is bent, reading it raises nothing and lets no markup through (``tests.corpus.leaks``); tags
that hold no value take no word away; the loop clean-up is Tencent's.

Hypothesis picks a corpus answer (``sampled_from``; a failure notes its id and the bent text) and where to bend it.
The ``@example``s are inputs on which hypothesis found a reader fail, kept so that those failures do not depend on
the search finding them again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import example, given, note, settings
from hypothesis import strategies as st

from gateway.documents.build import PageAnswers, build_document
from gateway.documents.exports import to_markdown, to_text
from prompts.markup import is_non_answer, is_punctuation
from prompts.postprocess import LoopGuard, cut_repeated_tail
from prompts.spotting import parse_spotting
from tests.corpus import ANSWERS, RealAnswer, answer_words, leaks, recall
from tests.prompts.hangs import fails_if_it_hangs

# A page reads in ~20 ms, the longest answer (32k characters) in ~0.4 s: the file runs in 20-30 s on two cores.
READS = settings(max_examples=120, deadline=None)
CHEAP = settings(max_examples=400, deadline=None)
ANSWER = st.sampled_from(ANSWERS)
# The answers that say there is nothing to read leave the page empty, words and all.
ANSWER_WITH_TEXT = st.sampled_from([answer for answer in ANSWERS if not is_non_answer(answer.answer)])
BY_ID = {answer.id: answer for answer in ANSWERS}

TAGS = ("<hy-meta>", "</hy-meta>", "<layout>", "</layout>", "<poly>", "</poly>", "<quad>", "</ref>", "<dir>", "<trans>")
# The tags that hold no value: what follows ``<layout>`` or ``<dir>`` is a category or a direction, the numbers
# after ``<poly>`` or ``<quad>`` are points — words there are not text in HunyuanOCR's format.
EMPTY_TAGS = ("<hy-meta>", "</hy-meta>", "</layout>", "</poly>", "</ref>", "<trans>")
# Tags as the length limit leaves them, at the end of an answer.
CUT_TAGS = ("<hy-me", "<hy-", "</hy-meta", "<lay", "</layo", "<pol", "</pol", "<qua", "</re", "<di", "<tra")
_POINT = r"\(\s*-?\d+(?:\.\d+)?\s*,\s*-?\d+(?:\.\d+)?\s*\)"
# What the model never puts a tag inside: a table (its cells are read as HTML), a fenced code block or a line
# with a formula (both kept as written), a coordinate run, another tag. A tag may go right after any of them.
_UNBROKEN = re.compile(
    r"<table.*?(?:</table>|\Z)|```.*?(?:```|\Z)|\$\$.*?(?:\$\$|\Z)|^[^\n$]*\$[^\n]*"
    rf"|{_POINT}(?:\s*,\s*{_POINT})*|<[^<>]*>",
    re.DOTALL | re.IGNORECASE | re.MULTILINE,
)

# Tencent's clean-up cuts a unit repeated this many times back to back; a looping answer here repeats it up to 30.
MIN_REPEATS = 10
REPEATS = st.integers(min_value=MIN_REPEATS, max_value=30)
GUARDS = st.builds(
    LoopGuard,
    start=st.integers(min_value=0, max_value=10_000),
    every=st.integers(min_value=1, max_value=2_000),
    min_repeats=st.integers(min_value=2, max_value=20),
    min_span=st.integers(min_value=0, max_value=2_000),
)
GROWTH = st.lists(st.integers(min_value=1, max_value=3_000), min_size=1, max_size=40)  # characters per chunk


@dataclass(frozen=True)
class Bent:
    """A corpus answer as one example bent it."""

    answer: RealAnswer
    text: str


@dataclass(frozen=True)
class Looped(Bent):
    """A corpus answer ending in ``unit`` written over and over."""

    unit: str


def bent_by_hand(answer_id: str, bend: Callable[[str], str]) -> Bent:
    answer = BY_ID[answer_id]
    return Bent(answer, bend(answer.answer))


def exports(text: str, answer: RealAnswer, *, as_spotting: bool = False) -> dict[str, str]:
    """The Markdown and text exports of a page whose document (or spotting) answer is ``text``."""
    width, height = answer.size
    page = PageAnswers(1, width, height, spotting=text) if as_spotting else PageAnswers(1, width, height, document=text)
    document = build_document([page]).document
    return {"markdown": to_markdown(document), "text": to_text(document)}


def leaked(outputs: dict[str, str]) -> dict[str, list[str]]:
    """The markup each output let through, for those that let any through."""
    return {name: found for name, output in outputs.items() if (found := leaks(output))}


def reference_cut(text: str) -> str:
    """Tencent's ``clean_repeated_substrings`` as their inference code writes it (without its length floor): the
    shortest unit, 2 characters up to a tenth of the text, that ends the text 10 times or more back to back keeps
    one copy."""
    size = len(text)
    for length in range(2, size // 10 + 1):
        candidate, count, start = text[-length:], 0, size - length
        while start >= 0 and text[start : start + length] == candidate:
            count, start = count + 1, start - length
        if count >= MIN_REPEATS:
            return text[: size - length * (count - 1)]
    return text


def places(text: str) -> list[int]:
    """Where the model could put a tag in ``text``: not inside an ASCII word or number (other scripts count
    character by character, see ``tests.corpus.words``), a JSON escape, or what ``_UNBROKEN`` names."""
    inside = {index for span in _UNBROKEN.finditer(text) for index in range(span.start() + 1, span.end())}
    return [
        index
        for index in range(len(text) + 1)
        if index in (0, len(text))
        or not (_in_a_word(text[index - 1]) and _in_a_word(text[index]))
        and text[index - 1] != "\\"
        and index not in inside
    ]


def _in_a_word(character: str) -> bool:
    return character.isascii() and character.isalnum()


def _occurrences(text: str, tag: str) -> list[int]:
    found, start = [], text.find(tag)
    while start != -1:
        found.append(start)
        start = text.find(tag, start + 1)
    return found


@st.composite
def cut_answers(draw: st.DrawFn) -> Bent:
    """A corpus answer cut off at any character, as the length limit cuts."""
    answer = draw(ANSWER)
    index = draw(st.integers(min_value=0, max_value=len(answer.answer)), label="cut at")
    note(f"{answer.id} cut at {index}: …{answer.answer[max(0, index - 80) : index]!r}")
    return Bent(answer, answer.answer[:index])


@st.composite
def looping_answers(draw: st.DrawFn) -> Looped:
    """A corpus answer cut anywhere, its last 2 to 600 characters (the unit) then written 10 to 30 times over."""
    answer = draw(ANSWER)
    end = draw(st.integers(min_value=2, max_value=len(answer.answer)), label="unit ends at")
    length = draw(st.integers(min_value=2, max_value=min(600, end)), label="unit length")
    unit = answer.answer[end - length : end]
    note(f"{answer.id}: unit {unit!r} looping after …{answer.answer[max(0, end - length - 40) : end - length]!r}")
    return Looped(answer, answer.answer[:end] + unit * (draw(REPEATS, label="repeats") - 1), unit)


def _tag_put_in(draw: st.DrawFn, text: str, tags: tuple[str, ...]) -> str:
    tag, index = draw(st.sampled_from(tags)), draw(st.sampled_from(places(text)))
    return text[:index] + tag + text[index:]


def _maybe_a_cut_tag_at_the_end(draw: st.DrawFn, text: str) -> str:
    if "<" in text.rsplit(">", 1)[-1]:  # cut in a tag already: the length limit cuts once
        return text
    return text + draw(st.sampled_from(CUT_TAGS)) if draw(st.booleans(), label="ends in a cut tag") else text


@st.composite
def tags_added(draw: st.DrawFn, answers: st.SearchStrategy[RealAnswer] = ANSWER) -> Bent:
    """A corpus answer with 1 to 6 tags that hold no value put in where the model puts tags, maybe one cut at its
    end."""
    answer = draw(answers)
    text = answer.answer
    for _ in range(draw(st.integers(min_value=1, max_value=6), label="tags")):
        text = _tag_put_in(draw, text, EMPTY_TAGS)
    text = _maybe_a_cut_tag_at_the_end(draw, text)
    note(f"{answer.id} with tags added: {text!r}")
    return Bent(answer, text)


@st.composite
def tags_unbalanced(draw: st.DrawFn) -> Bent:
    """A corpus answer with 1 to 6 tags put in or taken out, opening and closing tags left unpaired, maybe a tag
    cut at its end."""
    answer = draw(ANSWER)
    text = answer.answer
    for _ in range(draw(st.integers(min_value=1, max_value=6), label="changes")):
        present = [(index, tag) for tag in TAGS for index in _occurrences(text, tag)]
        if bool(present) and draw(st.booleans(), label="take one out"):
            index, tag = draw(st.sampled_from(present))
            text = text[:index] + text[index + len(tag) :]
        else:
            text = _tag_put_in(draw, text, TAGS)
    text = _maybe_a_cut_tag_at_the_end(draw, text)
    note(f"{answer.id} unbalanced: {text!r}")
    return Bent(answer, text)


# Cut anywhere


@CHEAP
@given(cut_answers())
@example(bent_by_hand("v15-spothy-dir-tag-only", lambda text: text[:-1]))  # "<dir>0</dir": RecursionError
def test_an_answer_cut_anywhere_reads_as_a_document_page_without_leaks(bent: Bent) -> None:
    assert leaked(exports(bent.text, bent.answer)) == {}


@CHEAP
@given(cut_answers())
def test_an_answer_cut_anywhere_reads_as_a_spotting_page_without_leaks(bent: Bent) -> None:
    assert leaked(exports(bent.text, bent.answer, as_spotting=True)) == {}


@CHEAP
@given(cut_answers())
def test_an_answer_cut_anywhere_gives_boxes_of_words_inside_the_image(bent: Bent) -> None:
    width, height = bent.answer.size
    for box in parse_spotting(bent.text, width, height):
        assert not leaks(box.text) and not is_punctuation(box.text), box
        assert 0 <= box.box[0] <= box.box[2] <= width and 0 <= box.box[1] <= box.box[3] <= height, box


# Looping tails


@CHEAP
@given(cut_answers())
def test_an_answer_cut_anywhere_is_cleaned_up_as_tencent_cleans_it(bent: Bent) -> None:
    assert cut_repeated_tail(bent.text, min_chars=0)[0] == reference_cut(bent.text)


@CHEAP
@given(looping_answers())
def test_a_looping_tail_is_cut_as_tencent_cuts_it(looped: Looped) -> None:
    assert cut_repeated_tail(looped.text, min_chars=0) == (reference_cut(looped.text), True)


@CHEAP
@given(looping_answers())
def test_a_looping_tail_is_cut_to_at_most_one_copy_of_its_unit(looped: Looped) -> None:
    cleaned, _ = cut_repeated_tail(looped.text, min_chars=0)
    assert looped.text.startswith(cleaned) and not cleaned.endswith(looped.unit * 2)


@READS
@given(looping_answers())
def test_a_looping_answer_once_cut_reads_without_leaks(looped: Looped) -> None:
    cleaned, _ = cut_repeated_tail(looped.text, min_chars=0)
    assert leaked(exports(cleaned, looped.answer)) == {}


# Unbalanced and cut tags


@READS
@given(tags_unbalanced())
@example(bent_by_hand("v15-fields-fenced-json-string-none", lambda text: text + "<hy-me"))  # after a code fence
@example(bent_by_hand("v15-layoutparse-json-no-text", lambda text: text.replace("{", "{</poly>")))  # ValueError
def test_an_answer_with_unbalanced_tags_reads_as_a_document_page_without_leaks(bent: Bent) -> None:
    assert leaked(exports(bent.text, bent.answer)) == {}


@READS
@given(tags_unbalanced())
def test_an_answer_with_unbalanced_tags_reads_as_a_spotting_page_without_leaks(bent: Bent) -> None:
    assert leaked(exports(bent.text, bent.answer, as_spotting=True)) == {}


@READS
@given(tags_added(ANSWER_WITH_TEXT))
@example(bent_by_hand("v15-text-smoke-two-lines", lambda text: text.replace("CPU ", "CPU</hy-meta> </hy-meta>")))
@example(
    bent_by_hand("v15-docparse-html-empty-caption-times", lambda text: text.replace("<table>", "</hy-meta><table>"))
)
def test_tags_that_hold_no_value_take_no_word_away(bent: Bent) -> None:
    expected = answer_words(bent.answer.answer, body_only=True)
    for name, output in exports(bent.text, bent.answer).items():
        assert recall(expected, output) >= 0.9, name


# The stream's loop check


@READS
@given(looping_answers(), GUARDS, GROWTH)
def test_the_loop_check_never_raises_on_a_growing_answer(looped: Looped, guard: LoopGuard, chunks: list[int]) -> None:
    length = 0
    with fails_if_it_hangs():
        for chunk in chunks:
            length = min(length + chunk, len(looped.text))
            assert guard.looping(looped.text[:length]) in (True, False)


@READS
@given(looping_answers(), st.text(min_size=1, max_size=200), st.integers(min_value=0, max_value=100_000))
def test_the_loop_check_looks_at_its_window_only_however_long_the_answer(
    looped: Looped, filler: str, length_before: int
) -> None:
    # What comes before the last WINDOW characters changes nothing: a check costs the same on any answer.
    tail = looped.text[-LoopGuard.WINDOW :]
    before = (filler * (length_before // len(filler) + 1))[:length_before]
    with fails_if_it_hangs():
        verdict = LoopGuard(start=0).looping(before + tail)
    assert verdict == LoopGuard(start=0).looping("x" * length_before + tail)
