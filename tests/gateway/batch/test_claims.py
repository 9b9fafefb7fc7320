"""Batch requests claimed in small units (``gateway/jobstore/claims.py``): fair shares, the per-key limit on queued
work, and the worker's metrics — on SQLite, the embedded job store of one gateway."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from gateway.jobstore.claims import Runnable, UnitClaims, share
from gateway.jobstore.database import database_url, open_database
from gateway.jobstore.tables import batch_requests, batches
from tests.fakes import FakeEngine
from tests.gateway.batch.conftest import MakeClient, create_batch, jsonl, request_line, upload, wait_for
from tests.gateway.batch.test_batches_api import GatedEngine
from tests.gateway.conftest import die

DONE = ("completed", "failed", "cancelled", "expired")
ALICE, BOB = {"Authorization": "Bearer alice-key"}, {"Authorization": "Bearer bob-key"}


def test_share_gives_each_key_an_equal_part_whatever_its_batches_size() -> None:
    runnable = [Runnable("a1", "alice"), Runnable("a2", "alice"), Runnable("b1", "bob")]
    assert share(runnable, {}, 4) == {"a1": 1, "b1": 2, "a2": 1}


def test_share_fills_the_key_with_the_fewest_running_first() -> None:
    runnable = [Runnable("big", "alice"), Runnable("small", "bob")]
    assert share(runnable, {"big": 8}, 3) == {"small": 3}
    assert share(runnable, {"big": 2, "small": 1}, 3) == {"small": 2, "big": 1}


def test_share_of_nothing_runnable_is_empty() -> None:
    assert share([], {}, 5) == {}


def _post_batch(client: TestClient, lines: int, prefix: str, headers: dict[str, str]) -> httpx.Response:
    content = "\n".join(request_line(f"{prefix}-{n}") for n in range(lines)).encode()
    file_id = client.post(
        "/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"}, headers=headers
    ).json()["id"]
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    return client.post("/v1/batches", json=body, headers=headers)


def test_a_small_batch_from_another_key_finishes_long_before_a_huge_one_submitted_first(
    make_client: MakeClient,
) -> None:
    client = make_client(FakeEngine(delay=0.02), api_keys=("alice-key", "bob-key"), batch={"batch_concurrency": 2})
    big = _post_batch(client, 300, "big", ALICE).json()
    deadline = time.monotonic() + 30
    while client.get(f"/v1/batches/{big['id']}", headers=ALICE).json()["request_counts"]["completed"] < 10:
        assert time.monotonic() < deadline, "the big batch did not get going"
        time.sleep(0.02)
    small = _post_batch(client, 6, "small", BOB).json()
    while (done := client.get(f"/v1/batches/{small['id']}", headers=BOB).json())["status"] not in DONE:
        assert time.monotonic() < deadline, "the small batch did not finish"
        time.sleep(0.02)
    big_then = client.get(f"/v1/batches/{big['id']}", headers=ALICE).json()
    assert done["status"] == "completed" and done["request_counts"]["completed"] == 6
    # Alone, the small batch would wait for all 300 of the big one; shared fairly it needs ~6 slots' turns.
    assert big_then["status"] == "in_progress" and big_then["request_counts"]["completed"] < 150


def test_creating_a_batch_past_the_keys_queued_limit_is_a_429(make_client: MakeClient) -> None:
    client = make_client(
        GatedEngine(),  # nothing finishes: what is queued stays queued
        api_keys=("alice-key", "bob-key"),
        batch={"max_queued_batch_requests_per_key": 5},
    )
    assert _post_batch(client, 3, "first", ALICE).status_code == 200
    refused = _post_batch(client, 3, "second", ALICE)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "rate_limit_error",
        "rate_limit_exceeded",
        "input_file_id",
    )
    assert "6" in error["message"] and "5" in error["message"]
    assert _post_batch(client, 2, "fits", ALICE).status_code == 200  # 5 exactly is allowed
    assert _post_batch(client, 3, "other-key", BOB).status_code == 200  # the limit is per key


def test_metrics_count_the_units_this_gateway_claimed(make_client: MakeClient) -> None:
    client = make_client()
    batch = wait_for(
        client,
        create_batch(client, upload(client, "\n".join(request_line(f"r{n}") for n in range(7)))["id"])["id"],
        DONE,
    )
    assert batch["status"] == "completed"
    text = client.get("/metrics").text
    assert re.search(r"^ocr_gateway_batch_units_claimed_total 7\.0$", text, re.M)
    assert re.search(r"^ocr_gateway_batch_lease_takeovers_total 0\.0$", text, re.M)
    assert re.search(r"^ocr_gateway_batch_queue_depth ", text, re.M)


def test_a_gateway_that_died_holding_units_resumes_them_on_restart_with_sqlite(make_client: MakeClient) -> None:
    first = make_client(GatedEngine(), batch={"batch_concurrency": 3})
    batch = create_batch(first, upload(first, "\n".join(request_line(f"r{n}") for n in range(8)))["id"])
    wait_for(first, batch["id"], ("in_progress",))
    time.sleep(0.3)  # three units claimed and held in the engine
    die(first)
    second = make_client()  # the same data dir: the restart releases the dead life's leases at once
    finished = wait_for(second, batch["id"], DONE, timeout=15)
    assert finished["status"] == "completed"
    assert sorted(line["custom_id"] for line in jsonl(second, finished["output_file_id"])) == sorted(
        f"r{n}" for n in range(8)
    )


def test_a_second_gateway_on_the_same_sqlite_file_is_refused_at_start(make_client: MakeClient) -> None:
    first = make_client()
    with pytest.raises(RuntimeError, match="Another gateway is running on the job store"):
        make_client()
    assert first.get("/v1/batches").status_code == 200  # the first one serves on
    die(first)
    second = make_client()  # its lock gone with it, the file is free again
    assert second.get("/v1/batches").status_code == 200


def test_a_key_with_hundreds_of_batches_hides_no_other_keys_batch(tmp_path: Path) -> None:
    """A claim looks at each key's oldest RUNNABLE_PER_OWNER running batches: 600 batches of one key, created first,
    do not keep another key's batch out of the claim (a window over the oldest batches of all keys did)."""

    async def run() -> set[str]:
        database = await open_database(database_url(tmp_path, None))
        try:
            now = int(time.time())
            owners = ["busy"] * 600 + ["other"]
            async with database.begin() as connection:
                for number, owner in enumerate(owners):
                    batch_id = f"batch_{number:04d}"
                    await connection.execute(
                        insert(batches).values(
                            id=batch_id,
                            owner=owner,
                            endpoint="/v1/chat/completions",
                            input_file_id="file-x",
                            completion_window="24h",
                            status="in_progress",
                            created_at=now,
                            expires_at=now + 3600,
                        )
                    )
                    pending = {"batch_id": batch_id, "line": 1, "custom_id": "r", "state": "pending"}
                    await connection.execute(insert(batch_requests).values(**pending))
            claimed = await UnitClaims(database).claim("a-gateway", 2, 30)
            return {unit.batch_id for unit in claimed.units}
        finally:
            await database.dispose()

    claimed = asyncio.run(run())
    assert "batch_0600" in claimed and len(claimed) == 2  # the other key's batch, and one of the busy key's
