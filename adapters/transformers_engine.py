"""``--engine transformers``: the checkpoint on transformers + torch ``generate`` in this process.

The PyTorch-native engine: no vLLM, any device torch runs on, the model's own
modeling code — a reference for the vLLM engine's answers and a fallback where
vLLM does not run. It reads the same rendered prompt and resized images as the
vLLM engine; the checkpoint's processor turns them into tensors.

Requests that arrive within a few milliseconds of each other and can share one
sampling configuration (all greedy ones can) run as one left-padded batch in a
single ``generate`` call on one worker thread; the event loop never runs the
model. Limits, on purpose: no prefix cache, and batches are static — a request
that arrives while a batch runs waits for that batch to finish — so throughput
is well below vLLM's. No constrained decoding (``response_format`` JSON).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters import image_tables
from adapters.engine import EngineInfo, EngineOutput, EngineRequest, EngineStats, SamplingOptions
from adapters.errors import EngineDown, EngineFailed, EngineFault, PromptTooLong, RequestRejected
from adapters.hunyuan_compat import install_pil_image_processor, number_images_per_prompt
from adapters.settings import EngineSettings
from adapters.transformers_decoding import (
    BatchStepper,
    IncrementalText,
    LogprobRecorder,
    Penalties,
    RequestRows,
    Row,
    RowRules,
    left_pad,
)

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# How long the first request of a batch waits for others to join it.
BATCH_WINDOW_SECONDS = 0.005
# vLLM's threshold: a lower temperature means greedy decoding.
GREEDY_BELOW = 1e-5
GREEDY = ("greedy",)  # the batch key of every greedy request
# Fields of the checkpoint's generation_config.json that fill what a request leaves out (as vLLM does).
MODEL_DEFAULT_FIELDS = ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens")


@dataclass(eq=False)
class _Job:
    """One request from arrival to its last output; the worker thread reports through ``emit``."""

    request: EngineRequest
    inputs: dict[str, Any]  # the processor's tensors for this one prompt
    prompt_tokens: int
    rules: RowRules
    batch_key: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    outputs: asyncio.Queue[EngineOutput | EngineFault | None]
    cancelled: bool = False

    def emit(self, item: EngineOutput | EngineFault | None) -> None:
        self.loop.call_soon_threadsafe(self.outputs.put_nowait, item)


class TransformersEngine:
    """Runs a HunYuanVL checkpoint with transformers ``generate``, batching requests that arrive together.

    In-process use (benchmarks, notebooks)::

        engine = TransformersEngine(EngineSettings(model=path, dtype="float32"), path)
        await engine.start()
        async for output in engine.generate(EngineRequest(...)): ...
    """

    # A dead engine stays dead: the server exits and its supervisor starts a fresh one.
    self_healing = False

    def __init__(self, settings: EngineSettings, model_path: str) -> None:
        self._settings = settings
        self._model_path = model_path
        self._model: Any = None
        self._processor: Any = None
        self._device = "cpu"
        self._model_defaults: dict[str, Any] = {}
        self._info = EngineInfo(
            model_path=model_path,
            max_model_len=settings.max_model_len or 0,
            engine="transformers",
            constrained_decoding=False,
        )
        # One thread runs the model: generate calls never overlap (the model keeps per-call state).
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transformers-generate")
        self._waiting: list[_Job] = []
        self._running: list[_Job] = []
        self._arrived = asyncio.Event()
        self._batcher: asyncio.Task[None] | None = None

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        started = time.monotonic()
        logger.info("loading %s into transformers", self._model_path)
        await asyncio.get_running_loop().run_in_executor(self._worker, self._load)
        self._batcher = asyncio.create_task(self._batch_loop())
        logger.info(
            "transformers engine ready in %.1f s on %s (max_model_len=%d, max batch %d)",
            time.monotonic() - started,
            self._device,
            self._info.max_model_len,
            self._settings.max_batch_size,
        )

    def _load(self) -> None:
        install_pil_image_processor()
        image_tables.install()
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

        settings = self._settings
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)  # on the worker thread, which runs the model
        self._device = settings.device
        if self._device == "auto":
            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = settings.dtype if settings.dtype == "auto" else getattr(torch, settings.dtype)
        options: dict[str, Any] = {"revision": settings.revision, "trust_remote_code": settings.trust_remote_code}
        self._processor = AutoProcessor.from_pretrained(self._model_path, **options)
        model: Any = AutoModelForImageTextToText.from_pretrained(self._model_path, dtype=dtype, **options)
        self._model = model.to(self._device).eval()
        number_images_per_prompt(self._model)
        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        checkpoint = self._model.generation_config
        given = checkpoint.to_diff_dict()
        self._model_defaults = {name: given[name] for name in MODEL_DEFAULT_FIELDS if given.get(name) is not None}
        # generate() fills every field a call leaves unset from the model's config: keep only the token ids there,
        # or the checkpoint's repetition_penalty & co. would apply on top of our own per-request processors.
        self._model.generation_config = GenerationConfig(
            bos_token_id=checkpoint.bos_token_id,
            eos_token_id=checkpoint.eos_token_id,
            pad_token_id=checkpoint.pad_token_id,
        )
        max_model_len = settings.max_model_len or self._model.config.get_text_config().max_position_embeddings
        self._info = EngineInfo(
            model_path=self._model_path,
            max_model_len=int(max_model_len),
            engine="transformers",
            constrained_decoding=False,
        )

    async def shutdown(self) -> None:
        if self._batcher is not None:
            self._batcher.cancel()
            await asyncio.gather(self._batcher, return_exceptions=True)
            self._batcher = None
        for job in [*self._waiting, *self._running]:
            job.cancelled = True  # a running batch stops at its next step
            job.emit(EngineDown("The engine is shutting down."))
        self._waiting.clear()
        self._worker.shutdown(wait=False, cancel_futures=True)
        self._model = None

    def is_healthy(self) -> bool:
        return self._model is not None and self._batcher is not None and not self._batcher.done()

    def num_unfinished_requests(self) -> int:
        return len(self._waiting) + len(self._running)

    def stats(self) -> EngineStats:
        return EngineStats(running=len(self._running), waiting=len(self._waiting))

    def metric_collectors(self) -> list[Collector]:
        return []

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        """Stream the request's outputs; closing the iteration drops it from its batch at the next step."""
        if not self.is_healthy():
            raise EngineDown("The engine is not running.")
        job = await self._admit(request)
        self._waiting.append(job)
        self._arrived.set()
        try:
            while (item := await job.outputs.get()) is not None:
                if isinstance(item, EngineFault):
                    raise item
                yield item
        finally:
            job.cancelled = True
            if job in self._waiting:
                self._waiting.remove(job)

    async def _admit(self, request: EngineRequest) -> _Job:
        """Validate and encode a request (off the event loop); 4xx errors are raised here, before any output."""
        sampling = request.sampling
        if sampling.json_schema is not None:
            raise RequestRejected(
                "The transformers engine does not support constrained decoding (response_format json_object / "
                "json_schema); serve with --engine vllm for JSON output.",
                param="response_format",
            )
        batch_key = self._batch_key(request)
        if batch_key == GREEDY and sampling.n > 1:
            raise RequestRejected("n must be 1 when using greedy sampling.", param="n")  # as vLLM answers
        inputs = await asyncio.to_thread(self._encode, request)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        rules = self._rules(sampling, prompt_tokens)
        return _Job(
            request=request,
            inputs=inputs,
            prompt_tokens=prompt_tokens,
            rules=rules,
            batch_key=batch_key,
            loop=asyncio.get_running_loop(),
            outputs=asyncio.Queue(),
        )

    def _encode(self, request: EngineRequest) -> dict[str, Any]:
        try:
            return dict(self._processor(text=[request.prompt], images=request.images or None, return_tensors="pt"))
        except ValueError as error:  # the processor's verdict on an image or a prompt
            raise RequestRejected(str(error) or "The processor rejected this input.", param="messages") from error

    def _sampling_value(self, options: SamplingOptions, name: str, fallback: Any) -> Any:
        value = getattr(options, name)
        return self._model_defaults.get(name, fallback) if value is None else value

    def _rules(self, options: SamplingOptions, prompt_tokens: int) -> RowRules:
        room = self._info.max_model_len - prompt_tokens
        # The checkpoint's default length is capped by the room left, as vLLM does; a length asked for is not.
        max_tokens = options.max_tokens or min(self._model_defaults.get("max_new_tokens") or room, room)
        if room <= 0 or max_tokens > room:
            raise PromptTooLong(
                f"This model's maximum context length is {self._info.max_model_len} tokens; the prompt has "
                f"{prompt_tokens} and {max_tokens} more were requested.",
                param="messages",
            )
        eos = self._model.generation_config.eos_token_id
        model_stops = {eos} if isinstance(eos, int) else set(eos or ())
        return RowRules(
            max_tokens=int(max_tokens),
            stop=tuple(options.stop),
            stop_token_ids=frozenset(model_stops | set(options.stop_token_ids)),
            repetition_penalty=self._sampling_value(options, "repetition_penalty", 1.0),
            presence_penalty=options.presence_penalty or 0.0,
            frequency_penalty=options.frequency_penalty or 0.0,
            logprobs=options.logprobs,
        )

    def _batch_key(self, request: EngineRequest) -> tuple[Any, ...]:
        """Requests with equal keys can share one ``generate`` call (one sampling configuration)."""
        options = request.sampling
        temperature = self._sampling_value(options, "temperature", 1.0)
        if temperature < GREEDY_BELOW:
            return GREEDY
        top_k = self._sampling_value(options, "top_k", 0)
        # A seeded request runs alone, so the seed alone decides its samples.
        alone = request.request_id if options.seed is not None else None
        return ("sample", temperature, self._sampling_value(options, "top_p", 1.0), max(top_k, 0), alone)

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
                await asyncio.sleep(BATCH_WINDOW_SECONDS)  # let requests that arrive together join
            self._running = self._take_batch()
            if self._running:
                await loop.run_in_executor(self._worker, self._run_batch, self._running)
            self._running = []

    def _take_batch(self) -> list[_Job]:
        """The oldest waiting request and the next ones that fit with it, up to ``--max-batch-size`` rows."""
        if not self._waiting:
            return []
        key, rows = self._waiting[0].batch_key, 0
        batch: list[_Job] = []
        for job in self._waiting:
            if job.batch_key == key and (not batch or rows + job.request.sampling.n <= self._settings.max_batch_size):
                batch.append(job)
                rows += job.request.sampling.n
        for job in batch:
            self._waiting.remove(job)
        return batch

    def _run_batch(self, jobs: list[_Job]) -> None:
        """On the worker thread: one ``generate`` call; a failure fails this batch's requests, not the engine."""
        try:
            self._generate(jobs)
        except Exception:
            logger.exception("generate failed for a batch of %d requests", len(jobs))
            for job in jobs:
                job.emit(EngineFailed("The engine failed while generating this response."))

    def _generate(self, jobs: list[_Job]) -> None:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList, StoppingCriteriaList

        tokenizer = self._processor.tokenizer
        choices = [(job, index) for job in jobs for index in range(job.request.sampling.n)]
        batch = left_pad([job.inputs for job, _ in choices], tokenizer.pad_token_id)
        batch = {name: tensor.to(self._device) for name, tensor in batch.items()}
        rules = [job.rules for job, _ in choices]
        requests = [
            RequestRows(
                rows=[Row(job.rules, index, IncrementalText(tokenizer)) for index in range(job.request.sampling.n)],
                prompt_tokens=job.prompt_tokens,
                emit=job.emit,
                is_cancelled=lambda job=job: job.cancelled,  # type: ignore[misc]
            )
            for job in jobs
        ]
        recorder = LogprobRecorder() if any(rule.logprobs is not None for rule in rules) else None
        processors: list[Any] = [recorder] if recorder else []
        if any((r.repetition_penalty, r.presence_penalty, r.frequency_penalty) != (1.0, 0.0, 0.0) for r in rules):
            processors.append(Penalties(rules, batch["input_ids"], batch["attention_mask"]))
        stepper = BatchStepper(requests, tokenizer, recorder)
        kind, *sampling = jobs[0].batch_key
        config = GenerationConfig(
            max_new_tokens=max(rule.max_tokens for rule in rules),
            eos_token_id=self._model.generation_config.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            do_sample=kind == "sample",
            **({"temperature": sampling[0], "top_p": sampling[1], "top_k": sampling[2]} if kind == "sample" else {}),
        )
        seed = jobs[0].request.sampling.seed
        if kind == "sample" and seed is not None:
            torch.manual_seed(seed)
        with torch.inference_mode():
            self._model.generate(
                **batch,
                generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList([stepper]),
            )
        stepper.close()
