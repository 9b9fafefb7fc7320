"""No request stalls the job store: inputs that cannot be stored, requests that keep killing their engine or that
the engine keeps refusing, lifecycle steps that keep failing — each ends in an answer (an error line, a failed
batch) within bounded time, and every other batch, of the same key or another, finishes meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from adapters.engine import EngineOutput, EngineRequest
from gateway.batch import worker
from gateway.errors import EngineUnavailable
from gateway.jobstore.claims import Key, UnitClaims
from gateway.jobstore.database import check_sqlite, database_url, open_database
from gateway.jobstore.tables import batch_requests, batches
from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import MakeClient, create_batch, jsonl, request_line, upload, wait_for
from tests.gateway.batch.test_batches_api import GatedEngine
from tests.gateway.conftest import die

DONE = ("completed", "failed", "cancelled", "expired")
ALICE, BOB = {"Authorization": "Bearer alice-key"}, {"Authorization": "Bearer bob-key"}
# A custom_id that is half a character: JSON's escape of a lone UTF-16 surrogate.
LONE_SURROGATE_LINE = (
    '{"custom_id": "\\ud800", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}'
)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "BACKOFF_SECONDS", 0.0)


def post_batch(client: object, lines: list[str], headers: dict[str, str]) -> dict:
    file_id = client.post(  # type: ignore[attr-defined]
        "/v1/files", files={"file": ("in.jsonl", "\n".join(lines).encode())}, data={"purpose": "batch"}, headers=headers
    ).json()["id"]
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    return dict(client.post("/v1/batches", json=body, headers=headers).json())  # type: ignore[attr-defined]


def finished(client: object, batch: dict, headers: dict[str, str], timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while (now := client.get(f"/v1/batches/{batch['id']}", headers=headers).json())["status"] not in DONE:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"batch stayed {now['status']}"
        time.sleep(0.05)
    return dict(now)


def test_a_lone_surrogate_is_an_error_line_and_no_batch_of_any_key_waits(make_client: MakeClient) -> None:
    client = make_client(api_keys=("alice-key", "bob-key"))
    poison = post_batch(client, [LONE_SURROGATE_LINE, request_line("fine")], ALICE)
    after_same_key = post_batch(client, [request_line("a")], ALICE)
    after_other_key = post_batch(client, [request_line("b")], BOB)
    assert finished(client, after_same_key, ALICE)["status"] == "completed"
    assert finished(client, after_other_key, BOB)["status"] == "completed"
    done = finished(client, poison, ALICE)
    assert done["status"] == "completed" and done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    (error,) = _content(client, done["error_file_id"], ALICE)
    assert error["custom_id"] is None and "surrogate" in error["error"]["message"]


def _content(client: object, file_id: str, headers: dict[str, str]) -> list[dict]:
    response = client.get(f"/v1/files/{file_id}/content", headers=headers)  # type: ignore[attr-defined]
    return [json.loads(line) for line in response.text.splitlines()]


def test_a_step_that_always_fails_fails_its_batch_after_the_bound_and_others_finish(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = worker.parse_input

    def parse(data: bytes, batch_id: str, endpoint: str) -> object:
        if b"poison" in data:
            calls.append(batch_id)
            raise OSError("the input blob cannot be read")
        return real(data, batch_id, endpoint)

    monkeypatch.setattr(worker, "parse_input", parse)
    client = make_client()
    poison = create_batch(client, upload(client, request_line("poison"))["id"])
    normal = create_batch(client, upload(client, request_line("normal"))["id"])
    assert wait_for(client, normal["id"], DONE)["status"] == "completed"
    failed = wait_for(client, poison["id"], DONE)
    assert failed["status"] == "failed" and len(calls) == 3  # --batch-max-attempts
    (error,) = failed["errors"]["data"]
    assert error["code"] == "server_error" and "failed 3 times" in error["message"] and "OSError" in error["message"]


def test_a_request_whose_gateway_dies_every_time_ends_failed_after_the_bound(make_client: MakeClient) -> None:
    lines = "\n".join(request_line(f"r{n}") for n in range(2))
    first = make_client(GatedEngine(), batch={"batch_concurrency": 1})
    batch = create_batch(first, upload(first, lines)["id"])
    for life in range(3):  # each life starts r0 and dies holding it (the restart frees its lease at once)
        client = first if life == 0 else make_client(GatedEngine(), batch={"batch_concurrency": 1})
        wait_for(client, batch["id"], ("in_progress",))
        time.sleep(0.3)
        die(client)
    last = make_client()
    done = wait_for(last, batch["id"], DONE, timeout=15)
    assert done["status"] == "completed" and done["request_counts"]["failed"] == 1
    (error,) = jsonl(last, done["error_file_id"])
    assert error["custom_id"] == "r0" and error["response"]["status_code"] == 500
    assert "failed 3 times" in error["response"]["body"]["error"]["message"]
    assert [line["custom_id"] for line in jsonl(last, done["output_file_id"])] == ["r1"]


class RefusingEngine(FakeEngine):
    """Serves every request but the one asking for "poison", which it refuses as if its replica hung up."""

    refused = 0

    async def generate(self, request: EngineRequest) -> AsyncGenerator[EngineOutput, None]:
        if "poison" in request.prompt:
            self.refused += 1
            raise EngineUnavailable("The upstream server closed the connection.")
        async for output in super().generate(request):
            yield output


def test_a_request_the_engine_keeps_refusing_while_serving_others_ends_failed(make_client: MakeClient) -> None:
    engine = RefusingEngine()
    client = make_client(engine)
    batch = create_batch(client, upload(client, "\n".join([request_line("bad", "poison"), request_line("good")]))["id"])
    done = wait_for(client, batch["id"], DONE, timeout=20)
    assert done["status"] == "completed" and done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    assert engine.refused == 3
    (error,) = jsonl(client, done["error_file_id"])
    assert error["custom_id"] == "bad" and "failed 3 times" in error["response"]["body"]["error"]["message"]


def test_on_postgresql_a_lone_surrogate_is_an_error_line_and_other_keys_batches_finish(
    make_client: MakeClient, postgres_url: str
) -> None:
    client = make_client(api_keys=("alice-key", "bob-key"), batch={"database_url": postgres_url})
    poison = post_batch(client, [LONE_SURROGATE_LINE, request_line("fine")], ALICE)
    other = post_batch(client, [request_line("b")], BOB)
    assert finished(client, other, BOB)["status"] == "completed"
    done = finished(client, poison, ALICE)
    assert done["status"] == "completed" and done["request_counts"]["failed"] == 1
    (error,) = _content(client, done["error_file_id"], ALICE)
    assert "surrogate" in error["error"]["message"]


def test_renewing_says_which_units_are_still_held_so_a_taken_over_run_stops(tmp_path: Path) -> None:
    async def scenario() -> tuple[set[Key], set[Key]]:
        database = await open_database(database_url(tmp_path, None))
        try:
            rows = [
                {"batch_id": "b", "line": n, "custom_id": f"r{n}", "body": {}, "state": "pending", "attempts": 0}
                for n in (1, 2)
            ]
            async with database.begin() as connection:
                await connection.execute(insert(batches).values(**BATCH_ROW))
                await connection.execute(insert(batch_requests), rows)
            units = UnitClaims(database)
            claimed = await units.claim("gateway-a", 2, lease_seconds=30)
            assert len(claimed.units) == 2
            async with database.begin() as connection:  # gateway-a stalled; gateway-b took line 2 over
                await connection.execute(
                    update(batch_requests).where(batch_requests.c.line == 2).values(lease_owner="gateway-b")
                )
            return await units.renew("gateway-a", [("b", 1), ("b", 2)], 30), await units.renew("gateway-b", [], 30)
        finally:
            await database.dispose()

    kept, nothing = asyncio.run(scenario())
    assert kept == {("b", 1)} and nothing == set()


BATCH_ROW = {
    "id": "b",
    "owner": "",
    "endpoint": "/v1/chat/completions",
    "input_file_id": "file-x",
    "completion_window": "24h",
    "status": "in_progress",
    "created_at": 0,
    "expires_at": 2**40,
}


def test_an_sqlite_without_returning_is_refused_at_start_with_what_to_do() -> None:
    check_sqlite((3, 35, 0))
    with pytest.raises(RuntimeError, match=r"SQLite 3\.35\.0 or newer.*3\.31\.1.*--database-url"):
        check_sqlite((3, 31, 1))
