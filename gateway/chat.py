"""The chat-completions service: OpenAI request → engine request → OpenAI response or chunks.

Two explicit entry points, ``complete`` and ``stream``; both raise gateway
errors and never return an error value.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from adapters.engine import ChoiceDelta, Engine, EngineRequest, SamplingOptions, TokenLogprob
from adapters.hunyuan_prompt import HunyuanPromptBuilder, Turn
from gateway import protocol as wire
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.media import MediaLoader


@dataclass
class _ChoiceState:
    """What one choice has produced so far (per request, per choice)."""

    text: list[str] = field(default_factory=list)
    tokens: int = 0
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] = field(default_factory=list)


class ChatService:
    """Serves ``/v1/chat/completions`` on one engine for one served model name."""

    def __init__(
        self, engine: Engine, prompts: HunyuanPromptBuilder, media: MediaLoader, model_name: str, max_images: int
    ) -> None:
        self._engine = engine
        self._prompts = prompts
        self._media = media
        self.model_name = model_name
        self._max_images = max_images

    async def complete(self, request: wire.ChatCompletionRequest) -> wire.ChatCompletion:
        engine_request = await self._prepare(request, stream=False)
        states: dict[int, _ChoiceState] = {index: _ChoiceState() for index in range(request.n)}
        prompt_tokens = 0
        async with aclosing(self._engine.generate(engine_request)) as outputs:
            async for output in outputs:
                prompt_tokens = output.prompt_tokens
                for delta in output.choices:
                    _accumulate(states[delta.index], delta)
        choices = [
            wire.Choice(
                index=index,
                message=wire.AssistantReply(content="".join(state.text)),
                finish_reason=_finish_reason(state.finish_reason),
                logprobs=_wire_logprobs(state.logprobs) if request.logprobs else None,
            )
            for index, state in sorted(states.items())
        ]
        return wire.ChatCompletion(
            id=_completion_id(engine_request),
            model=self.model_name,
            choices=choices,
            usage=_usage(prompt_tokens, states),
        )

    async def stream(self, request: wire.ChatCompletionRequest) -> AsyncGenerator[wire.ChatCompletionChunk, None]:
        """Chunks in OpenAI's order: role, content deltas, finish reasons, then usage if asked for."""
        engine_request = await self._prepare(request, stream=True)
        chunk_id, created = _completion_id(engine_request), wire._now()

        def chunk(choices: list[wire.ChunkChoice], usage: wire.Usage | None = None) -> wire.ChatCompletionChunk:
            return wire.ChatCompletionChunk(
                id=chunk_id, created=created, model=self.model_name, choices=choices, usage=usage
            )

        states: dict[int, _ChoiceState] = {index: _ChoiceState() for index in range(request.n)}
        prompt_tokens: int | None = None
        async with aclosing(self._engine.generate(engine_request)) as outputs:
            async for output in outputs:
                if prompt_tokens is None:
                    # The role chunk waits for the engine's first output, so a request the
                    # engine rejects still gets an HTTP error rather than a broken stream.
                    prompt_tokens = output.prompt_tokens
                    yield chunk(
                        [wire.ChunkChoice(index=i, delta=wire.Delta(role="assistant", content="")) for i in states]
                    )
                choices = [_chunk_choice(states[delta.index], delta, request.logprobs) for delta in output.choices]
                if sent := [choice for choice in choices if choice is not None]:
                    yield chunk(sent)
        if request.stream_options and request.stream_options.include_usage:
            yield chunk([], usage=_usage(prompt_tokens or 0, states))

    async def _prepare(self, request: wire.ChatCompletionRequest, *, stream: bool) -> EngineRequest:
        if request.model is not None and request.model != self.model_name:
            raise ModelNotFound(
                f"The model {request.model!r} does not exist; this server serves {self.model_name!r}.", param="model"
            )
        turns = await self._turns(request.messages)
        prompt = self._prompts.build(turns)
        return EngineRequest(
            request_id=f"chatcmpl-{uuid.uuid4().hex}",
            prompt=prompt.text,
            images=prompt.images,
            sampling=_sampling(request, self._prompts.stop_token_ids),
            stream=stream,
        )

    async def _turns(self, messages: list[wire.Message]) -> list[Turn]:
        """Protocol messages → template turns; all media of the request is loaded concurrently."""
        references = [
            (index, part_index, part)
            for index, message in enumerate(messages)
            if isinstance(message, wire.UserMessage) and not isinstance(message.content, str)
            for part_index, part in enumerate(message.content)
            if not isinstance(part, wire.TextPart)
        ]
        if len(references) > self._max_images:
            raise InvalidRequest(f"At most {self._max_images} images per request.", param="messages")
        loaded = await asyncio.gather(*(self._load(part, f"messages[{i}].content[{j}]") for i, j, part in references))
        if (count := sum(len(images) for images in loaded)) > self._max_images:
            raise InvalidRequest(
                f"The request holds {count} images and PDF pages; at most {self._max_images}.", param="messages"
            )
        media = dict(zip(((i, j) for i, j, _ in references), loaded, strict=True))
        turns: list[Turn] = []
        for index, message in enumerate(messages):
            if isinstance(message, wire.UserMessage):
                content = (
                    [wire.TextPart(type="text", text=message.content)]
                    if isinstance(message.content, str)
                    else message.content
                )
                parts: list[str | Image.Image] = []
                for part_index, part in enumerate(content):
                    parts.extend([part.text] if isinstance(part, wire.TextPart) else media[index, part_index])
                turns.append(Turn("user", parts))
            else:
                turns.append(
                    Turn(
                        "system" if isinstance(message, wire.SystemMessage) else "assistant",
                        [wire.text_of(message.content)],
                    )
                )
        return turns

    async def _load(self, part: wire.ImagePart | wire.FilePart, param: str) -> list[Image.Image]:
        if isinstance(part, wire.ImagePart):
            return await self._media.load(
                part.image_url.url, detail=part.image_url.detail, param=f"{param}.image_url.url"
            )
        if part.file.file_data is None:
            raise InvalidRequest(
                "Only inline files are supported: send file.file_data as a data: URL.", param=f"{param}.file.file_data"
            )
        return await self._media.load(part.file.file_data, param=f"{param}.file.file_data")


