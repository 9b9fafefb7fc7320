"""What the ``upstream`` engine says to an OpenAI-compatible vLLM server, and how it reads the answer.

An :class:`EngineRequest` becomes one streaming chat completion: the turns as
OpenAI messages with every image as a lossless PNG data URL (the gateway
already decoded and sized it, so the upstream never fetches anything and its
processor sees exactly the pixels the in-process engine would), and the
sampling options as vLLM's request fields. Stream chunks come back as
:class:`EngineOutput` steps; upstream errors become engine errors here, and
only here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from adapters.engine import ChoiceDelta, EngineOutput, EngineRequest, SamplingOptions, TokenLogprob, Turn
from adapters.errors import (
    EngineBusy,
    EngineDown,
    EngineFailed,
    EngineFault,
    PromptTooLong,
    RequestRejected,
    UpstreamRejected,
    is_context_overflow,
)

# Statuses after which another replica may well succeed: it is busy, restarting or behind a failing proxy.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class EncodedImages:
    urls: list[str]  # data URLs, in the order the images appear in the conversation
    affinity_key: bytes | None  # digest of the first image: requests about it go to the same replica


def encode_images(turns: list[Turn]) -> EncodedImages:
    """PNG data URLs of the conversation's images (CPU work: run it in a worker thread)."""
    urls: list[str] = []
    first_digest: bytes | None = None
    for turn in turns:
        for part in turn.parts:
            if isinstance(part, Image.Image):
                png = _png(part)
                first_digest = first_digest or hashlib.blake2b(png, digest_size=16).digest()
                urls.append("data:image/png;base64," + base64.b64encode(png).decode())
    return EncodedImages(urls, first_digest)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Lossless, so the upstream's answer equals the in-process engine's; level 1 is several times faster than 6.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def chat_body(request: EngineRequest, image_urls: list[str], model: str) -> dict[str, Any]:
    """The streaming chat-completions request for one replica serving ``model``."""
    return {
        "model": model,
        "messages": _messages(request.turns, iter(image_urls)),
        "request_id": request.request_id,  # the upstream's logs then name the gateway's request
        "stream": True,
        # Usage on every chunk gives each choice's token count as it grows, and the prompt's from the start.
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        # The prompt the upstream rendered, to check it against ours once per replica.
        "return_prompt_text": True,
        **sampling_fields(request.sampling),
    }


