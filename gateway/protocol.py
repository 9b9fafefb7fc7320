"""Wire models of OpenAI's API (Chat Completions, Models, errors) — pydantic only, no engine imports.

Our own ``POST /ocr``'s models are ``gateway.ocr_protocol``; the bases here serve both.

Limits live in the schema so a violation becomes a 400 naming its ``param``
without any check in a handler. Fields we accept but ignore are tolerated, as
OpenAI's API tolerates unknown fields; they are debug-logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

logger = logging.getLogger(__name__)


class WireModel(BaseModel):
    """Base for request models: unknown fields are allowed (and logged), as with OpenAI."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _log_ignored_fields(self) -> WireModel:
        if self.model_extra:
            logger.debug("ignoring fields of %s: %s", type(self).__name__, sorted(self.model_extra))
        return self


class ResponseModel(BaseModel):
    """Base for response models: exactly the fields we declare."""

    model_config = ConfigDict(extra="forbid")


# --- request: content parts -------------------------------------------------


class TextPart(WireModel):
    type: Literal["text"]
    text: str


class ImageURL(WireModel):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] = "auto"


class ImagePart(WireModel):
    type: Literal["image_url"]
    image_url: ImageURL


class FileData(WireModel):
    file_data: str | None = Field(default=None, min_length=1)  # a data: URL, as OpenAI's clients send PDFs
    file_id: str | None = None
    filename: str | None = None


class FilePart(WireModel):
    type: Literal["file"]
    file: FileData


ContentPart = Annotated[TextPart | ImagePart | FilePart, Field(discriminator="type")]
UserContent = str | Annotated[list[ContentPart], Field(min_length=1)]


# --- request: messages -------------------------------------------------------


class SystemMessage(WireModel):
    role: Literal["system", "developer"]
    content: str | list[TextPart]


class UserMessage(WireModel):
    role: Literal["user"]
    content: UserContent


class AssistantMessage(WireModel):
    role: Literal["assistant"]
    content: str | list[TextPart] | None = None


Message = Annotated[SystemMessage | UserMessage | AssistantMessage, Field(discriminator="role")]


def text_of(content: str | list[TextPart] | None) -> str:
    """The text of a message whose parts are all text (OpenAI joins them)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content)


# --- request: the completion call -------------------------------------------


class StreamOptions(WireModel):
    include_usage: bool = False


class ResponseFormat(WireModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


def null_means(default: Any) -> BeforeValidator:
    """OpenAI treats an explicit ``null`` like an omitted field; clients (and the openai SDK) send both."""
    return BeforeValidator(lambda value: default if value is None else value)


INT64 = Field(ge=-(2**63), le=2**63 - 1)  # what the engine can carry
TokenLimit = Annotated[int, Field(ge=1, le=2**31 - 1)]  # a max_tokens the engine can carry


class CompletionOptions(WireModel):
    """What a completion is asked for besides its messages: sampling, stream shape and our OCR task fields.
    ``POST /ocr`` asks with these for each page it has already loaded."""

    model: str | None = None
    stream: Annotated[bool, null_means(False)] = False
    stream_options: StreamOptions | None = None
    max_tokens: TokenLimit | None = None
    max_completion_tokens: TokenLimit | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=-1, le=2**31 - 1)] | None = None
    n: Annotated[int, Field(ge=1, le=16), null_means(1)] = 1
    stop: str | Annotated[list[str], Field(max_length=16)] | None = None
    seed: Annotated[int, INT64] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0, le=2)] | None = None
    logprobs: Annotated[bool, null_means(False)] = False
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    # Our extension (send with extra_body from the openai clients): which OCR task to run.
    task: str | None = Field(default=None, max_length=40)  # a catalog task, "auto" (default) or "none"
    target_lang: str | None = Field(default=None, max_length=20)
    fields: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=64)] | None = None
    lang: Literal["en", "zh"] | None = None  # language of the official prompt (HunyuanOCR 1.0 has both)

    @model_validator(mode="after")
    def _check_combinations(self) -> CompletionOptions:
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs to be true")
        return self

    @property
    def completion_limit(self) -> int | None:
        """``max_completion_tokens`` (the current name) wins over the legacy ``max_tokens``."""
        return self.max_completion_tokens or self.max_tokens

    @property
    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)


class ChatCompletionRequest(CompletionOptions):
    """``POST /v1/chat/completions``. vLLM's ``top_k``/``repetition_penalty`` are accepted too."""

    messages: Annotated[list[Message], Field(min_length=1)]


# --- responses ---------------------------------------------------------------


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def unix_time() -> int:
    return int(time.time())


FinishReason = Literal["stop", "length", "content_filter"]


class PromptTokensDetails(ResponseModel):
    cached_tokens: int


class Usage(ResponseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None


class OcrInfo(ResponseModel):
    """Our extension on responses: what the gateway did with the request."""

    task: str | None  # the official task sent to the model; None: the user's words went unchanged
    prompt_set: str
    loop_truncated: bool = False  # a repeating tail was cut or generation stopped because it looped
    boxes: list[dict[str, Any]] | None = None  # spotting: text boxes in the original image's pixels
    warnings: list[str] | None = None  # what could not be read as the task's form (also the X-OCR-Warning header)


class TopLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(ResponseModel):
    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(ResponseModel):
    content: list[TokenLogprob] | None


class AssistantReply(ResponseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(ResponseModel):
    index: int
    message: AssistantReply
    finish_reason: FinishReason | None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(ResponseModel):
    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=unix_time)
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    ocr: OcrInfo | None = None


class Delta(ResponseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(ResponseModel):
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(ResponseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    ocr: OcrInfo | None = None  # on the last chunk


class ModelCard(ResponseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default_factory=unix_time)
    owned_by: str = "hunyuan-ocr-gateway"
    root: str | None = None
    max_model_len: int | None = None
    engine: str | None = None  # our extension: the backend serving this model (vllm, rapidocr, …)
    # Our extension: whether document parsing answers with structure (False: text lines only, as rapidocr)
    parses_layout: bool | None = None


class ModelList(ResponseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(ResponseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(ResponseModel):
    error: ErrorBody
