"""One chat request's answers as they come out of the engine, and as they go on the wire.

Per-choice state (text so far, tokens, finish reason, loop guard), the engine's deltas → OpenAI chunk choices,
finish reasons, logprobs and usage, and the answer rewritten once complete (Markdown tables, spotting boxes as
JSON). ``gateway.chat`` runs the request; this module only shapes what it produced.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from adapters.engine import ChoiceDelta, EngineOutput, EngineRequest, TokenLogprob
from gateway import protocol as wire
from gateway.media.loader import source_size
from prompts.catalog import ResolvedTask
from prompts.markup import answer_text
from prompts.postprocess import LoopGuard
from prompts.spotting import NO_BOXES, parse_spotting, unplaced_text
from prompts.tables import html_tables_to_markdown

SPOTTING_OUTPUTS = ("spotting", "spotting_json")
Report = dict[str, Any] | None  # the request's log/metrics fields, filled in as the request runs


@dataclass
class ChoiceState:
    """What one choice has produced so far (per request, per choice)."""

    guard: LoopGuard
    text: list[str] = field(default_factory=list)
    length: int = 0
    tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)
    looped: bool = False
    raw: str | None = None  # the model's own text, when the answer was rewritten

    def joined(self) -> str:
        return "".join(self.text)


@dataclass
class Run:
    """One request on its way through the engine."""

    engine_request: EngineRequest
    task: ResolvedTask | None
    images: list[Image.Image]
    states: dict[int, ChoiceState]
    prompt_tokens: int = 0
    cached_tokens: int = 0
    media_seconds: float = 0.0
    boxes_as_json: bool = False  # spotting asked for as JSON: the reply becomes the parsed boxes

    @property
    def completion_tokens(self) -> int:
        return sum(state.tokens for state in self.states.values())

    @property
    def looped(self) -> bool:
        return any(state.looped for state in self.states.values())

    @property
    def rewrites_answer(self) -> bool:
        """Whether the answer is rewritten once complete (so a stream sends it in one piece)."""
        return self.boxes_as_json or (self.task is not None and self.task.convert_to is not None)


class ChunkTemplate:
    """One stream's plain content chunks (a choice's text and nothing else) as the JSON text
    ``ChatCompletionChunk.model_dump_json()`` writes, from a template cut once per choice: a stream sends one per
    token, and building and dumping the models costs several times the template (bench/README.md)."""

    def __init__(self, chunk_id: str, created: int, model: str) -> None:
        self._chunk = wire.ChatCompletionChunk(id=chunk_id, created=created, model=model, choices=[])
        self._parts: dict[int, tuple[str, str]] = {}

    def content(self, index: int, text: str) -> str:
        if (parts := self._parts.get(index)) is None:
            mark = uuid.uuid4().hex  # where the text goes: nothing else in a chunk can hold it
            choice = wire.ChunkChoice(index=index, delta=wire.Delta(content=mark))
            head, _, tail = (
                self._chunk.model_copy(update={"choices": [choice]}).model_dump_json().partition(f'"{mark}"')
            )
            parts = self._parts[index] = head, tail
        # pydantic writes a string as json.dumps does without ensure_ascii (tests/gateway/test_chat_answers.py)
        return parts[0] + json.dumps(text, ensure_ascii=False) + parts[1]


def plain_content(output: EngineOutput, with_logprobs: bool | None) -> ChoiceDelta | None:
    """The output's one delta when a plain content chunk carries it: text, no finish reason, no logprobs."""
    if len(output.choices) != 1 or with_logprobs:
        return None
    delta = output.choices[0]
    return delta if delta.text and delta.finish_reason is None else None


def report_counts(run: Run, report: Report) -> None:
    if report is None:
        return
    report.update(
        prompt_tokens=run.prompt_tokens,
        completion_tokens=run.completion_tokens,
        cached_tokens=run.cached_tokens,
        images=len(run.images),
        pixels=sum(image.width * image.height for image in run.images),
        task=run.task.task if run.task else None,
    )
    if run.images:
        report["media_ms"] = round(run.media_seconds * 1000, 1)


def boxes(run: Run, text: str) -> list[dict[str, Any]] | None:
    """Spotting output as boxes in the user's image's pixels (one-image requests)."""
    if run.task is None or run.task.output not in SPOTTING_OUTPUTS or len(run.images) != 1:
        return None
    width, height = source_size(run.images[0])
    return [box.as_dict() for box in parse_spotting(text, width, height)]


def warnings(run: Run, text: str) -> list[str] | None:
    """What the client should know about reading the first choice's answer (tasks only: free-form questions get
    the model's words as they are)."""
    if run.task is None:
        return None
    said = list(answer_text(text)[1])
    if run.task.output in SPOTTING_OUTPUTS and not said and unplaced_text(text):
        said.append(NO_BOXES)
    return said or None


def converted(run: Run, text: str) -> str:
    """The answer as the user asked for it: Markdown tables, or spotting boxes as JSON."""
    if run.boxes_as_json:
        return json.dumps({"boxes": boxes(run, text) or []}, ensure_ascii=False)
    if run.task is not None and run.task.convert_to == "markdown":
        return html_tables_to_markdown(text)
    return text


def looping(state: ChoiceState) -> bool:
    if state.finish_reason is None and state.guard.due(state.length) and state.guard.looping(state.joined()):
        state.looped = True
    return state.looped


def accumulate(state: ChoiceState, delta: ChoiceDelta) -> None:
    state.text.append(delta.text)
    state.length += len(delta.text)
    state.tokens += delta.num_tokens
    state.finish_reason = delta.finish_reason or state.finish_reason
    state.logprobs.extend(delta.logprobs or [])


def chunk_choice(state: ChoiceState, delta: ChoiceDelta, with_logprobs: bool) -> wire.ChunkChoice | None:
    accumulate(state, delta)
    # vLLM holds text back (stop strings, half a UTF-8 character) but its tokens' logprobs still go out.
    if not delta.text and delta.finish_reason is None and not (with_logprobs and delta.logprobs):
        return None
    return wire.ChunkChoice(
        index=delta.index,
        delta=wire.Delta(content=delta.text) if delta.text else wire.Delta(),
        finish_reason=finish_reason_of(delta.finish_reason),
        logprobs=wire_logprobs(delta.logprobs or []) if with_logprobs else None,
    )


def finish_reason(state: ChoiceState) -> wire.FinishReason | None:
    return "stop" if state.looped else finish_reason_of(state.finish_reason)


def finish_reason_of(reason: str | None) -> wire.FinishReason | None:
    if reason in ("stop", "length", "content_filter"):
        return reason  # type: ignore[return-value]
    return None if reason is None else "stop"


def wire_logprobs(tokens: list[TokenLogprob]) -> wire.ChoiceLogprobs:
    return wire.ChoiceLogprobs(
        content=[
            wire.TokenLogprob(
                token=token.token,
                logprob=token.logprob,
                bytes=list(token.token.encode()),
                top_logprobs=[
                    wire.TopLogprob(token=text, logprob=logprob, bytes=list(text.encode()))
                    for text, logprob in token.top
                ],
            )
            for token in tokens
        ]
    )


def usage(run: Run) -> wire.Usage:
    return wire.Usage(
        prompt_tokens=run.prompt_tokens,
        completion_tokens=run.completion_tokens,
        total_tokens=run.prompt_tokens + run.completion_tokens,
        prompt_tokens_details=wire.PromptTokensDetails(cached_tokens=run.cached_tokens),
    )
