"""Every async conversion task ends with an answer: a run that raises something unexpected or meets an engine that
is not serving is tried again after a backoff, up to ``--task-max-attempts`` runs, then the task fails in
docling-serve's shape and is swept as any finished task; a run past ``--request-timeout`` fails it; and the tasks
queued behind a failing one are run meanwhile. (Regressions: such a task used to stay ``started`` for ever, run
again every 30 s and never be swept; an engine restart failed it for good; a stuck engine held it for ever.)"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from adapters.engine import EngineOutput, EngineRequest
from adapters.errors import EngineDown
from gateway.docling_serve import task_worker, tasks, wire
from gateway.docling_serve.tasks import ConvertTaskStore, TaskRequest
from gateway.jobstore.tables import convert_tasks
from gateway.ocr import Upload
from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import blob_names
from tests.gateway.conftest import MakeClient
from tests.gateway.documents.test_convert_api import DOCUMENT, PNG, SPOTTING
from tests.gateway.documents.test_docling_api import KEY, headers, poll
from tests.waiting import wait_until


@dataclass
class FlakyEngine(FakeEngine):
    """A fake engine that is down (restarting, say) for its first ``outages`` calls."""

    outages: int = 0

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        if self.outages:
            self.outages -= 1
            raise EngineDown("The engine is restarting.")
        async for output in super().generate(request):
            yield output


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_worker, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(task_worker, "IDLE_POLL", 0.1)


@pytest.fixture
def fake() -> FlakyEngine:
    return FlakyEngine(replies={"document": DOCUMENT, "spotting": SPOTTING})


@pytest.fixture
def make_client(make_client: MakeClient, fake: FlakyEngine) -> MakeClient:
    return partial(make_client, fake, api_keys=(KEY,))


def submit(client: TestClient, filename: str = "scan.png") -> str:
    """A task reading one scan with one engine call (no boxes)."""
    files = {"files": (filename, PNG, "image/png")}
    response = client.post("/v1/convert/file/async", files=files, data={"boxes": "false"}, headers=headers())
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


def finished(client: TestClient, task_id: str) -> dict[str, Any]:
    def status() -> dict[str, Any] | None:
        now: dict[str, Any] = poll(client, task_id, wait=1).json()
        return now if now["task_status"] in tasks.FINISHED else None

    done = wait_until(status, 20, f"task {task_id} to finish")
    assert done is not None
    return done


def result(client: TestClient, task_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/result/{task_id}", headers=headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def store(client: TestClient) -> ConvertTaskStore:
    task_store: ConvertTaskStore = client.app.state.convert_tasks  # type: ignore[attr-defined]
    return task_store


def test_a_task_whose_stored_options_no_longer_validate_fails_after_the_bound_and_is_swept(
    make_client: MakeClient, fake: FlakyEngine, tmp_path: Path, blob_store: str
) -> None:
    """As options stored before ``max_tokens`` was bounded: reading them back raises pydantic's ValidationError."""
    client = make_client(batch={"task_results_hours": 0})
    stale = wire.ConvertOptions.model_construct(max_tokens=2**70)
    request = TaskRequest(stale, wire.Target(), [Upload("old.png", "image/png", PNG)])
    owner = hashlib.sha256(KEY.encode()).hexdigest()  # as middleware/auth.py names the key's owner
    task_id = client.portal.call(store(client).create, owner, request).task_id  # type: ignore[union-attr]
    client.app.state.convert_worker.wake()  # type: ignore[attr-defined]
    status = finished(client, task_id)
    assert status["task_status"] == "failure" and status["task_meta"]["num_failed"] == 1
    message = status["error_message"]
    assert message.startswith("The conversion failed 3 times: ValidationError") and "max_tokens" in message
    answer = result(client, task_id)
    assert answer["status"] == "failure" and answer["document"]["filename"] == "old.png"
    assert answer["errors"][0]["error_message"] == message
    assert fake.requests == []
    swept = wait_until(lambda: client.portal.call(store(client).sweep), 5, "the failed task to be swept")  # type: ignore[union-attr]
    assert swept == 1 and poll(client, task_id).status_code == 404
    assert blob_names(blob_store, tmp_path / "data", "tasks") == []


def test_a_task_whose_engine_is_down_twice_is_tried_again_and_succeeds(
    make_client: MakeClient, fake: FlakyEngine
) -> None:
    fake.outages = 2
    client = make_client()
    task_id = submit(client)
    status = finished(client, task_id)
    assert status["task_status"] == "success" and status["error_message"] is None
    assert "Hydraulic" in result(client, task_id)["document"]["md_content"]
    assert fake.outages == 0 and len(fake.requests) == 1  # the third run is the one the engine answered


