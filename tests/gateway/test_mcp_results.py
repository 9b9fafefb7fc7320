"""A long tool answer handed out in parts an agent accepts, each naming where the next begins."""

from __future__ import annotations

import re

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from gateway.mcp_server.reading import parse_pages
from gateway.mcp_server.results import (
    KEPT_CHARACTERS,
    MAX_RESULT_TOKENS,
    KeptResults,
    estimated_tokens,
    page_of,
    result_key,
)

NEXT = re.compile(r"offset=(\d+) for the next part")


def parts(text: str) -> list[str]:
    """Every part of ``text``, following each part's offset as an agent would."""
    found, offset = [], 0
    while True:
        part = page_of(text, offset, "ocr_document")
        found.append(part)
        following = NEXT.search(part)
        if following is None:
            return found
        offset = int(following[1])


@pytest.mark.parametrize("line", ["A line of Latin prose, as a page of a contract has it.", "合同的每一页都有中文。"])
def test_a_long_answer_comes_in_parts_that_fit_and_add_up_to_it(line: str) -> None:
    text = "\n".join(f"{number}. {line}" for number in range(12_000))
    found = parts(text)
    assert len(found) > 1
    assert all(estimated_tokens(part) <= MAX_RESULT_TOKENS + 100 for part in found)  # the note itself is short
    bodies = [part.rsplit("\n\n[Characters ", 1)[0] for part in found]
    assert "".join(bodies) == text
    assert all(body.endswith("\n") for body in bodies[:-1])  # cut between lines, not inside one


def test_a_short_answer_is_given_whole_and_an_offset_past_its_end_is_refused() -> None:
    assert page_of("short", 0, "spot_text") == "short"
    with pytest.raises(ToolError, match="past the end"):
        page_of("short", 6, "spot_text")


def test_kept_answers_are_per_caller_and_arguments_and_bounded() -> None:
    kept = KeptResults()
    asked = {"source": "file-1", "pages": None, "offset": 0}
    kept.put(result_key("alice", "ocr_document", asked), "alice's")
    assert kept.get(result_key("alice", "ocr_document", {**asked, "offset": 900})) == "alice's"
    assert kept.get(result_key("bob", "ocr_document", asked)) is None
    assert kept.get(result_key("alice", "ocr_document", {**asked, "pages": "1"})) is None
    for number in range(40):
        kept.put(str(number), "x")
    assert kept.get(result_key("alice", "ocr_document", asked)) is None
    kept.put("big", "y" * KEPT_CHARACTERS)
    kept.put("bigger", "z" * KEPT_CHARACTERS)
    assert kept.get("big") is None and kept.get("bigger") is not None


def test_page_ranges() -> None:
    assert parse_pages(None, 100) is None and parse_pages(" ", 100) is None
    assert parse_pages("1-3, 7,2", 100) == [0, 1, 2, 6]
    for bad in ("0", "3-1", "one", "1-", "1,,2", "1-101", "1-999999999999"):  # the last is not expanded first
        with pytest.raises(ToolError):
            parse_pages(bad, 100)
