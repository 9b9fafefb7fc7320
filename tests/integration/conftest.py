from __future__ import annotations

from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import Gateway
from tests.reference import TransformersReference


@pytest.fixture(scope="session")
def client(gateway: Gateway) -> OpenAI:
    return OpenAI(base_url=gateway.base_url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def reference(tiny_checkpoint: Path) -> TransformersReference:
    return TransformersReference(tiny_checkpoint)
