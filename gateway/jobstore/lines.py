"""Batch input lines → request rows, and request rows → the output and error files (JSON Lines).

Where we differ from OpenAI on purpose: a line that is not a request object (bad JSON, no ``custom_id``,
wrong ``url``) does not fail the whole batch; it goes to the error file and the other lines are served.
A ``custom_id`` used twice still fails the batch at validation, as on OpenAI: results are matched by it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping

from gateway.jobstore.database import store_json
from gateway.jobstore.wire import BatchError, error_line, new_request_id

MAX_REQUESTS = 50_000  # OpenAI's limit per batch
MAX_CUSTOM_ID = 512


@dataclass
class ParsedInput:
    rows: list[dict[str, Any]] = field(default_factory=list)  # batch_requests rows
    errors: list[BatchError] = field(default_factory=list)  # reasons the whole batch fails


def count_requests(data: bytes) -> int:
    """The input's non-blank lines, counted without parsing: what a batch will queue. Blocking (run it in a thread)."""
    return sum(1 for line in data.splitlines() if line.strip())


def parse_input(data: bytes, batch_id: str, endpoint: str) -> ParsedInput:
    parsed = ParsedInput()
    seen: dict[str, int] = {}
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        if len(parsed.rows) == MAX_REQUESTS:  # counted while reading: the rest is not parsed
            parsed.errors.append(
                BatchError(code="too_many_requests", message=f"A batch holds at most {MAX_REQUESTS} requests.")
            )
            return parsed
        custom_id, body, problem = _read_line(raw, endpoint)
        if custom_id is not None:
            if custom_id in seen:
                parsed.errors.append(
                    BatchError(
                        code="duplicate_custom_id",
                        message=f"The custom_id {custom_id!r} is a duplicate of line {seen[custom_id]}; "
                        "custom_id must be unique for each request in a batch.",
                        param="custom_id",
                        line=number,
                    )
                )
            seen.setdefault(custom_id, number)
        row = {"batch_id": batch_id, "line": number, "custom_id": custom_id, "body": body, "attempts": 0}
        if problem is None:
            parsed.rows.append({**row, "state": "pending", "result": None})
        else:
            result = error_line(new_request_id(), custom_id, "invalid_request", f"Line {number}: {problem}")
            parsed.rows.append({**row, "state": "failed", "result": result})
    if not parsed.rows:
        parsed.errors.append(BatchError(code="empty_file", message="The input file has no requests."))
    return parsed


def _read_line(raw: bytes, endpoint: str) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """(custom_id, body, problem): what a line asks for, and what is wrong with it if anything."""
    try:
        item = json.loads(raw)
    except ValueError as error:
        return None, None, f"not valid JSON ({error})."
    if not isinstance(item, dict):
        return None, None, "a line must be a JSON object."
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not 0 < len(custom_id) <= MAX_CUSTOM_ID or "\x00" in custom_id:
        return None, None, f"custom_id must be a string of 1 to {MAX_CUSTOM_ID} characters (no NUL)."
    if not _storable(custom_id):
        return None, None, "custom_id holds a lone UTF-16 surrogate (such as \\ud800), which is not text."
    if not _storable(json.dumps(item, ensure_ascii=False)):
        return custom_id, None, "the line holds a lone UTF-16 surrogate (such as \\ud800), which is not text."
    if item.get("method") != "POST":
        return custom_id, None, "method must be 'POST'."
    if item.get("url") != endpoint:
        return custom_id, None, f"url must be the batch's endpoint {endpoint!r}."
    if not isinstance(item.get("body"), dict):
        return custom_id, None, "body must be a JSON object."
    return custom_id, item["body"], None


def _storable(text: str) -> bool:
    """Whether ``text`` is real Unicode: JSON's ``\\ud800`` escape decodes to half a character, which no database
    column takes (and which would fail every attempt to store the batch)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def output_lines(rows: Sequence[RowMapping], unfinished: tuple[str, str] | None) -> bytes:
    """Requests' lines of an output or error file (JSON Lines), in the rows' order, from each row's stored result
    (JSON text, one line). A request that never ran (the batch was cancelled or expired) gets ``unfinished``
    (code, message) as its error."""
    lines = []
    for row in rows:
        if row["state"] == "pending" and unfinished is not None:
            lines.append(store_json(error_line(new_request_id(), row["custom_id"], *unfinished)))
        else:
            lines.append(row["result"])
        lines.append("\n")
    return "".join(lines).encode()