def _sampling(request: wire.ChatCompletionRequest, stop_token_ids: list[int]) -> SamplingOptions:
    json_schema: dict[str, Any] | None = None
    if request.response_format and request.response_format.type == "json_object":
        json_schema = {}
    elif request.response_format and request.response_format.type == "json_schema":
        json_schema = (request.response_format.json_schema or {}).get("schema") or {}
    return SamplingOptions(
        max_tokens=request.completion_limit,
        temperature=request.temperature,
        top_p=request.top_p,
        top_k=request.top_k,
        n=request.n,
        stop=request.stop_list,
        stop_token_ids=stop_token_ids,
        seed=request.seed,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        repetition_penalty=request.repetition_penalty,
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
        json_schema=json_schema,
    )


def _accumulate(state: _ChoiceState, delta: ChoiceDelta) -> None:
    state.text.append(delta.text)
    state.tokens += delta.num_tokens
    state.finish_reason = delta.finish_reason or state.finish_reason
    state.logprobs.extend(delta.logprobs or [])


def _chunk_choice(state: _ChoiceState, delta: ChoiceDelta, with_logprobs: bool) -> wire.ChunkChoice | None:
    _accumulate(state, delta)
    # vLLM holds text back (stop strings, half a UTF-8 character) but its tokens' logprobs still go out.
    if not delta.text and delta.finish_reason is None and not (with_logprobs and delta.logprobs):
        return None
    return wire.ChunkChoice(
        index=delta.index,
        delta=wire.Delta(content=delta.text) if delta.text else wire.Delta(),
        finish_reason=_finish_reason(delta.finish_reason),
        logprobs=_wire_logprobs(delta.logprobs or []) if with_logprobs else None,
    )


def _finish_reason(reason: str | None) -> wire.FinishReason | None:
    # vLLM reports "abort" for cancelled requests; OpenAI has no such value.
    if reason in ("stop", "length", "content_filter"):
        return reason  # type: ignore[return-value]
    return None if reason is None else "stop"


def _wire_logprobs(tokens: list[TokenLogprob]) -> wire.ChoiceLogprobs:
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


def _usage(prompt_tokens: int, states: dict[int, _ChoiceState]) -> wire.Usage:
    completion_tokens = sum(state.tokens for state in states.values())
    return wire.Usage(
        prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, total_tokens=prompt_tokens + completion_tokens
    )


def _completion_id(request: EngineRequest) -> str:
    return request.request_id
