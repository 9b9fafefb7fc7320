from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import Gateway, tiny_gateway
from tests.hub_cache import cache_with_tokenizer
from tests.reference import TransformersReference
from tests.servers import TINY_ENGINE_ARGS, GatewayDidNotStart, start_gateway, stop_gateway

# Callers of ``keyed_rapidocr_root``, by module: each calls with keys of its own, so one module's files and
# remembered answers are never another's.
RAPIDOCR_KEYS = {
    "mcp": ("sk-agent", "sk-someone-else"),
    "mistral": ("sk-open-webui", "sk-other-reader"),
    "docling": ("sk-docling-client",),
}
# Mistral's API refuses bodies over 1 MB (a huge-body test); the docling client fetches from a media server on loopback.
HUB_TOKENIZER = "acme/word-tokenizer"  # in the keyed gateway's Hugging Face cache (tests/hub_cache.py)
KEYED_RAPIDOCR_ARGS = (
    "--engine",
    "rapidocr",
    *(argument for keys in RAPIDOCR_KEYS.values() for key in keys for argument in ("--api-key", key)),
    "--max-body-mb",
    "1",
    "--allow-private-media",
)

# The tiny model's ops are too small to split across cores; one thread avoids waiting on busy ones.
TRANSFORMERS_ENGINE_ARGS = ("--engine", "transformers", "--torch-threads", "1", *TINY_ENGINE_ARGS)


@pytest.fixture(scope="session")
def client(gateway: Gateway) -> OpenAI:
    return OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def reference(tiny_checkpoint: Path) -> TransformersReference:
    return TransformersReference(tiny_checkpoint)


@pytest.fixture(scope="session")
def transformers_gateway(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """``ocr-gateway serve --engine transformers`` on the tiny checkpoint, started once per session."""
    log_dir = tmp_path_factory.mktemp("transformers-gateway")
    with tiny_gateway(tiny_checkpoint, log_dir, *TRANSFORMERS_ENGINE_ARGS) as server:
        yield server


@pytest.fixture(scope="session")
def transformers_client(transformers_gateway: Gateway) -> Iterator[OpenAI]:
    with OpenAI(base_url=transformers_gateway.base_url, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def rapidocr_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ocr-gateway serve --engine rapidocr`` (no model weights; no served name: the engine names its model)."""
    with rapidocr_gateway(tmp_path_factory.mktemp("rapidocr-gateway") / "server.log", "--engine", "rapidocr") as root:
        yield root


@pytest.fixture(scope="session")
def keyed_rapidocr_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``keyed_rapidocr_root`` logs (a test reads what the server wrote of its requests)."""
    return tmp_path_factory.mktemp("keyed-rapidocr") / "server.log"


@pytest.fixture(scope="session")
def keyed_rapidocr_root(keyed_rapidocr_log: Path) -> Iterator[str]:
    """``ocr-gateway serve --engine rapidocr`` with ``KEYED_RAPIDOCR_ARGS``: the API keys of ``RAPIDOCR_KEYS``, a
    1 MB body limit, fetching on loopback, and a Hugging Face cache holding ``HUB_TOKENIZER`` (docling's hybrid
    chunker). Shared by the modules that call a keyed gateway (MCP, Mistral's API, docling's clients)."""
    hub = cache_with_tokenizer(keyed_rapidocr_log.with_name("hub"), HUB_TOKENIZER)
    env = {"HF_HUB_CACHE": str(hub)}
    with rapidocr_gateway(keyed_rapidocr_log, *KEYED_RAPIDOCR_ARGS, env=env) as root:
        yield root


@contextmanager
def rapidocr_gateway(log_path: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``ocr-gateway serve ARGS`` with no served name (the engine names its model) until the block ends."""
    try:
        process, root_url = start_gateway("tencent/HunyuanOCR", log_path, *args, served_name=None, timeout=240, env=env)
    except GatewayDidNotStart as error:
        pytest.fail(str(error))
    try:
        yield root_url
    finally:
        stop_gateway(process)
