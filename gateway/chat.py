"""The chat-completions service: OpenAI request → engine request → OpenAI response or chunks.

Two explicit entry points, ``complete`` and ``stream``; both raise gateway
errors and never return an error value. Both read the engine through
``_run``, which also stops an answer whose tail keeps repeating. How the answers are kept and shaped for the
wire (chunk choices, finish reasons, logprobs, usage, rewritten answers) is ``gateway.chat_answers``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from adapters.engine import (
    Engine,
    EngineOutput,
    EngineRequest,
    PromptBuilder,
    SamplingOptions,
    Turn,
)
from gateway import chat_answers as answers
from gateway import protocol as wire
from gateway.chat_answers import SPOTTING_OUTPUTS, ChoiceState, Report, Run
from gateway.conversation import load_turns
from gateway.errors import ModelNotFound, engine_errors
from gateway.media.loader import MediaLoader
from gateway.tasks import TaskPlanner
from prompts.catalog import PromptSet
from prompts.markup import answer_text
from prompts.postprocess import LoopGuard, cut_repeated_tail

ChunkFactory = Callable[..., wire.ChatCompletionChunk]


class ChatService:
    """Serves ``/v1/chat/completions`` on one engine for one served model name."""

    def __init__(
        self,
        engine: Engine,
        prompts: PromptBuilder,
        media: MediaLoader,
        tasks: TaskPlanner,
        model_name: str,
        max_images: int,
    ) -> None:
        self._engine = engine
        self._prompts = prompts
        self._media = media
        self._tasks = tasks
        self.model_name = model_name
        self._max_images = max_images

    @property
    def constrained_decoding(self) -> bool:
        """Whether the engine can hold answers to a JSON schema."""
        return self._engine.info.constrained_decoding

    @property
    def prompt_set(self) -> PromptSet:
        """The task catalog in use (HunyuanOCR 1.0's or 1.5's)."""
        return self._tasks.prompt_set

    async def complete(self, request: wire.ChatCompletionRequest, report: Report = None) -> wire.ChatCompletion:
        """The whole answer; ``report`` (the request's log/metrics fields) receives token counts and the task."""
        turns, media_seconds = await self._load(request)
        return await self.complete_turns(request, turns, report, media_seconds)

    async def stream(self, request: wire.ChatCompletionRequest, report: Report = None) -> AsyncGenerator[str, None]:
        """Chunks as JSON text, in OpenAI's order: role, content deltas, finish reasons, then usage if asked for."""
        turns, media_seconds = await self._load(request)
        run = self._prepare(request, turns, stream=True, media_seconds=media_seconds, report=report)
        try:
            async for chunk in self._chunks(run, request, as_text=True):
                yield chunk if isinstance(chunk, str) else chunk.model_dump_json()
        finally:
            answers.report_counts(run, report)

    async def complete_turns(
        self, options: wire.CompletionOptions, turns: list[Turn], report: Report = None, media_seconds: float = 0.0
    ) -> wire.ChatCompletion:
        """``complete`` for a conversation whose media is already loaded (``POST /ocr`` renders a PDF once,
        then asks page by page)."""
        run = self._prepare(options, turns, stream=False, media_seconds=media_seconds, report=report)
        await self._collect(run)
        truncated = False
        for state in run.states.values():
            text, cut = cut_repeated_tail(state.joined(), min_chars=self._tasks.prompt_set.cleanup_min_chars)
            state.raw, truncated = text, truncated or cut
            state.text = [answers.converted(run, answer_text(text)[0] if run.task else text)]
        choices = [
            wire.Choice(
                index=index,
                message=wire.AssistantReply(content=state.joined()),
                finish_reason=answers.finish_reason(state),
                logprobs=answers.wire_logprobs(state.logprobs) if options.logprobs else None,
            )
            for index, state in sorted(run.states.items())
        ]
        answers.report_counts(run, report)
        info = self._ocr_info(run, truncated or run.looped)
        if report is not None and info.warnings:
            report["warnings"] = info.warnings
        return wire.ChatCompletion(
            id=run.engine_request.request_id, model=self.model_name, choices=choices, usage=answers.usage(run), ocr=info
        )

    async def stream_turns(
        self, options: wire.CompletionOptions, turns: list[Turn], report: Report = None, media_seconds: float = 0.0
    ) -> AsyncGenerator[wire.ChatCompletionChunk, None]:
        """``stream`` for a conversation whose media is already loaded."""
        run = self._prepare(options, turns, stream=True, media_seconds=media_seconds, report=report)
        try:
            async for chunk in self._chunks(run, options, as_text=False):
                assert not isinstance(chunk, str)  # text only when asked for
                yield chunk
        finally:
            answers.report_counts(run, report)

    def task_for(self, options: wire.CompletionOptions, turns: list[Turn]) -> str | None:
        """The task these turns would run (``None``: the user's words go to the model unchanged)."""
        task = self._tasks.plan(options, turns).task
        return task.task if task else None

    async def _chunks(
        self, run: Run, request: wire.CompletionOptions, *, as_text: bool
    ) -> AsyncGenerator[wire.ChatCompletionChunk | str, None]:
        """The stream's chunks; ``as_text``: its plain content chunks (most of a stream) already as JSON text."""
        chunk_id, created = run.engine_request.request_id, wire.unix_time()
        template = answers.ChunkTemplate(chunk_id, created, self.model_name) if as_text else None

        def chunk(choices: list[wire.ChunkChoice], **extra: Any) -> wire.ChatCompletionChunk:
            return wire.ChatCompletionChunk(
                id=chunk_id, created=created, model=self.model_name, choices=choices, **extra
            )

        if run.rewrites_answer:
            # The answer is rewritten once it is complete, so it is sent in one piece.
            yield await self._converted_stream_chunk(run, chunk)
            if request.stream_options and request.stream_options.include_usage:
                yield chunk([], usage=answers.usage(run))
            return
        first = True
        async for output in self._run(run):
            if first:
                # The role chunk waits for the engine's first output, so a request the
                # engine rejects still gets an HTTP error rather than a broken stream.
                first = False
                yield chunk(
                    [wire.ChunkChoice(index=i, delta=wire.Delta(role="assistant", content="")) for i in run.states]
                )
            if template is not None and (delta := answers.plain_content(output, request.logprobs)):
                answers.accumulate(run.states[delta.index], delta)
                yield template.content(delta.index, delta.text)
                continue
            choices = [
                answers.chunk_choice(run.states[delta.index], delta, request.logprobs) for delta in output.choices
            ]
            if sent := [choice for choice in choices if choice is not None]:
                finished = all(state.finish_reason for state in run.states.values())
                # The chunk that finishes the answer carries our `ocr` extension.
                yield chunk(sent, ocr=self._ocr_info(run, False) if finished else None)
        if looped := [index for index, state in run.states.items() if state.looped]:
            stops = [wire.ChunkChoice(index=index, delta=wire.Delta(), finish_reason="stop") for index in looped]
            yield chunk(stops, ocr=self._ocr_info(run, True))
        if request.stream_options and request.stream_options.include_usage:
            yield chunk([], usage=answers.usage(run))

    async def _converted_stream_chunk(self, run: Run, chunk: ChunkFactory) -> wire.ChatCompletionChunk:
        await self._collect(run)
        for state in run.states.values():
            state.raw = state.joined()
        choices = [
            wire.ChunkChoice(
                index=index,
                delta=wire.Delta(role="assistant", content=answers.converted(run, state.joined())),
                finish_reason=answers.finish_reason(state),
            )
            for index, state in sorted(run.states.items())
        ]
        return chunk(choices, ocr=self._ocr_info(run, run.looped))

    async def _collect(self, run: Run) -> None:
        """Run the request to its end, recording every choice's answer into ``run``."""
        async for output in self._run(run):
            for delta in output.choices:
                answers.accumulate(run.states[delta.index], delta)

    async def _run(self, run: Run) -> AsyncGenerator[EngineOutput, None]:
        """The engine's outputs, recorded into ``run``; stops the engine once an answer loops."""
        with engine_errors():
            async with aclosing(self._engine.generate(run.engine_request)) as outputs:
                async for output in outputs:
                    run.prompt_tokens, run.cached_tokens = output.prompt_tokens, output.cached_tokens
                    yield output
                    if any(answers.looping(run.states[delta.index]) for delta in output.choices):
                        return  # closing the engine's generator aborts the request

    async def _load(self, request: wire.ChatCompletionRequest) -> tuple[list[Turn], float]:
        """The request's turns with every image loaded, and the seconds that took."""
        self._check_model(request)
        started = time.perf_counter()
        turns = await load_turns(request.messages, self._media, self._max_images)
        return turns, time.perf_counter() - started

    def _check_model(self, options: wire.CompletionOptions) -> None:
        if options.model is not None and options.model != self.model_name:
            raise ModelNotFound(
                f"The model {options.model!r} does not exist; this server serves {self.model_name!r}.", param="model"
            )

    def _prepare(
        self,
        request: wire.CompletionOptions,
        turns: list[Turn],
        *,
        stream: bool,
        media_seconds: float,
        report: Report,
    ) -> Run:
        self._check_model(request)
        plan = self._tasks.plan(request, turns)
        with engine_errors():
            prompt = self._prompts.build(plan.turns)
        sampling = _sampling(request, self._prompts.stop_token_ids, self._tasks.sampling_defaults())
        # Spotting wanted as JSON: let the model write boxes its own way, then parse them (a grammar would
        # force it out of the format it was trained on).
        boxes_as_json = (
            plan.task is not None and plan.task.output in SPOTTING_OUTPUTS and sampling.json_schema is not None
        )
        if boxes_as_json:
            sampling = replace(sampling, json_schema=None)
        loop_check = self._tasks.prompt_set.stream_loop_check or {}
        # Non-streaming requests that can grow long still come in deltas, so a loop is stopped early.
        may_loop = sampling.max_tokens is None or sampling.max_tokens > LoopGuard(**loop_check).start // 4
        engine_request = EngineRequest(
            request_id=f"chatcmpl-{uuid.uuid4().hex}",
            prompt=prompt.text,
            images=prompt.images,
            sampling=sampling,
            stream=stream or may_loop,
            turns=prompt.turns,
            task=plan.task.task if plan.task else None,
        )
        states = {index: ChoiceState(LoopGuard(**loop_check)) for index in range(request.n)}
        if report is not None:  # known before the first chunk, so a stream's headers can name it
            report.update(task=plan.task.task if plan.task else None, prompt_set=self._tasks.prompt_set.version)
        return Run(
            engine_request, plan.task, prompt.images, states, media_seconds=media_seconds, boxes_as_json=boxes_as_json
        )

    def _ocr_info(self, run: Run, loop_truncated: bool) -> wire.OcrInfo:
        text = run.states[0].raw or run.states[0].joined()
        return wire.OcrInfo(
            task=run.task.task if run.task else None,
            prompt_set=self._tasks.prompt_set.version,
            loop_truncated=loop_truncated,
            boxes=answers.boxes(run, text),
            warnings=answers.warnings(run, text),
        )


def _sampling(request: wire.CompletionOptions, stop_token_ids: list[int], defaults: dict[str, Any]) -> SamplingOptions:
    json_schema: dict[str, Any] | None = None
    if request.response_format and request.response_format.type == "json_object":
        json_schema = {}
    elif request.response_format and request.response_format.type == "json_schema":
        schema = (request.response_format.json_schema or {}).get("schema")
        json_schema = schema if isinstance(schema, dict) else {}

    def pick(name: str, value: Any) -> Any:
        return defaults.get(name) if value is None else value

    return SamplingOptions(
        max_tokens=pick("max_tokens", request.completion_limit),
        temperature=pick("temperature", request.temperature),
        top_p=pick("top_p", request.top_p),
        top_k=pick("top_k", request.top_k),
        n=request.n,
        stop=request.stop_list,
        stop_token_ids=stop_token_ids,
        seed=request.seed,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        repetition_penalty=pick("repetition_penalty", request.repetition_penalty),
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
        json_schema=json_schema,
    )
