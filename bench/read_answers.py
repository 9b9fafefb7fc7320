"""How the readers fare on real HunyuanOCR answers (``tests/real_answers``): per form, how many read cleanly.

An answer reads cleanly when, read as a page's document answer (after the gateway's loop clean-up), its words reach
the Markdown, the text export and the DoclingDocument (recall ≥ 0.95, distinct words, coordinates and tags left
out), no tag or coordinate run leaks into them, a non-answer leaves the page empty with a warning, and — for
spotting forms — it gives boxes, none of them junk (a tag fragment or lone punctuation as text, a box outside the
image), whose texts hold its words.

    python -m bench.read_answers            # the table, one line per form
    python -m bench.read_answers --failures # and why each unclean answer fails
    python -m bench.read_answers --plan     # 1.5's tasks for documents: which keep the text, which give boxes
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass, field

from gateway.documents.answers import read_answer
from gateway.documents.build import PageAnswers, build_document
from gateway.documents.exports import to_markdown, to_text
from prompts.catalog import load_prompt_set
from prompts.markup import is_non_answer, is_punctuation
from prompts.postprocess import cut_repeated_tail
from prompts.spotting import NO_BOXES, parse_spotting
from tests.corpus import ANSWERS, RealAnswer, answer_words, leaks, recall

MIN_RECALL = 0.95
FORMS = (
    "spotting text",
    "spotting JSON",
    "layout tagged",
    "layout JSON",
    "document Markdown",
    "tables",
    "fields",
    "loops",
    "non-answers",
    "other",
)


@dataclass
class Verdict:
    answer: RealAnswer
    forms: list[str]
    problems: list[str] = field(default_factory=list)


def forms(answer: RealAnswer) -> list[str]:
    """The forms an answer counts for (a looping table counts for both)."""
    text, found = answer.answer, []
    if is_non_answer(text):
        return ["non-answers"]
    if "<hy-meta>" in text:
        found.append("layout tagged")
    elif '"layout_type"' in text:
        found.append("layout JSON")
    elif answer.task in ("spotting", "spotting_json") or '"box"' in text or '"bbox"' in text:
        found.append("spotting JSON" if text.lstrip("`json \n").startswith(("[", "{")) else "spotting text")
    elif answer.task == "fields":
        found.append("fields")
    elif answer.task == "document":
        found.append("document Markdown")
    if "<table" in text or "|---" in text or answer.task == "table":
        found.append("tables")
    if cut_repeated_tail(text, min_chars=0)[1]:
        found.append("loops")
    return found or ["other"]


def judge(answer: RealAnswer) -> Verdict:
    verdict = Verdict(answer, forms(answer))
    cleaned, _ = cut_repeated_tail(answer.answer, min_chars=load_prompt_set(answer.model).cleanup_min_chars)
    width, height = answer.size
    built = build_document([PageAnswers(1, width, height, document=cleaned)])
    outputs = {
        "markdown": to_markdown(built.document),
        "text": to_text(built.document),
        "docling": "\n".join([item.text for item in built.document.texts] + _cells(built.document)),
    }
    if "non-answers" in verdict.forms:
        if any(output.strip() for output in outputs.values()) or not built.warnings:
            verdict.problems.append("a non-answer gave text or no warning")
        return verdict
    expected, body = answer_words(cleaned), answer_words(cleaned, body_only=True)
    if not expected and not built.warnings:
        verdict.problems.append("no text and no warning")
    for name, output in outputs.items():
        if (share := recall(expected if name == "docling" else body, output)) < MIN_RECALL:
            verdict.problems.append(f"{name}: word recall {share:.2f}")
        if leaked := leaks(output):
            verdict.problems.append(f"{name}: leaks {leaked[:3]}")
    if {"spotting text", "spotting JSON"} & set(verdict.forms):
        verdict.problems += _spotting_problems(cleaned, expected, width, height)
    return verdict


def _spotting_problems(answer: str, expected: set[str], width: int, height: int) -> list[str]:
    """A spotting answer read as spotting: boxes, none junk, whose texts hold its words; or, where it gave no box,
    its words on the page with a warning that says so."""
    boxes = parse_spotting(answer, width, height)
    if not boxes:
        built = build_document([PageAnswers(1, width, height, spotting=answer)])
        problems = [] if any(NO_BOXES in warning for warning in built.warnings) else ["spotting: no box, no warning"]
        if (share := recall(expected, to_text(built.document))) < MIN_RECALL:
            problems.append(f"spotting without boxes: word recall {share:.2f}")
        return problems
    problems = []
    junk = [box for box in boxes if leaks(box.text) or is_punctuation(box.text) or "<" in box.text]
    outside = [
        box for box in boxes if not (0 <= box.box[0] <= box.box[2] <= width and 0 <= box.box[1] <= box.box[3] <= height)
    ]
    if junk:
        problems.append(f"spotting: {len(junk)} junk boxes, e.g. {junk[0].text[:40]!r}")
    if outside:
        problems.append(f"spotting: {len(outside)} boxes outside the image")
    if (share := recall(expected, " ".join(box.text for box in boxes))) < MIN_RECALL:
        problems.append(f"spotting: word recall {share:.2f}")
    return problems


def _cells(document: object) -> list[str]:
    return [cell.text for table in getattr(document, "tables", []) for cell in table.data.table_cells]


def report(verdicts: list[Verdict], failures: bool) -> str:
    clean: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for verdict in verdicts:
        for form in verdict.forms:
            total[form] += 1
            clean[form] += not verdict.problems
    lines = [f"{'form':<20} {'clean':>5} / {'all':<4}"]
    lines += [f"{form:<20} {clean[form]:>5} / {total[form]:<4}" for form in FORMS if total[form]]
    overall = sum(not verdict.problems for verdict in verdicts)
    lines.append(f"{'every answer':<20} {overall:>5} / {len(verdicts):<4}")
    if failures:
        lines += [f"  {v.answer.id}: {'; '.join(v.problems)}" for v in verdicts if v.problems]
    return "\n".join(lines)


def plan_evidence(answers: list[RealAnswer]) -> str:
    """For the 1.5 answers to each task a document can be read with: how many keep the page's text (words that
    reach the page's blocks) and how many give usable boxes."""
    rows = []
    for task, gives_boxes in (("layout_parse", True), ("document", False), ("spotting_json", True), ("spotting", True)):
        asked = [answer for answer in answers if answer.model == "1.5" and answer.task == task]
        text = boxes = 0
        for answer in asked:
            cleaned, _ = cut_repeated_tail(answer.answer, min_chars=load_prompt_set("1.5").cleanup_min_chars)
            reading = read_answer(cleaned, *answer.size)
            text += any(block.text for block in reading.blocks)
            if task == "layout_parse":
                boxes += any(block.box for block in reading.blocks)
            elif gives_boxes:
                boxes += bool(parse_spotting(cleaned, *answer.size))
        shown = f"{boxes:>5} / {len(asked)}" if gives_boxes else f"{'—':>5}"
        rows.append(f"{task:<14} {text:>4} / {len(asked):<3} {shown}")
    return "\n".join([f"{'1.5 task':<14} {'text kept':>9} {'boxes':>9}", *rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--failures", action="store_true", help="list each unclean answer and why")
    parser.add_argument("--plan", action="store_true", help="which 1.5 tasks keep the text and give boxes")
    args = parser.parse_args()
    print(report([judge(answer) for answer in ANSWERS], args.failures))
    if args.plan:
        print(plan_evidence(ANSWERS))


if __name__ == "__main__":
    main()
