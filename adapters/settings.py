"""What an engine needs to load and run the model, each setting stated once with the words people see.

Every field is declared with ``setting(default, help, …)``: the default lives here and nowhere else, and the
field's ``Option`` tells a command line how to offer it (``gateway/cli/__init__.py`` builds ``ocr-gateway serve`` from
these). This module imports nothing from ``gateway/``: the engine boundary depends on nothing above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

DEFAULT_MODEL = "tencent/HunyuanOCR"
T = TypeVar("T")


@dataclass(frozen=True)
class Option:
    """How one settings field is offered on a command line, and explained there.

    The flag is ``--field-name`` and its environment variable the flag's name in capitals, unless ``flag`` or
    ``env`` say otherwise. A tuple field takes one comma-separated value, or with ``repeat`` a flag given once
    per item (its variable then holds the items comma-separated).
    """

    help: str
    group: str = ""  # "" : among the command's own options
    flag: str = ""
    env: str = ""
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    repeat: bool = False
    lowercase: bool = False  # items are compared case-insensitively (host names)
    # A command line's default when it differs from the field's on purpose (a folder that depends on $HOME).
    cli_default: Callable[[], Any] | None = None
    # (flag, help) of an on/off flag that, when off, sets the field to None.
    switch: tuple[str, str] | None = None
    # (flag, help) of a flag naming a file whose lines (``#`` comments allowed) are further items.
    lines_file: tuple[str, str] | None = None


def setting(default: T, help: str, **option: Any) -> T:
    """A dataclass field with ``default``, offered on the command line as ``Option(help, **option)`` says."""
    return field(default=default, metadata={"option": Option(help, **option)})


@dataclass(frozen=True)
class EngineSettings:
    """What the engine needs to load and run the model."""

    model: str = setting(DEFAULT_MODEL, "local checkpoint folder or hub id")
    revision: str | None = setting(None, "hub revision (branch, tag or commit) of --model")
    dtype: str = setting("auto", "weights/activation dtype (auto, bfloat16, float16, float32)", group="engine")
    max_model_len: int | None = setting(None, "context length (default: the model's)", group="engine")
    enforce_eager: bool = setting(False, "skip torch.compile/CUDA graphs: faster start, slower serving", group="engine")
    enable_prefix_caching: bool = setting(
        True, "reuse KV cache of shared prefixes (system prompt, same image)", group="engine"
    )
    # CPU: VLLM_CPU_KVCACHE_SPACE; GPU: KV-cache bytes budget
    kv_cache_gb: float | None = setting(None, "KV-cache size in GiB (CPU: default 4)", group="engine")
    gpu_memory_utilization: float = setting(0.9, "fraction of GPU memory vLLM may use", group="engine")
    tensor_parallel_size: int = setting(1, "GPUs to shard the model over", group="engine")
    max_images_per_prompt: int = setting(8, "most images one request may carry", group="engine")
    trust_remote_code: bool = setting(False, "allow code shipped with the checkpoint", group="engine")
    seed: int = setting(0, "engine random seed", group="engine")
    device: str = setting(
        "auto", "transformers engine: torch device (auto: cuda when available, else cpu)", group="engine"
    )
    max_batch_size: int = setting(
        8, "transformers engine: most sequences decoded together in one generate call", group="engine"
    )
    torch_threads: int | None = setting(
        None,
        "transformers engine on CPU: threads per op, unset: one per core (1 suits small models and busy machines)",
        group="engine",
    )
    upstreams: tuple[str, ...] = setting(
        (),
        "OpenAI base URL of one vLLM server (http://host:8000/v1)",
        group="upstream",
        flag="--upstream",
        env="UPSTREAMS",
        metavar="URL",
        repeat=True,
    )
    upstream_api_key: str | None = setting(None, "API key the vLLM servers require", group="upstream")
    upstream_model: str | None = setting(
        None, "model id the vLLM servers serve; unset: the one their /v1/models lists", group="upstream"
    )
    fixed_latency_ms: float = setting(
        200.0,
        "fixed-latency engine (benchmarks and tests): milliseconds each request sleeps before its answer",
        group="engine",
    )
