"""Prometheus metrics (``GET /metrics``), fed by the request log and read live from the engine."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from adapters.engine import Engine
from gateway.admission import AdmissionControl

OTHER = "other"  # the label of requests no route matched
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """One registry per app (so tests can build several apps); names start with ``ocr_gateway_``. Requests are
    labelled by the route they matched (its path template, from the route table), else ``other``."""

    def __init__(self, engine: Engine, admission: AdmissionControl, routes: frozenset[str]) -> None:
        self._routes = routes
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("ocr_gateway_requests", "HTTP requests", ["route", "status"], registry=registry)
        self.latency = Histogram(
            "ocr_gateway_request_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS, registry=registry
        )
        self.ttft = Histogram(
            "ocr_gateway_time_to_first_token_seconds",
            "Streaming time to first token",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter("ocr_gateway_tokens", "Tokens in and out", ["kind"], registry=registry)
        self.images = Counter("ocr_gateway_images", "Images and PDF pages sent to the model", registry=registry)
        self.pixels = Counter("ocr_gateway_image_pixels", "Pixels of those images", registry=registry)
        self.media = Histogram(
            "ocr_gateway_media_seconds",
            "Time to fetch, decode and size a request's media",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        live = [
            ("ocr_gateway_queue_depth", "Requests waiting for an engine slot", lambda: admission.waiting),
            ("ocr_gateway_in_flight", "Requests holding an engine slot", lambda: admission.running),
            ("ocr_gateway_engine_running", "Requests the engine is running", lambda: engine.stats().running),
            ("ocr_gateway_engine_waiting", "Requests the engine has queued", lambda: engine.stats().waiting),
            ("ocr_gateway_prefix_cache_hit_rate", "Prefix-cache hits / queries since start", lambda: _hit_rate(engine)),
            ("ocr_gateway_engine_healthy", "1 while the engine serves", lambda: float(engine.is_healthy())),
        ]
        for name, description, read in live:
            Gauge(name, description, registry=registry).set_function(read)
        for collector in engine.metric_collectors():
            registry.register(collector)  # an engine with parts of its own (replicas) reports them
        self.batch = BatchMetrics(registry)

    def observe(self, record: dict[str, Any]) -> None:
        """Account one finished request, from its log record."""
        route = record["route"] if record["route"] in self._routes else OTHER
        self.requests.labels(route, str(record["status"])).inc()
        self.latency.labels(route).observe(record["latency_ms"] / 1000)
        if "ttft_ms" in record:
            self.ttft.observe(record["ttft_ms"] / 1000)
        for kind in ("prompt_tokens", "completion_tokens", "cached_tokens"):
            self.tokens.labels(kind.removesuffix("_tokens")).inc(record.get(kind) or 0)
        self.images.inc(record.get("images") or 0)
        self.pixels.inc(record.get("pixels") or 0)
        if "media_ms" in record:
            self.media.observe(record["media_ms"] / 1000)


class BatchMetrics:
    """The batch worker's share of the work: what this gateway claimed and took over, and the queue all share."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.units_claimed = Counter(
            "ocr_gateway_batch_units_claimed", "Batch requests this gateway claimed to run", registry=registry
        )
        self.lease_takeovers = Counter(
            "ocr_gateway_batch_lease_takeovers",
            "Batch requests claimed after their holder's lease lapsed (it died or stalled)",
            registry=registry,
        )
        self.queue_depth = Gauge(
            "ocr_gateway_batch_queue_depth",
            "Pending requests of in-progress batches, all gateways (refreshed every few seconds)",
            registry=registry,
        )


def _hit_rate(engine: Engine) -> float:
    stats = engine.stats()
    return stats.prefix_cache_hits / stats.prefix_cache_queries if stats.prefix_cache_queries else 0.0
