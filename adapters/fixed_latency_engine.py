"""``--engine fixed-latency``: a benchmarking and test engine that sleeps a set time per request, then answers.

It stands in for a GPU when what is measured is everything around the engine — several gateways sharing one
job store, a load balancer, a SIGKILL: each request takes ``--fixed-latency-ms`` whatever the machine's cores
are doing, so a scaling measurement on a small machine measures the gateways, not the CPU. It holds no model,
needs no weights, takes any request (text, images, every task) and answers a short deterministic text derived
from the prompt, so the same request always gets the same answer (with one box when asked to spot text).

Every request it starts counts in ``ocr_gateway_engine_runs_total{task}`` on ``/metrics``: tests add the counts
of several gateways to see who served what, and compare the sum with the requests asked for to find work run
twice. Not for serving users: it reads nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from prometheus_client import Counter

from adapters.engine import ChoiceDelta, EngineInfo, EngineOutput, EngineRequest, EngineStats
from adapters.errors import EngineDown
from adapters.rapidocr_engine import RapidOCRPromptBuilder

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

MODEL_NAME = "fixed-latency"


class FixedLatencyPromptBuilder(RapidOCRPromptBuilder):
    """rapidocr's builder (no chat template: the prompt is the conversation's words; images up to 2000 px), under
    this engine's model type."""

    def __init__(self, prompt_set: str) -> None:
        super().__init__(prompt_set, model_type=MODEL_NAME)


class FixedLatencyEngine:
    """Sleeps ``latency`` seconds per request (any number at once: the sleeps overlap), then answers."""

    # It cannot fail by itself, so there is no outage to heal from.
    self_healing = False

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self._running = False
        self._in_flight = 0
        self.runs = Counter(
            "ocr_gateway_engine_runs",
            "Requests the fixed-latency engine started, by HunyuanOCR task (none: a plain chat)",
            ["task"],
            registry=None,
        )
        self._info = EngineInfo(
            model_path=MODEL_NAME,
            max_model_len=0,
            engine="fixed-latency",
            model_name=MODEL_NAME,
            constrained_decoding=False,
            parses_layout=False,  # its answers are plain text, never a page's structure
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    async def start(self) -> None:
        self._running = True

    async def shutdown(self) -> None:
        self._running = False

    def is_healthy(self) -> bool:
        return self._running

    def num_unfinished_requests(self) -> int:
        return self._in_flight

    def stats(self) -> EngineStats:
        return EngineStats(running=self._in_flight)

    def metric_collectors(self) -> list[Collector]:
        return [self.runs]

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        """One step: the whole answer, after the sleep (a cancelled request ends during its sleep)."""
        if not self._running:
            raise EngineDown("The engine is not running.")
        self.runs.labels(request.task or "none").inc()
        self._in_flight += 1
        try:
            await asyncio.sleep(self.latency)
        finally:
            self._in_flight -= 1
        text = answer(request.prompt, len(request.images), spotting="spotting" in (request.task or ""))
        limit = request.sampling.max_tokens
        words = text.split(" ")
        finish_reason = "length" if limit is not None and len(words) > limit else "stop"
        text = " ".join(words[:limit]) if limit is not None else text
        yield EngineOutput(
            prompt_tokens=len(request.prompt.split()) + len(request.images),
            choices=[
                ChoiceDelta(index, text, len(text.split(" ")), finish_reason) for index in range(request.sampling.n)
            ],
        )


def answer(prompt: str, images: int, *, spotting: bool = False) -> str:
    """The same short text for the same prompt and image count: ``Text <8 hex digits> of N images.``; asked to
    spot text (documents read that way), the same line with one box, in HunyuanOCR 1.0's format."""
    digest = hashlib.sha256(f"{prompt}|{images}".encode()).hexdigest()[:8]
    text = f"Text {digest} of {images} images."
    return f"{text}(100,100),(900,200)" if spotting else text
