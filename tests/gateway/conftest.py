from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from adapters.hunyuan_prompt import HunyuanPromptBuilder
from gateway.app import build_app
from gateway.config import BatchSettings, Settings
from tests.fakes import FakeEngine

MakeClient = Callable[..., TestClient]


@pytest.fixture(params=["dir", "db"])
def blob_store(request: pytest.FixtureRequest) -> str:
    """``--blob-store``: the job-store tests run with file contents in a folder and in the database."""
    return str(request.param)


@pytest.fixture
def fake_engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def api(fake_engine: FakeEngine, prompts: HunyuanPromptBuilder) -> Iterator[TestClient]:
    """The real app in-process with a fake engine (no sockets, no vLLM)."""
    app = build_app(Settings(served_model_name="fake-ocr"), fake_engine, prompts, on_engine_failure=lambda: None)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_client(prompts: HunyuanPromptBuilder, tmp_path: Path, blob_store: str) -> Iterator[MakeClient]:
    """Apps with a job store: ``make(engine, batch={...}, **settings)`` is the real app on ``engine`` (a new
    ``FakeEngine`` by default), its job store in ``tmp_path / "data"`` (the same for every client made, as a
    restart or a second gateway would find it) unless ``batch`` says otherwise, entered and closed at the end."""
    clients: list[TestClient] = []

    def make(engine: FakeEngine | None = None, **settings: Any) -> TestClient:
        given = {"data_dir": str(tmp_path / "data"), "blob_store": blob_store, **settings.pop("batch", {})}
        settings = {"served_model_name": "fake-ocr", **settings}
        app = build_app(
            Settings(batch=BatchSettings(**given), **settings),
            engine or FakeEngine(),
            prompts,
            on_engine_failure=lambda: None,
        )
        client = TestClient(app, raise_server_exceptions=False).__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def die(client: TestClient) -> None:
    """What a gateway killed in the middle leaves: its workers stopped where they were, leases still held, and the
    SQLite file's lock gone (the kernel drops it with the process), so the next gateway may start on the file."""
    state = client.app.state  # type: ignore[attr-defined]
    client.portal.call(lambda: state.batch_worker.stop(release=False))  # type: ignore[union-attr]
    client.portal.call(state.convert_worker.stop)  # type: ignore[union-attr]
    client.portal.call(state.jobs.close)  # type: ignore[union-attr]
