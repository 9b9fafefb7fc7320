"""The ``Engine`` protocol every inference backend implements, and the plain data it speaks.

The gateway builds an :class:`EngineRequest` (prompt text in the model's own
chat template, decoded images, sampling options) and reads
:class:`EngineOutput` steps back; failures are the errors of
``adapters/errors.py``. Nothing here imports an engine library, so the
gateway and its unit tests never depend on vLLM or torch, and nothing under
``adapters/`` imports the gateway.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from PIL import Image

from adapters.images import ImageBudget

if TYPE_CHECKING:
    from prometheus_client.registry import Collector


@dataclass(frozen=True)
class SamplingOptions:
    """OpenAI sampling fields, already validated; ``None`` means the engine's default."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    n: int = 1
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None
    logprobs: int | None = None  # number of top alternatives per token; None = no logprobs
    json_schema: dict[str, Any] | None = None  # constrain output to JSON (empty dict: any JSON object)


@dataclass(frozen=True)
class Turn:
    """One message: text and images in the order the user gave them."""

    role: Literal["system", "user", "assistant"]
    parts: list[str | Image.Image]


@dataclass(frozen=True)
class EngineRequest:
    """One generation. Engines that run the model themselves read ``prompt`` (the model's own chat template,
    already rendered) and ``images``; engines that speak a higher-level protocol read ``turns`` (the same
    conversation, system turn included) and ``task`` (the resolved HunyuanOCR task name, if any)."""

    request_id: str
    prompt: str
    images: list[Image.Image]
    sampling: SamplingOptions
    stream: bool = True  # False lets an engine send only the final output
    turns: list[Turn] = field(default_factory=list)
    task: str | None = None


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]]


@dataclass(frozen=True)
class ChoiceDelta:
    """What one choice produced since the previous step."""

    index: int
    text: str
    num_tokens: int
    finish_reason: str | None = None
    logprobs: list[TokenLogprob] | None = None


@dataclass(frozen=True)
class EngineOutput:
    """One step of a request: new text for some choices, and the prompt's token count."""

    prompt_tokens: int
    choices: list[ChoiceDelta]
    cached_tokens: int = 0  # prompt tokens served from the prefix cache


@dataclass
class EngineStats:
    """The engine's scheduler, as last reported: requests running/waiting, prefix-cache tokens (cumulative)."""

    running: int = 0
    waiting: int = 0
    prefix_cache_queries: int = 0
    prefix_cache_hits: int = 0


@dataclass(frozen=True)
class EngineInfo:
    model_path: str
    max_model_len: int
    engine: str | None = None  # the --engine that serves ("vllm", "rapidocr", …), shown by /v1/models
    model_name: str | None = None  # the model's own id when the engine serves its own model, not --model
    constrained_decoding: bool = True  # can hold answers to a JSON schema (SamplingOptions.json_schema)
    # Document parsing answers with the page's structure (headings, tables, formulas); False: its text lines only
    parses_layout: bool = True


@dataclass(frozen=True)
class EnginePrompt:
    """A conversation ready for the engine: the prompt text, the images in prompt order, and the turns."""

    text: str
    images: list[Image.Image]
    turns: list[Turn]  # what was rendered, with any added system turn


class PromptBuilder(Protocol):
    """Turns → the engine's prompt, and what the gateway must know about the model behind it."""

    model_config: dict[str, Any]  # the checkpoint's config.json (the prompt set is detected from it)
    stop_token_ids: list[int]

    def image_budget(self) -> ImageBudget: ...

    def build(self, turns: list[Turn]) -> EnginePrompt: ...


@runtime_checkable
class Engine(Protocol):
    """An inference backend. ``generate`` must abort the request when the iteration is cancelled.

    ``generate`` raises only :mod:`adapters.errors` (a prompt builder's ``build`` too).
    """

    @property
    def info(self) -> EngineInfo: ...

    @property
    def self_healing(self) -> bool:
        """Whether the engine's outages end by themselves (a pool of remote replicas that restart): the server
        then stays up and reports 503 meanwhile, instead of exiting for its supervisor to restart it."""
        ...

    def metric_collectors(self) -> list[Collector]:
        """The engine's own metrics for ``/metrics`` (per replica, say); most engines have none."""
        ...

    async def start(self) -> None: ...

    async def shutdown(self) -> None: ...

    def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]: ...

    def is_healthy(self) -> bool: ...

    def num_unfinished_requests(self) -> int: ...

    def stats(self) -> EngineStats: ...
