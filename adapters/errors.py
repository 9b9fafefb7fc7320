"""What engines and prompt builders raise: what went wrong with a request, never how HTTP reports it.

    EngineFault                     base of every error raised across the engine boundary
    ├── RequestRejected             the request cannot be served as sent (``param`` names the field at fault)
    │   ├── PromptTooLong           the prompt does not fit the model's context
    │   ├── UnknownModel            the engine serves no model by the name asked for
    │   └── UpstreamRejected        an upstream server refused the request with a 4xx ``status`` of its own
    ├── EngineBusy                  at capacity: retry after ``retry_after`` seconds
    ├── EngineFailed                this request failed inside the engine
    └── EngineDown                  not serving now: loading, stopping, dead, or no replica reachable

Each engine translates its library's exceptions into these in one place
(``translate_vllm_error``, ``upstream_wire.http_error``); the gateway turns
these into its client-facing errors in one place too
(``gateway.errors.from_engine_error``).
"""

from __future__ import annotations


class EngineFault(Exception):
    """Base of every error an engine or a prompt builder raises; ``retry_after`` (seconds) when waiting helps."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RequestRejected(EngineFault):
    """The request cannot be served as sent: control tokens in the text, a task this engine cannot do, …

    ``code`` is a machine-readable reason when the engine has one (``unsupported_task``)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class PromptTooLong(RequestRejected):
    """The prompt does not fit the model's context length."""


class UnknownModel(RequestRejected):
    """The engine serves no model by the name the request asks for."""


class UpstreamRejected(RequestRejected):
    """An upstream server refused the request with a 4xx ``status`` other than 400 and 429; it is passed on."""

    def __init__(self, message: str, *, status: int, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.status = status


class EngineBusy(EngineFault):
    """The engine is at capacity; the request may succeed after ``retry_after`` seconds."""


class EngineFailed(EngineFault):
    """This request failed inside the engine (the message tells the client no internals)."""


class EngineDown(EngineFault):
    """The engine is not serving now: still loading, stopping, dead, or without a reachable replica."""


def is_context_overflow(message: str) -> bool:
    """Whether vLLM's message (in-process, or an upstream server's) says the prompt does not fit the context."""
    lowered = message.lower()
    return "context length" in lowered or "maximum model length" in lowered or "maximum context length" in lowered
