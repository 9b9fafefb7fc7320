"""The gateway's error hierarchy and its one renderer to OpenAI's error JSON.

    GatewayError
    ├── ClientError                 4xx, the request is at fault
    │   ├── InvalidRequest          400 invalid_request_error
    │   │   └── ContextLengthExceeded   400 code=context_length_exceeded
    │   ├── ModelNotFound           404 code=model_not_found
    │   ├── NotFound                404 no such file or batch (for this API key)
    │   ├── Conflict                409 the object's state does not allow it (cancel a finished batch)
    │   ├── SlowRequestBody         408 the body did not arrive in time
    │   ├── PayloadTooLarge         413
    │   ├── UnsupportedMediaType    415
    │   └── RateLimited             429 at capacity (with Retry-After)
    └── ServerError                 5xx, we are at fault
        ├── EngineError             500 the engine failed this request
        ├── EngineUnavailable       503 the engine is loading or dead
        ├── StoreUnavailable        503 the job store's database cannot be reached (with Retry-After)
        └── RequestTimeout          504 the request ran past --request-timeout

Foreign exceptions (pydantic, Pillow) are translated where they are raised,
each in one place; engines report theirs (vLLM's too) as ``adapters.errors``,
which ``from_engine_error`` translates; anything else becomes a 500 without
internals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from adapters.errors import (
    EngineBusy,
    EngineDown,
    EngineFailed,
    EngineFault,
    PromptTooLong,
    RequestRejected,
    UnknownModel,
    UpstreamRejected,
)
from gateway.protocol import ErrorBody, ErrorResponse

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    """Base of every error the gateway reports to a client."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code is not None:
            self.code = code

    def body(self) -> ErrorResponse:
        return ErrorResponse(
            error=ErrorBody(message=self.message, type=self.error_type, param=self.param, code=self.code)
        )


class ClientError(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"


class InvalidRequest(ClientError):
    pass


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class ModelNotFound(ClientError):
    status_code = 404
    code = "model_not_found"


class NotFound(ClientError):
    status_code = 404


class Conflict(ClientError):
    status_code = 409


class SlowRequestBody(ClientError):
    status_code = 408


class PayloadTooLarge(ClientError):
    status_code = 413


class UnsupportedMediaType(ClientError):
    status_code = 415


class RateLimited(ClientError):
    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ServerError(GatewayError):
    status_code = 500
    error_type = "server_error"


class EngineError(ServerError):
    pass


class EngineUnavailable(ServerError):
    status_code = 503
    error_type = "service_unavailable"


class StoreUnavailable(ServerError):
    status_code = 503
    error_type = "service_unavailable"


class RequestTimeout(ServerError):
    status_code = 504
    error_type = "timeout"


def from_validation_error(error: ValidationError) -> InvalidRequest:
    """The most specific pydantic problem as a 400 naming its ``param`` like OpenAI does (``messages[0].content``)."""
    # A union reports one error per branch; the deepest one is about what the client meant.
    detail = max(
        error.errors(include_url=False),
        key=lambda item: (len(item["loc"]), not item["type"].endswith(_WRONG_TYPE_SUFFIXES)),
    )
    param = _param_path(detail["loc"])
    if detail["type"] == "union_tag_invalid":
        context = detail.get("ctx", {})
        tag = str(context.get("discriminator", "'type'")).strip("'")
        param = f"{param}.{tag}" if param else tag
        message = (
            f"Unsupported value {context.get('tag')!r} for {param}; expected one of {context.get('expected_tags')}."
        )
    else:
        message = f"{param}: {detail['msg']}" if param else detail["msg"]
    return InvalidRequest(message, param=param or None)


# "Wrong type" errors come from union branches the client did not mean; prefer the others on a tie.
_WRONG_TYPE_SUFFIXES = ("_type", "_parsing")
# pydantic's labels for union branches, which are not fields.
_TYPE_LABELS = frozenset({"str", "int", "float", "bool", "list", "dict", "none", "bytes"})
# Discriminator values pydantic puts in a location right after a list index.
_UNION_TAGS = frozenset({"system", "developer", "user", "assistant", "text", "image_url", "file"})


def _param_path(location: tuple[int | str, ...]) -> str:
    path = ""
    previous: int | str | None = None
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(previous, int) and part in _UNION_TAGS:
            pass  # the branch pydantic tried, not a field
        elif part.isidentifier() and part not in _TYPE_LABELS:
            path += f".{part}" if path else part
        # other labels ("list[...]", "function-after[...]") name union branches, not fields
        previous = part
    return path


# Engine errors → what the client gets, most specific first; a test checks that every engine error has its line.
ENGINE_ERRORS: tuple[tuple[type[EngineFault], type[GatewayError]], ...] = (
    (PromptTooLong, ContextLengthExceeded),
    (UnknownModel, ModelNotFound),
    (UpstreamRejected, ClientError),
    (RequestRejected, InvalidRequest),
    (EngineBusy, RateLimited),
    (EngineDown, EngineUnavailable),
    (EngineFailed, EngineError),
    (EngineFault, EngineError),
)


def from_engine_error(error: EngineFault) -> GatewayError:
    """An engine's (or prompt builder's) error as the gateway error the client gets."""
    gateway_class = next(cls for engine_class, cls in ENGINE_ERRORS if isinstance(error, engine_class))
    param, code = (error.param, error.code) if isinstance(error, RequestRejected) else (None, None)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    translated = gateway_class(error.message, param=param, code=code, headers=headers)
    if isinstance(error, UpstreamRejected):
        translated.status_code = error.status  # the upstream server's own 4xx, passed on
    return translated


@contextmanager
def engine_errors() -> Iterator[None]:
    """Turns the engine's errors raised inside the block into gateway errors."""
    try:
        yield
    except EngineFault as error:
        raise from_engine_error(error) from error


def error_response(error: GatewayError) -> JSONResponse:
    return JSONResponse(error.body().model_dump(), status_code=error.status_code, headers=error.headers)


async def handle_gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if isinstance(exc, ServerError):
        logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
    return error_response(exc)


async def handle_engine_fault(request: Request, exc: Exception) -> JSONResponse:
    """A safety net: an engine error that reached the app untranslated is answered as ``from_engine_error`` says."""
    assert isinstance(exc, EngineFault)
    return await handle_gateway_error(request, from_engine_error(exc))


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(ServerError("The server had an error while processing your request."))
