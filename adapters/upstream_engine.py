"""The ``upstream`` engine: engine work forwarded to a pool of OpenAI-compatible vLLM servers.

The gateway keeps doing everything else (media, tasks, prompts, auth, limits,
metrics); each request goes to one replica as a streaming chat completion
(``adapters/upstream_wire.py``), chosen by ``adapters/upstream_pool.py``.
Every replica is health-checked in the background (``/health``,
``/v1/models``, ``/metrics``); one whose connection fails is taken out at
once and comes back with its next good check. A request whose replica fails
before the first token is retried on another; closing the stream (the client
left, or the answer loops) closes the connection, and vLLM aborts the
request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing, suppress
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from adapters.engine import EngineInfo, EngineOutput, EngineRequest, EngineStats
from adapters.errors import EngineDown
from adapters.settings import EngineSettings
from adapters.upstream_pool import Replica, ReplicaPool
from adapters.upstream_wire import (
    RETRYABLE_STATUSES,
    StreamReader,
    UpstreamFailure,
    chat_body,
    encode_images,
    http_error,
    parse_error_body,
)

logger = logging.getLogger(__name__)

HEALTH_INTERVAL = 2.0  # seconds between two checks of every replica
HEALTH_TIMEOUT = 5.0
WAITING_LOG_INTERVAL = 30.0
# No read timeout: a long answer may pause while the replica is busy; --request-timeout bounds the request.
REQUEST_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=60.0, pool=None)


class UpstreamEngine:
    """Serves through the vLLM servers at ``settings.upstreams``; ``model_path`` holds the model's processor."""

    # An outage of every replica ends by itself (they restart): the server stays up and /health says 503.
    self_healing = True

    def __init__(self, settings: EngineSettings, model_path: str) -> None:
        self._pool = ReplicaPool(list(settings.upstreams))
        self._model = settings.upstream_model  # None: each replica's own served model
        self._model_path = model_path
        self._headers = {"Authorization": f"Bearer {settings.upstream_api_key}"} if settings.upstream_api_key else {}
        self._client: httpx.AsyncClient | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._info = EngineInfo(model_path=model_path, max_model_len=0)
        # httpx logs each request at INFO: the health checks alone would write a line per replica every 2 s.
        logging.getLogger("httpx").setLevel(logging.WARNING)

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def replicas(self) -> list[Replica]:
        return self._pool.replicas

    async def start(self) -> None:
        """Returns once a replica is healthy (the gateway says "loading" until then)."""
        # Admission control bounds the requests in flight, so the connection pool need not.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
        self._client = httpx.AsyncClient(headers=self._headers, timeout=REQUEST_TIMEOUT, limits=limits)
        waiting_since = time.monotonic()
        await self._check_all()
        while not self._pool.healthy():
            if time.monotonic() - waiting_since >= WAITING_LOG_INTERVAL:
                logger.warning("no upstream replica is healthy yet: %s", ", ".join(self._urls()))
                waiting_since = time.monotonic()
            await asyncio.sleep(HEALTH_INTERVAL)
            await self._check_all()
        self._health_task = asyncio.create_task(self._watch())
        logger.info("upstream replicas healthy: %d of %d", len(self._pool.healthy()), len(self.replicas))

    async def shutdown(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._health_task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def is_healthy(self) -> bool:
        return self._client is not None and bool(self._pool.healthy())

    def num_unfinished_requests(self) -> int:
        return sum(replica.outstanding for replica in self.replicas)

    def metric_collectors(self) -> list[Collector]:
        return [self]  # per-replica metrics, from ``collect``

    def stats(self) -> EngineStats:
        """The healthy replicas' schedulers, summed (as of their last health check)."""
        total = EngineStats()
        for replica in self._pool.healthy():
            total.running += replica.stats.running
            total.waiting += replica.stats.waiting
            total.prefix_cache_queries += replica.stats.prefix_cache_queries
            total.prefix_cache_hits += replica.stats.prefix_cache_hits
        return total

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        """Stream from one replica; before the first token, a failed replica hands the request to another."""
        if not self.is_healthy():
            raise EngineDown("No upstream replica is healthy; retry later.", retry_after=5)
        images = await asyncio.to_thread(encode_images, request.turns)
        tried: list[Replica] = []
        # Every replica once; a lone replica twice (vLLM asks for a retry when its image cache lost an image).
        attempts = max(2, len(self.replicas))
        for attempt in range(attempts):
            replica = self._pool.choose(images.affinity_key, tried)  # 503 once none is healthy
            tried.append(replica)
            body = chat_body(request, images.urls, self._model or replica.model or "")
            try:
                async with aclosing(self._stream(replica, body, request.prompt)) as outputs:
                    async for output in outputs:
                        yield output
                return
            except UpstreamFailure as failure:
                replica.failures += 1
                logger.warning(
                    "replica %s failed request %s before answering (%s: %s); trying another",
                    replica.base_url,
                    request.request_id,
                    type(failure.__cause__ or failure).__name__,
                    failure,
                )
                if attempt + 1 == attempts:
                    raise failure.error from failure

    async def _stream(self, replica: Replica, body: dict[str, Any], prompt: str) -> AsyncGenerator[EngineOutput, None]:
        """One attempt. Raises ``UpstreamFailure`` only while nothing has been yielded; leaving the ``async with``
        early (the caller closed us) closes the connection, which aborts the request in vLLM."""
        assert self._client is not None
        reader = StreamReader()
        started = False
        replica.outstanding += 1
        replica.routed += 1
        try:
            async with aconnect_sse(self._client, "POST", f"{replica.base_url}/chat/completions", json=body) as source:
                response = source.response
                if response.status_code != 200:
                    error = http_error(response.status_code, parse_error_body(await response.aread()))
                    raise UpstreamFailure(error) if response.status_code in RETRYABLE_STATUSES else error
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        return
                    output = reader.read(json.loads(event.data))
                    self._check_prompt(replica, reader.prompt_text, prompt)
                    if output is not None:
                        started = True
                        yield output
        except httpx.TransportError as error:
            replica.healthy = False  # until its next good health check
            if started:
                raise EngineDown("The upstream replica went away mid-answer; retry.") from error
            failure = EngineDown("The upstream replicas could not be reached; retry later.")
            raise UpstreamFailure(failure) from error
        except UpstreamFailure as failure:
            if started:
                raise failure.error from failure
            raise
        finally:
            replica.outstanding -= 1

    def _check_prompt(self, replica: Replica, rendered: str | None, prompt: str) -> None:
        if rendered is None or replica.prompt_checked:
            return
        replica.prompt_checked = True
        if rendered != prompt:
            logger.error(
                "replica %s renders HunyuanOCR's chat template differently from the gateway, so its answers differ "
                "from the in-process engine's; install this package where the replica's vLLM runs (its vLLM plugin "
                "fixes the rendering).\n gateway:  %r\n replica:  %r",
                replica.base_url,
                prompt,
                rendered,
            )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            await self._check_all()

    async def _check_all(self) -> None:
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))
        if lengths := [replica.max_model_len for replica in self._pool.healthy() if replica.max_model_len]:
            self._info = EngineInfo(model_path=self._model_path, max_model_len=min(lengths))

    async def _check(self, replica: Replica) -> None:
        assert self._client is not None
        was_healthy = replica.healthy
        try:
            health = await self._client.get(f"{replica.root_url}/health", timeout=HEALTH_TIMEOUT)
            models = await self._client.get(f"{replica.base_url}/models", timeout=HEALTH_TIMEOUT)
            replica.healthy = health.status_code == 200 and self._read_models(replica, models)
            if replica.healthy:
                metrics = await self._client.get(f"{replica.root_url}/metrics", timeout=HEALTH_TIMEOUT)
                replica.stats = _scheduler_stats(metrics.text) if metrics.status_code == 200 else EngineStats()
        except (httpx.HTTPError, ValueError) as error:
            replica.healthy = False
            if was_healthy:
                logger.warning("replica %s failed its health check: %s", replica.base_url, error)
        if replica.healthy != was_healthy:
            logger.info("replica %s is %s", replica.base_url, "healthy" if replica.healthy else "unhealthy")
        if not replica.healthy:
            replica.prompt_checked = False  # once back, it may be running other code: check it again

    def _read_models(self, replica: Replica, response: httpx.Response) -> bool:
        """Whether the replica serves our model; notes its id and context length."""
        if response.status_code != 200:
            return False
        cards = [card for card in response.json().get("data", []) if self._model in (None, card.get("id"))]
        if not cards:
            logger.warning("replica %s does not serve the model %r", replica.base_url, self._model)
            return False
        replica.model = cards[0]["id"]
        replica.max_model_len = cards[0].get("max_model_len")
        return True

    def _urls(self) -> Iterator[str]:
        return (replica.base_url for replica in self.replicas)

    def collect(self) -> Iterator[Metric]:
        """Per-replica metrics for /metrics (a prometheus_client collector)."""
        healthy = GaugeMetricFamily(
            "ocr_gateway_upstream_healthy", "1 while the replica passes its checks", labels=["replica"]
        )
        in_flight = GaugeMetricFamily(
            "ocr_gateway_upstream_in_flight", "Requests in flight to the replica", labels=["replica"]
        )
        routed = CounterMetricFamily(
            "ocr_gateway_upstream_requests", "Requests sent to the replica", labels=["replica"]
        )
        failed = CounterMetricFamily(
            "ocr_gateway_upstream_failures", "Requests the replica failed before answering", labels=["replica"]
        )
        for replica in self.replicas:
            healthy.add_metric([replica.base_url], float(replica.healthy))
            in_flight.add_metric([replica.base_url], replica.outstanding)
            routed.add_metric([replica.base_url], replica.routed)
            failed.add_metric([replica.base_url], replica.failures)
        yield from (healthy, in_flight, routed, failed)


def _scheduler_stats(text: str) -> EngineStats:
    """vLLM's scheduler gauges and prefix-cache counters from its Prometheus text."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
    return EngineStats(
        running=int(values.get("vllm:num_requests_running", 0)),
        waiting=int(values.get("vllm:num_requests_waiting", 0)),
        prefix_cache_queries=int(values.get("vllm:prefix_cache_queries_total", 0)),
        prefix_cache_hits=int(values.get("vllm:prefix_cache_hits_total", 0)),
    )
