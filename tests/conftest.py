"""Session-wide fixtures: the tiny checkpoint, one real gateway (vLLM engine) on 127.0.0.1, and Chromium; and the
``integration`` marker on every test that starts real servers or engines."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from tests.postgres import Cluster, postgres_cluster, server_binaries
from tests.servers import TINY_ENGINE_ARGS, GatewayDidNotStart, start_gateway, stop_gateway
from tests.tiny_checkpoint import build

if TYPE_CHECKING:
    from playwright.sync_api import Browser


# Their tests start real servers or engines (vLLM, Open WebUI, the benchmarks' systems, fuzzing over sockets).
INTEGRATION_FOLDERS = ("integration", "bench", "fuzz", "optional")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the tests in ``INTEGRATION_FOLDERS`` ``integration``: ``-m "not integration"`` is the unit loop."""
    here = Path(__file__).parent
    for item in items:
        if any(item.path.is_relative_to(here / folder) for folder in INTEGRATION_FOLDERS):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("tiny-hunyuanocr"))


@pytest.fixture(scope="session")
def prompts(tiny_checkpoint: Path) -> HunyuanPromptBuilder:
    return HunyuanPromptBuilder(str(tiny_checkpoint))


@dataclass(frozen=True)
class Gateway:
    base_url: str  # ends in /v1, as the openai client takes it
    root_url: str
    model: str
    checkpoint: Path
    log_path: Path
    pid: int

    def unfinished_requests(self) -> int:
        """Requests in the engine now (queued or running), as ``/health`` reports them."""
        return int(httpx.get(f"{self.root_url}/health").json()["engine"]["unfinished_requests"])

    def wait_for_engine_idle(self, timeout: float = 3) -> int:
        """Waits up to ``timeout`` s for the engine to hold no request; returns how many it still holds."""
        deadline = time.monotonic() + timeout
        while (count := self.unfinished_requests()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return count


@contextmanager
def tiny_gateway(checkpoint: Path, log_dir: Path, *args: str) -> Iterator[Gateway]:
    """``ocr-gateway serve ARGS`` on the tiny checkpoint until the block ends; a failed start fails the test."""
    log_path = log_dir / "server.log"
    try:
        process, root_url = start_gateway(str(checkpoint), log_path, *args)
    except GatewayDidNotStart as error:
        pytest.fail(str(error))
    try:
        yield Gateway(f"{root_url}/v1", root_url, "hunyuan-ocr-tiny", checkpoint, log_path, process.pid)
    finally:
        stop_gateway(process)


@pytest.fixture(scope="session")
def gateway(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """``ocr-gateway serve`` with the real vLLM engine on the tiny checkpoint, started once per session."""
    with tiny_gateway(
        tiny_checkpoint, tmp_path_factory.mktemp("gateway"), *TINY_ENGINE_ARGS, "--kv-cache-gb", "1"
    ) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright: the web page's tests and the Open WebUI test."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: run `make system-deps`.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A PostgreSQL server of its own for the session (skipped only where the server binaries are missing)."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package 'postgresql')")
    with postgres_cluster(binaries) as cluster:
        yield cluster
