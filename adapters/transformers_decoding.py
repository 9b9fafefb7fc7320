"""One batch through transformers ``generate``: per-row stop rules, streamed text, penalties and logprobs.

``generate`` decodes every row of a batch with one sampling configuration, so
what may differ between the requests of a batch is handled here, per row, in
hooks ``generate`` calls at every step:

- :class:`BatchStepper` (a ``StoppingCriteria``, called after each new token)
  turns the new token of each row into text, applies the row's own
  ``max_tokens``, stop strings and stop tokens, notices cancelled requests,
  and hands each request its delta as it happens — that is the stream;
- :class:`Penalties` applies repetition / presence / frequency penalties with
  vLLM's definitions, row by row;
- :class:`LogprobRecorder` keeps each step's log-probabilities of the raw
  logits (before penalties and temperature, like vLLM's default).

Nothing here touches asyncio: rows report through the ``emit`` callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import LogitsProcessor, StoppingCriteria

from adapters.engine import ChoiceDelta, EngineOutput, TokenLogprob

# JSON has no -inf; the same floor as the vLLM engine.
MIN_LOGPROB = -9999.0


@dataclass(frozen=True)
class RowRules:
    """What ends one row (one choice of one request) and how its logits are penalised."""

    max_tokens: int
    stop: tuple[str, ...] = ()
    stop_token_ids: frozenset[int] = frozenset()
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: int | None = None


class IncrementalText:
    """Token ids → text as they arrive, holding back an incomplete UTF-8 character (vLLM's method)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def add(self, token_id: int) -> str:
        """The text this token completes (possibly empty)."""
        self._ids.append(token_id)
        decode = self._tokenizer.decode
        # Decoding a short window keeps the cost per token flat; the window's first tokens give context
        # (a leading space, a half character) that decoding the new tokens alone would get wrong.
        before = decode(self._ids[self._prefix_offset : self._read_offset], skip_special_tokens=True)
        after = decode(self._ids[self._prefix_offset :], skip_special_tokens=True)
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self._prefix_offset, self._read_offset = self._read_offset, len(self._ids)
        return str(after[len(before) :])


@dataclass
class Row:
    """One choice of one request inside a batch, and what it has produced."""

    rules: RowRules
    index: int  # the choice index within its request
    text: IncrementalText
    tokens: int = 0
    output: str = ""  # text so far, a stop string already cut off
    sent: int = 0  # characters of ``output`` already handed out
    finish_reason: str | None = None

    def advance(self, token_id: int) -> None:
        """Take the row's next token and decide whether the row is finished."""
        self.tokens += 1
        rules = self.rules
        if token_id in rules.stop_token_ids:
            self.finish_reason = "stop"
        else:
            self._add_text(self.text.add(token_id))
        if self.finish_reason is None and self.tokens >= rules.max_tokens:
            self.finish_reason = "length"

    def _add_text(self, piece: str) -> None:
        if not piece:
            return
        start = max(0, len(self.output) - max((len(stop) for stop in self.rules.stop), default=0))
        self.output += piece
        # The earliest stop string wins, like vLLM; it and what follows it are not part of the answer.
        found = [position for stop in self.rules.stop if (position := self.output.find(stop, start)) >= 0]
        if found:
            self.output = self.output[: min(found)]
            self.finish_reason = "stop"

    def take_text(self) -> str:
        """Text not yet handed out; while running, the tail that could begin a stop string stays back."""
        hold = 0 if self.finish_reason else max((len(stop) - 1 for stop in self.rules.stop), default=0)
        end = max(self.sent, len(self.output) - hold)
        piece, self.sent = self.output[self.sent : end], end
        return piece


@dataclass
class RequestRows:
    """A request's rows in a batch (``n`` of them), its prompt length, and where its outputs go."""

    rows: list[Row]
    prompt_tokens: int
    emit: Callable[[EngineOutput | None], None]  # ``None`` once every row is finished
    is_cancelled: Callable[[], bool]
    closed: bool = False


class LogprobRecorder(LogitsProcessor):
    """Keeps the log-probabilities of the logits ``generate`` is about to sample from; changes nothing."""

    def __init__(self) -> None:
        self.last: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.last = torch.log_softmax(scores.float(), dim=-1)
        return scores


class Penalties(LogitsProcessor):
    """vLLM's penalties per row: repetition over prompt and output; presence and frequency over the output."""

    def __init__(self, rules: list[RowRules], prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> None:
        device = prompt_ids.device
        self._repetition = torch.tensor([r.repetition_penalty for r in rules], device=device).unsqueeze(1)
        self._presence = torch.tensor([r.presence_penalty for r in rules], device=device).unsqueeze(1)
        self._frequency = torch.tensor([r.frequency_penalty for r in rules], device=device).unsqueeze(1)
        self._prompt_ids, self._prompt_mask = prompt_ids, prompt_mask
        self._in_prompt: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self._in_prompt is None:
            # Padding counts as nothing.
            mask = self._prompt_mask.to(scores.dtype)
            self._in_prompt = torch.zeros_like(scores).scatter_add_(1, self._prompt_ids, mask) > 0
        counts = torch.zeros_like(scores)
        output = input_ids[:, self._prompt_ids.shape[1] :]
        counts.scatter_add_(1, output, torch.ones_like(output, dtype=scores.dtype))
        seen = self._in_prompt | (counts > 0)
        penalised = torch.where(scores > 0, scores / self._repetition, scores * self._repetition)
        repeated = torch.where(seen, penalised, scores)
        return repeated - self._frequency * counts - self._presence * (counts > 0).to(scores.dtype)  # type: ignore[return-value]


class BatchStepper(StoppingCriteria):
    """Called by ``generate`` after every step: per-row bookkeeping, streaming, and which rows are finished."""

    def __init__(self, requests: list[RequestRows], tokenizer: Any, recorder: LogprobRecorder | None) -> None:
        self._requests = requests
        self._tokenizer = tokenizer
        self._recorder = recorder
        self._rows = [(request, row) for request in requests for row in request.rows]

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        new_tokens = input_ids[:, -1].tolist()
        deltas: dict[int, list[ChoiceDelta]] = {}
        for position, ((request, row), token_id) in enumerate(zip(self._rows, new_tokens, strict=True)):
            if row.finish_reason is not None:
                continue
            if request.is_cancelled():
                row.finish_reason = "abort"
                continue
            row.advance(token_id)
            logprobs = self._logprobs(position, token_id, row.rules.logprobs)
            deltas.setdefault(id(request), []).append(
                ChoiceDelta(row.index, row.take_text(), 1, row.finish_reason, logprobs)
            )
        for request in self._requests:
            self._report(request, deltas.get(id(request)))
        finished = [row.finish_reason is not None for _, row in self._rows]
        return torch.tensor(finished, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]

    def close(self) -> None:
        """After ``generate`` returns: end every request still open (cancelled ones, or a cut-short batch)."""
        for request in self._requests:
            if not request.closed:
                request.closed = True
                request.emit(None)

    def _report(self, request: RequestRows, choices: list[ChoiceDelta] | None) -> None:
        if request.closed:
            return
        if choices and not request.is_cancelled():
            request.emit(EngineOutput(prompt_tokens=request.prompt_tokens, choices=choices))
        if all(row.finish_reason is not None for row in request.rows):
            request.closed = True
            request.emit(None)

    def _logprobs(self, position: int, token_id: int, top: int | None) -> list[TokenLogprob] | None:
        if top is None or self._recorder is None or self._recorder.last is None:
            return None
        row = self._recorder.last[position]
        best = torch.topk(row, top) if top else None
        alternatives = [] if best is None else list(zip(best.indices.tolist(), best.values.tolist(), strict=True))
        decode = self._tokenizer.decode
        return [
            TokenLogprob(
                token=decode([token_id]),
                logprob=max(float(row[token_id]), MIN_LOGPROB),
                top=[(decode([candidate]), max(value, MIN_LOGPROB)) for candidate, value in alternatives],
            )
        ]


def left_pad(rows: list[dict[str, torch.Tensor]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Stack single-prompt processor outputs into one batch: token rows padded on the left, images concatenated."""
    length = max(row["input_ids"].shape[1] for row in rows)

    def stacked(name: str, value: int) -> torch.Tensor:
        return torch.cat(
            [torch.nn.functional.pad(row[name], (length - row[name].shape[1], 0), value=value) for row in rows]
        )

    batch = {
        "input_ids": stacked("input_ids", pad_token_id),
        "attention_mask": stacked("attention_mask", 0),
        "mm_token_type_ids": stacked("mm_token_type_ids", 0),
    }
    with_images = [row for row in rows if "pixel_values" in row]
    if with_images:
        # The model pairs images with placeholder spans in row order, so the concatenation follows it.
        batch["pixel_values"] = torch.cat([row["pixel_values"] for row in with_images])
        batch["image_grid_thw"] = torch.cat([row["image_grid_thw"] for row in with_images])
    return batch
