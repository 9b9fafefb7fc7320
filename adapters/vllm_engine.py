"""The production engine: one in-process vLLM ``AsyncLLM`` for the whole server."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from adapters import image_tables
from adapters.engine import (
    ChoiceDelta,
    EngineInfo,
    EngineOutput,
    EngineRequest,
    EngineStats,
    SamplingOptions,
    TokenLogprob,
)
from adapters.errors import (
    EngineDown,
    EngineFailed,
    EngineFault,
    PromptTooLong,
    RequestRejected,
    UnknownModel,
    is_context_overflow,
)
from adapters.images import CONTENT_ID
from adapters.settings import EngineSettings
from adapters.vllm_sockets import close_socket_dir, open_socket_dir

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

DEFAULT_CPU_KV_CACHE_GB = 4


class VLLMEngine:
    """Runs HunyuanOCR (or any checkpoint vLLM supports) in this process through ``AsyncLLM``."""

    # A dead engine stays dead: the server exits and its supervisor starts a fresh one.
    self_healing = False

    def __init__(self, settings: EngineSettings, model_path: str) -> None:
        self._settings = settings
        self._model_path = model_path
        self._llm: Any = None
        self._socket_dir: Path | None = None
        self._model_defaults: dict[str, Any] = {}
        self._stats = EngineStats()
        self._info = EngineInfo(model_path=model_path, max_model_len=settings.max_model_len or 0, engine="vllm")

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        started = time.monotonic()
        logger.info("loading %s into vLLM (this takes a minute on CPU)", self._model_path)
        # Engine construction blocks on worker start-up; keep the event loop free. The engine processes die
        # when this thread ends (adapters/parent_death.py): the default executor keeps it until the loop closes.
        self._socket_dir = open_socket_dir()
        try:
            self._llm = await asyncio.to_thread(self._create)
        except BaseException:
            await self.shutdown()
            raise
        max_model_len = self._llm.model_config.max_model_len
        # Like vLLM's own server: the checkpoint's generation_config fills fields a request leaves out.
        self._model_defaults = self._llm.model_config.get_diff_sampling_param()
        self._info = EngineInfo(model_path=self._model_path, max_model_len=max_model_len, engine="vllm")
        logger.info("vLLM engine ready in %.1f s (max_model_len=%d)", time.monotonic() - started, max_model_len)

    def _create(self) -> Any:
        from vllm.usage.usage_lib import UsageContext
        from vllm.v1.engine.async_llm import AsyncLLM

        # vLLM runs the HF image processor in this process: give it the same pixels for a third of the CPU
        image_tables.install()
        return AsyncLLM.from_engine_args(
            engine_args(self._settings, self._model_path),
            usage_context=UsageContext.OPENAI_API_SERVER,
            stat_loggers=[_stats_recorder(self._stats)],
        )

    async def shutdown(self) -> None:
        if self._llm is not None:
            self._llm.shutdown()
            self._llm = None
        close_socket_dir(self._socket_dir)
        self._socket_dir = None

    def is_healthy(self) -> bool:
        return self._llm is not None and not self._llm.errored

    def num_unfinished_requests(self) -> int:
        return 0 if self._llm is None else self._llm.get_num_unfinished_requests()

    def stats(self) -> EngineStats:
        return self._stats

    def metric_collectors(self) -> list[Collector]:
        return []

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        """Stream the request's outputs; cancelling the iteration aborts it in vLLM."""
        if not self.is_healthy():
            raise EngineDown("The engine is not running.")
        prompt: dict[str, Any] = {"prompt": request.prompt}
        if request.images:
            prompt["multi_modal_data"] = {"image": request.images}
            # Our ids of the pixels: vLLM then hashes no pixels, and its processor cache finds an image seen before.
            uuids = [image.info.get(CONTENT_ID) for image in request.images]
            if any(uuids):
                prompt["multi_modal_uuids"] = {"image": uuids}
        try:
            params = to_sampling_params(request.sampling, stream=request.stream, defaults=self._model_defaults)
            async with aclosing(self._llm.generate(prompt, params, request_id=request.request_id)) as outputs:
                async for output in outputs:
                    yield _to_engine_output(output, request.sampling.logprobs or 0)
        except Exception as error:  # vLLM's errors become ours here, and only here.
            raise translate_vllm_error(error) from error


def engine_args(settings: EngineSettings, model_path: str) -> Any:
    """vLLM's ``AsyncEngineArgs`` for these settings (the benchmark drives an ``AsyncLLM`` with the same ones)."""
    from vllm.config import StructuredOutputsConfig
    from vllm.engine.arg_utils import AsyncEngineArgs

    args: dict[str, Any] = {}
    if settings.max_model_len is not None:
        args["max_model_len"] = settings.max_model_len
    if _on_cpu():
        if settings.kv_cache_gb is not None or "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
            # vLLM's CPU backend takes whole GiB.
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(math.ceil(settings.kv_cache_gb or DEFAULT_CPU_KV_CACHE_GB))
    elif settings.kv_cache_gb is not None:
        args["kv_cache_memory_bytes"] = int(settings.kv_cache_gb * 2**30)
    return AsyncEngineArgs(
        model=model_path,
        revision=settings.revision,
        dtype=cast(Any, settings.dtype),
        enforce_eager=settings.enforce_eager,
        enable_prefix_caching=settings.enable_prefix_caching,
        gpu_memory_utilization=settings.gpu_memory_utilization,
        tensor_parallel_size=settings.tensor_parallel_size,
        limit_mm_per_prompt={"image": settings.max_images_per_prompt},
        trust_remote_code=settings.trust_remote_code,
        seed=settings.seed,
        disable_log_stats=True,
        # JSON replies without free whitespace: a small model otherwise pads values with blanks to max_tokens.
        structured_outputs_config=StructuredOutputsConfig(backend="xgrammar", disable_any_whitespace=True),
        **args,
    )