def test_a_task_that_always_raises_fails_after_three_runs_and_the_next_task_still_runs(
    make_client: MakeClient, fake: FlakyEngine
) -> None:
    client = make_client()
    converter = client.app.state.docling  # type: ignore[attr-defined]
    convert, runs = converter.convert, []

    async def poisoned(sources: Any, *args: Any, **kwargs: Any) -> Any:
        if sources[0].upload.filename == "poison.png":
            runs.append(sources[0].upload.filename)
            raise RuntimeError("a bug in the converter")
        return await convert(sources, *args, **kwargs)

    converter.convert = poisoned
    poison, after = submit(client, "poison.png"), submit(client, "after.png")
    status = finished(client, poison)
    assert status["task_status"] == "failure" and len(runs) == 3
    assert status["error_message"] == "The conversion failed 3 times: RuntimeError: a bug in the converter"
    assert result(client, poison)["errors"][0]["error_message"] == status["error_message"]
    assert finished(client, after)["task_status"] == "success"
    assert len(fake.requests) == 1  # the poisoned task never reached the engine


def test_a_failed_run_waits_out_its_backoff_while_the_queue_moves_on(
    make_client: MakeClient, fake: FlakyEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_worker, "BACKOFF_SECONDS", 2.0)
    fake.outages = 1
    client = make_client()
    first, second = submit(client, "first.png"), submit(client, "second.png")
    assert finished(client, second)["task_status"] == "success"
    waiting = poll(client, first).json()
    assert waiting["task_status"] == "pending" and waiting["error_message"] == "The engine is restarting."
    assert finished(client, first)["task_status"] == "success"


def test_a_task_past_the_request_timeout_fails_without_another_run(make_client: MakeClient, fake: FlakyEngine) -> None:
    fake.delay = 30.0  # an engine that never answers
    client = make_client(request_timeout=0.5)
    task_id = submit(client)
    status = finished(client, task_id)
    assert status["task_status"] == "failure" and "timeout" in status["error_message"]
    assert result(client, task_id)["status"] == "failure"
    assert len(fake.requests) == 1


def test_a_run_stopped_with_its_gateway_is_not_counted_as_an_attempt(
    make_client: MakeClient, fake: FlakyEngine
) -> None:
    fake.delay = 30.0
    first = make_client(batch={"task_max_attempts": 1})
    task_id = submit(first)
    wait_until(lambda: poll(first, task_id).json()["task_status"] == "started", 10, "the task to start")
    first.__exit__(None, None, None)
    fake.delay = 0.0
    second = make_client(batch={"task_max_attempts": 1})
    assert finished(second, task_id)["task_status"] == "success"


def test_no_run_is_spent_while_the_engine_is_down_for_everyone(make_client: MakeClient, fake: FlakyEngine) -> None:
    fake.self_healing = True  # a pool of replicas: the gateway stays up through their outage
    client = make_client(batch={"task_max_attempts": 1})
    lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    wait_until(lambda: lifecycle.state == "ready", 10, "the engine to load")
    fake.started, fake.outages = False, 5  # every replica out
    task_id = submit(client)
    assert poll(client, task_id, wait=0.5).json()["task_status"] == "pending"
    fake.started, fake.outages = True, 0
    assert finished(client, task_id)["task_status"] == "success"


def test_a_run_whose_task_another_gateway_took_over_stops_and_writes_nothing(
    make_client: MakeClient, fake: FlakyEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blob_store: str
) -> None:
    """This gateway stalled past its lease and another took the task: the keeper's next renewal says so, the run
    stops (the engine freed for the next task), and the answer, the row and the inputs are left to the new holder."""
    monkeypatch.setattr(task_worker, "KEEPER_INTERVAL", 0.1)
    fake.delay = 30.0
    client = make_client()
    task_id = submit(client, "taken.png")
    wait_until(lambda: poll(client, task_id).json()["task_status"] == "started", 10, "the task to start")
    taken_over = (
        update(convert_tasks)
        .where(convert_tasks.c.id == task_id)
        .values(lease_owner="another-gateway", lease_expires_at=2**40)
    )

    async def take_over() -> None:
        async with client.app.state.jobs.database.begin() as connection:  # type: ignore[attr-defined]
            await connection.execute(taken_over)

    client.portal.call(take_over)
    fake.delay = 0.0
    assert finished(client, submit(client, "next.png"))["task_status"] == "success"  # the engine was let go
    status = poll(client, task_id).json()
    assert status["task_status"] == "started"  # still the other gateway's to finish
    assert f"{task_id}-in-0" in blob_names(blob_store, tmp_path / "data", "tasks")
    assert f"{task_id}-result" not in blob_names(blob_store, tmp_path / "data", "tasks")


def test_a_key_past_its_queued_task_limit_gets_a_429(make_client: MakeClient, fake: FlakyEngine) -> None:
    fake.delay = 30.0
    client = make_client(batch={"max_queued_tasks_per_key": 2})
    submit(client), submit(client)
    files = {"files": ("third.png", PNG, "image/png")}
    refused = client.post("/v1/convert/file/async", files=files, headers=headers())
    assert refused.status_code == 429, refused.text
    assert "--max-queued-tasks-per-key 2" in refused.json()["detail"]  # docling-serve's error shape
