from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import Gateway, tiny_gateway
from tests.reference import TransformersReference
from tests.servers import TINY_ENGINE_ARGS, GatewayDidNotStart, start_gateway, stop_gateway

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
    log_path = tmp_path_factory.mktemp("rapidocr-gateway") / "server.log"
    try:
        process, root_url = start_gateway(
            "tencent/HunyuanOCR", log_path, "--engine", "rapidocr", served_name=None, timeout=240
        )
    except GatewayDidNotStart as error:
        pytest.fail(str(error))
    try:
        yield root_url
    finally:
        stop_gateway(process)