def _stats_recorder(stats: EngineStats) -> Any:
    """A vLLM stat-logger class that keeps the scheduler's latest numbers in ``stats``."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class SchedulerStatsRecorder(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            pass

        def record(
            self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None, engine_idx: int = 0
        ) -> None:
            if scheduler_stats is None:
                return
            stats.running = scheduler_stats.num_running_reqs
            stats.waiting = scheduler_stats.num_waiting_reqs
            stats.prefix_cache_queries += scheduler_stats.prefix_cache_stats.queries
            stats.prefix_cache_hits += scheduler_stats.prefix_cache_stats.hits

        def log_engine_initialized(self) -> None:
            pass

    return SchedulerStatsRecorder


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def to_sampling_params(options: SamplingOptions, *, stream: bool, defaults: dict[str, Any] | None = None) -> Any:
    """Map validated OpenAI sampling options onto vLLM's ``SamplingParams``; ``defaults`` fill unset fields."""
    from vllm.sampling_params import RequestOutputKind, SamplingParams, StructuredOutputsParams

    given: dict[str, Any] = {
        "temperature": options.temperature,
        "top_p": options.top_p,
        "top_k": options.top_k,
        "seed": options.seed,
        "presence_penalty": options.presence_penalty,
        "frequency_penalty": options.frequency_penalty,
        "repetition_penalty": options.repetition_penalty,
        "logprobs": options.logprobs,
    }
    for name, value in (defaults or {}).items():
        if given.get(name, 0) is None:
            given[name] = value
    if options.max_tokens is None and "max_new_tokens" in (defaults or {}):
        options = replace(options, max_tokens=int(defaults["max_new_tokens"]))  # type: ignore[index]
    structured = None
    if options.json_schema is not None:
        structured = (
            StructuredOutputsParams(json=options.json_schema)
            if options.json_schema
            else StructuredOutputsParams(json_object=True)
        )
    return SamplingParams(
        n=options.n,
        max_tokens=options.max_tokens,  # None: the rest of the context, as OpenAI does
        stop=options.stop or None,
        stop_token_ids=options.stop_token_ids or None,
        structured_outputs=structured,
        output_kind=RequestOutputKind.DELTA if stream else RequestOutputKind.FINAL_ONLY,
        **{name: value for name, value in given.items() if value is not None},
    )


def _to_engine_output(output: Any, top_logprobs: int) -> EngineOutput:
    # DELTA outputs carry only the new tokens; FINAL_ONLY sends one output with all of them.
    choices = []
    for completion in output.outputs:
        if completion.finish_reason == "error":
            raise EngineFailed("The engine failed while processing this request.")
        if completion.finish_reason == "abort":
            raise EngineDown("The engine stopped this request (it is shutting down or paused).")
        choices.append(
            ChoiceDelta(
                index=completion.index,
                text=completion.text,
                num_tokens=len(completion.token_ids),
                # vLLM's "repetition" (its loop detector) ended the answer on purpose.
                finish_reason="stop" if completion.finish_reason == "repetition" else completion.finish_reason,
                logprobs=_logprobs(completion, top_logprobs),
            )
        )
    return EngineOutput(
        prompt_tokens=len(output.prompt_token_ids or []),
        choices=choices,
        cached_tokens=output.num_cached_tokens or 0,
    )


# JSON has no -inf; vLLM's server clamps masked tokens' logprobs to this too.
MIN_LOGPROB = -9999.0


def _logprobs(completion: Any, top: int) -> list[TokenLogprob] | None:
    if completion.logprobs is None:
        return None
    tokens = []
    for token_id, candidates in zip(completion.token_ids, completion.logprobs, strict=False):
        chosen = candidates[token_id]
        # vLLM adds the sampled token to the top-k; keep exactly the k best.
        ranked = sorted((c for c in candidates.values() if c.rank and c.rank <= top), key=lambda c: c.rank)
        tokens.append(
            TokenLogprob(
                token=chosen.decoded_token or "",
                logprob=max(chosen.logprob, MIN_LOGPROB),
                top=[(candidate.decoded_token or "", max(candidate.logprob, MIN_LOGPROB)) for candidate in ranked],
            )
        )
    return tokens


def translate_vllm_error(error: Exception) -> EngineFault:
    """vLLM exceptions → engine errors, most specific first (a test checks every vLLM class is covered)."""
    from vllm.exceptions import GracefulHTTPError, VLLMClientError, VLLMNotFoundError
    from vllm.v1.engine.exceptions import EngineDeadError, EngineGenerateError

    if isinstance(error, EngineFault):
        return error  # ours already, raised inside generate (an aborted request is a 503, not a 500)
    if isinstance(error, EngineGenerateError) and isinstance(error.__cause__, Exception):
        # generate() wraps input-processing failures; judge by what actually went wrong.
        error = error.__cause__
    message = str(error) or type(error).__name__
    if isinstance(error, EngineDeadError):
        return EngineDown("The engine has stopped; the server needs a restart.")
    if isinstance(error, GracefulHTTPError):
        return EngineDown(message)  # admission control: busy, retry later
    if isinstance(error, VLLMNotFoundError):
        return UnknownModel(message, param="model")
    if isinstance(error, VLLMClientError | ValueError):
        # Also what vLLM's input processing raises (prompt too long, processor rejects an image).
        if is_context_overflow(message):
            return PromptTooLong(message, param="messages")
        return RequestRejected(message, param=getattr(error, "parameter", None))
    if isinstance(error, EngineGenerateError):
        return EngineFailed("The engine failed while generating this response.")
    return EngineFailed("The engine failed while processing this request.")