def _messages(turns: list[Turn], image_urls: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in turns:
        if turn.role == "user":
            content = [
                {"type": "text", "text": part}
                if isinstance(part, str)
                else {"type": "image_url", "image_url": {"url": next(image_urls)}}
                for part in turn.parts
            ]
            messages.append({"role": "user", "content": content})
        else:  # HunyuanOCR's template reads system and assistant content as one string
            messages.append({"role": turn.role, "content": "".join(str(part) for part in turn.parts)})
    return messages


def sampling_fields(options: SamplingOptions) -> dict[str, Any]:
    """SamplingOptions as vLLM's chat-completion fields; unset ones are left to the upstream's model defaults,
    as the in-process engine leaves them to the checkpoint's generation config."""
    fields: dict[str, Any] = {
        "n": options.n,
        "max_completion_tokens": options.max_tokens,
        "temperature": options.temperature,
        "top_p": options.top_p,
        "top_k": options.top_k,
        "seed": options.seed,
        "presence_penalty": options.presence_penalty,
        "frequency_penalty": options.frequency_penalty,
        "repetition_penalty": options.repetition_penalty,
        "stop": options.stop or None,
        "stop_token_ids": options.stop_token_ids or None,
        # vLLM's defaults, stated so that a server configured otherwise still answers like the in-process engine.
        "skip_special_tokens": True,
        "include_stop_str_in_output": False,
    }
    if options.logprobs is not None:
        fields.update(logprobs=True, top_logprobs=options.logprobs)
    if options.json_schema is not None:
        constraint = {"json": options.json_schema} if options.json_schema else {"json_object": True}
        # Honoured per request by some backends; xgrammar takes it from the server's --structured-outputs-config.
        fields["structured_outputs"] = {**constraint, "disable_any_whitespace": True}
    return {name: value for name, value in fields.items() if value is not None}


class UpstreamFailure(Exception):
    """A replica failed before answering; another replica may succeed. ``error`` is what the client gets if
    none does."""

    def __init__(self, error: EngineFault) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class StreamReader:
    """Turns one upstream stream's chunks into engine outputs (per request)."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    tokens: dict[int, int] = field(default_factory=dict)  # completion tokens so far, per choice
    prompt_text: str | None = None  # the prompt the upstream rendered (first chunk)

    def read(self, chunk: dict[str, Any]) -> EngineOutput | None:
        """The step this chunk carries, or ``None`` when it carries no tokens (the role chunk)."""
        if "error" in chunk:
            raise stream_error(chunk["error"])
        usage = chunk.get("usage") or {}
        self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
        self.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or self.cached_tokens
        self.prompt_text = chunk.get("prompt_text", self.prompt_text)
        choices = chunk.get("choices") or []
        deltas = [delta for choice in choices if (delta := self._delta(choice, usage)) is not None]
        if choices and not deltas:
            return None
        # A chunk without choices is the closing usage chunk: it brings the cached-token count.
        return EngineOutput(prompt_tokens=self.prompt_tokens, choices=deltas, cached_tokens=self.cached_tokens)

    def _delta(self, choice: dict[str, Any], usage: dict[str, Any]) -> ChoiceDelta | None:
        index = choice["index"]
        seen = self.tokens.get(index, 0)
        # With continuous usage, a chunk's completion_tokens is its choice's count so far.
        self.tokens[index] = usage.get("completion_tokens", seen)
        text = (choice.get("delta") or {}).get("content") or ""
        reason = choice.get("finish_reason")
        if reason == "abort":
            raise EngineDown("The upstream replica stopped this request (it is shutting down or paused).")
        if not text and reason is None and self.tokens[index] == seen:
            return None
        return ChoiceDelta(
            index=index,
            text=text,
            num_tokens=self.tokens[index] - seen,
            # vLLM's "repetition" (its loop detector) ended the answer on purpose.
            finish_reason="stop" if reason == "repetition" else reason,
            logprobs=_logprobs(choice.get("logprobs")),
        )


def _logprobs(logprobs: dict[str, Any] | None) -> list[TokenLogprob] | None:
    if not logprobs or logprobs.get("content") is None:
        return None
    return [
        TokenLogprob(
            token=item["token"],
            logprob=item["logprob"],
            top=[(top["token"], top["logprob"]) for top in item.get("top_logprobs") or []],
        )
        for item in logprobs["content"]
    ]


def stream_error(error: dict[str, Any]) -> UpstreamFailure:
    """An error event inside an upstream stream. Before the first token it is worth another try: vLLM sends
    one, for example, when its multimodal cache lost an image ("returning a retryable response")."""
    code = error.get("code")
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return UpstreamFailure(http_error(status, {"error": error}))


def http_error(status: int, body: Any) -> EngineFault:
    """An upstream's error response → the engine error the client gets: a 4xx keeps its status."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = body if isinstance(body, dict) else {}  # vLLM before 0.10 sent the fields at the top level
    message = str(error.get("message") or f"The upstream replica answered with HTTP {status}.")
    param = error.get("param") if isinstance(error.get("param"), str) else None
    if status == 400:
        if is_context_overflow(message):
            return PromptTooLong(message, param="messages")
        return RequestRejected(message, param=param)
    if status == 429:
        return EngineBusy(message, retry_after=1)
    if 400 <= status < 500:
        return UpstreamRejected(message, status=status, param=param)
    if status in RETRYABLE_STATUSES:
        return EngineDown("The upstream replicas are unavailable; retry later.")
    return EngineFailed("The upstream replica failed while processing this request.")


def parse_error_body(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return {}
