"""One typed settings object for the whole server, filled by the CLI (flags or ``OCR_GATEWAY_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MODEL = "tencent/HunyuanOCR"


@dataclass(frozen=True)
class EngineSettings:
    """What the engine needs to load and run the model."""

    model: str = DEFAULT_MODEL
    revision: str | None = None
    dtype: str = "auto"
    max_model_len: int | None = None
    enforce_eager: bool = False
    enable_prefix_caching: bool = True
    kv_cache_gb: float | None = None  # CPU: VLLM_CPU_KVCACHE_SPACE; GPU: KV-cache bytes budget
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    max_images_per_prompt: int = 8
    trust_remote_code: bool = False
    seed: int = 0
    device: str = "auto"  # transformers engine: torch device (auto: cuda when available, else cpu)
    max_batch_size: int = 8  # transformers engine: most sequences in one generate call
    torch_threads: int | None = None  # transformers engine: CPU threads per op (None: torch's default)
    # --engine upstream: the OpenAI base URLs of the vLLM servers, their API key, and the model id they serve
    upstreams: tuple[str, ...] = ()
    upstream_api_key: str | None = None
    upstream_model: str | None = None  # None: what each server's /v1/models lists


@dataclass(frozen=True)
class MediaSettings:
    """Limits and policy for images and PDFs in requests."""

    remote_media: bool = True  # fetch http(s) image URLs at all
    allowed_media_domains: tuple[str, ...] = ()  # empty: any public host
    allow_private_media: bool = False  # on-prem: also fetch from private/loopback addresses
    max_image_mb: float = 20.0
    max_pdf_pages: int = 16
    max_body_mb: float = 100.0


@dataclass(frozen=True)
class BatchSettings:
    """The Files and Batch APIs and their job store; no ``data_dir`` means the APIs are off."""

    data_dir: str | None = None  # uploads, results and (without database_url) the SQLite database
    database_url: str | None = None  # postgresql://… for a store shared by several gateways
    max_batch_file_mb: float = 200.0
    batch_concurrency: int = 8  # batch requests in the engine at once, beside interactive ones

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_batch_file_mb * 2**20)


@dataclass(frozen=True)
class Settings:
    """Server settings. ``served_model_name`` is what clients pass as ``model``."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)
    engine_kind: str = "auto"
    prompt_set: str = "auto"  # HunyuanOCR prompt set: auto (from the model's config), 1.0 or 1.5
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "info"
    api_keys: tuple[str, ...] = ()  # empty: no authentication
    cors_origins: tuple[str, ...] = ()
    log_requests: bool = False  # log prompt text (never images); off: documents are private
    request_timeout: float = 600.0
    max_running_requests: int = 64  # in the engine at once
    max_queued_requests: int = 256  # waiting for a slot; beyond that → 429
    shutdown_timeout: float = 30.0  # SIGTERM: how long in-flight requests may finish

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.engine.model
