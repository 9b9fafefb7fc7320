"""Three gateways on one PostgreSQL behind HAProxy: a batch spreads over all of them and survives one's SIGKILL.

Real parts only, on 127.0.0.1: Debian's PostgreSQL, three ``ocr-gateway serve --engine fixed-latency`` sharing
one data dir, Debian's ``haproxy`` (round-robin, ``/health/ready`` checked every second), and the official
``openai`` client talking to HAProxy alone. Each gateway's own ``/metrics`` says what its engine ran; the job
database's per-request attempt counter says how often each request reached an engine, as in the crash test.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image

from tests import cluster
from tests.postgres import postgres_cluster, server_binaries
from tests.servers import port_is_free, sigkill_and_watch_tree

REQUESTS = 3000
# 32 requests of 0.5 s at once: one gateway's ceiling is 64 requests/s, so the batch takes ~50 s on one.
ENGINE = ("--fixed-latency-ms", "500", "--batch-concurrency", "32")
# One page in the engine at a time: a 16-page document takes ~8 s, long enough to be killed in the middle.
TASK_PAGES = 16
GATEWAY_ARGS = (*ENGINE, "--max-running-requests", "1")
BATCH_TIMEOUT = 240  # seconds; a lease lapses after 30


def _query(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(url)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def _rows(url: str, batch_id: str) -> dict[str, tuple[str, int, str | None]]:
    """custom_id → (state, attempts, output line id), straight from the job database."""
    sql = "SELECT custom_id, state, attempts, result::json->>'id' AS line FROM batch_requests WHERE batch_id = $1"
    return {row["custom_id"]: (row["state"], row["attempts"], row["line"]) for row in _query(url, sql, batch_id)}


def _pdf(pages: int) -> bytes:
    import io

    images = [Image.new("RGB", (200, 260), "white") for _ in range(pages)]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:])
    return out.getvalue()


def _submit_tasks(balancer: str, members: list[cluster.Member]) -> dict[str, str]:
    """One docling-style task per gateway through HAProxy (round-robin): task id → the gateway that accepted it."""
    accepted: dict[str, str] = {}
    route = "/v1/convert/file/async"
    for _ in members:
        before = {member.name: member.requests_to(route) for member in members}
        files = {"files": ("scan.pdf", _pdf(TASK_PAGES), "application/pdf")}
        response = httpx.post(f"{balancer}{route}", files=files, data={"to_formats": "md"}, timeout=30)
        assert response.status_code == 200, response.text
        accepted[response.json()["task_id"]] = _taker(members, route, before)
    return accepted


def _taker(members: list[cluster.Member], route: str, before: dict[str, int]) -> str:
    # A request counts in /metrics once its response is sent: give the count a moment to catch up.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for member in members:
            if member.requests_to(route) > before[member.name]:
                return member.name
        time.sleep(0.05)
    raise AssertionError(f"no gateway counted the request to {route}")


def _wait_for_task_lease(url: str, member: cluster.Member, timeout: float = 20) -> str:
    """The task ``member`` is converting (its lease names its pid), once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sql = "SELECT id, lease_owner FROM convert_tasks WHERE status = 'started'"
        for row in _query(url, sql):
            if f":{member.process.pid}:" in (row["lease_owner"] or ""):
                return str(row["id"])
        time.sleep(0.1)
    raise AssertionError(f"{member.name} never started a task")


def _poll_through_outage(
    openai: Any, url: str, batch_id: str, in_flight: set[str], killed_at: float
) -> tuple[Any, int, float]:
    """Polls the batch through HAProxy until it is done; every poll must answer. Meanwhile watches the requests
    that were in an engine at the kill: (batch, polls, seconds from the kill until the last of them completed)."""
    start, polls, takeover = time.monotonic(), 0, 0.0
    sql = "SELECT count(*) FROM batch_requests WHERE batch_id = $1 AND custom_id = ANY($2) AND state <> 'completed'"
    while True:
        batch = openai.batches.retrieve(batch_id)
        polls += 1
        if in_flight and _query(url, sql, batch_id, sorted(in_flight))[0][0] == 0:
            in_flight, takeover = set(), time.monotonic() - killed_at
        if batch.status == "completed":
            return batch, polls, takeover
        assert batch.status in ("in_progress", "finalizing"), batch.status
        assert time.monotonic() - start < BATCH_TIMEOUT, f"the batch did not finish: {batch.request_counts}"
        time.sleep(0.2)


def test_three_gateways_share_a_batch_and_survive_a_sigkill(tmp_path: Path) -> None:
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package 'postgresql')")
    with postgres_cluster(binaries) as postgres:
        url = postgres.create_database("scale_out")
        with cluster.cluster(3, tmp_path, url, *GATEWAY_ARGS) as (members, balancer):
            _run(url, members, balancer)


def _run(url: str, members: list[cluster.Member], balancer: str) -> None:
    openai = cluster.client(balancer)
    started = time.monotonic()
    batch_id = cluster.submit_batch(openai, REQUESTS)
    while (counts := openai.batches.retrieve(batch_id).request_counts) is None or counts.completed < REQUESTS // 5:
        assert time.monotonic() - started < BATCH_TIMEOUT, "the batch did not get going"
        time.sleep(0.1)

    # The victim: the gateway that ran most of the batch so far (with one lease per batch, the one running it).
    runs = {member.name: member.engine_runs("none") for member in members}
    victim = max(members, key=lambda member: runs[member.name])
    tasks = _submit_tasks(balancer, members)
    assert victim.name in tasks.values(), f"HAProxy did not send a task to {victim.name}: {tasks}"
    held = _wait_for_task_lease(url, victim)
    killed = sigkill_and_watch_tree(victim.process)
    killed_at = time.monotonic()
    before = _rows(url, batch_id)
    in_flight = {cid for cid, (state, attempts, _) in before.items() if state != "completed" and attempts > 0}
    assert killed.survivors == [], f"outlived the gateway: {killed.survivors}"
    assert port_is_free(int(victim.root_url.rsplit(":", 1)[1])), "the killed gateway's port is still held"

    batch, polls, takeover = _poll_through_outage(openai, url, batch_id, in_flight, killed_at)
    finished_after = time.monotonic() - started
    output = cluster.output_lines(openai, batch_id)
    task_results = {task_id: _fetch_task(balancer, task_id) for task_id in tasks}
    survivors = [member for member in members if member is not victim]
    final_runs = {**runs, **{member.name: member.engine_runs("none") for member in survivors}}

    after = _rows(url, batch_id)
    done_before = {cid: row for cid, row in before.items() if row[0] == "completed"}
    custom_ids = [str(line["custom_id"]) for line in output]
    expected = {f"req-{number:05d}" for number in range(REQUESTS)}
    duplicates, lost = len(custom_ids) - len(set(custom_ids)), len(expected - set(custom_ids))
    redone = [cid for cid, row in done_before.items() if after[cid] != row]
    attempts = sum(row[1] for row in after.values())
    task_attempts = {row["id"]: row["attempts"] for row in _query(url, "SELECT id, attempts FROM convert_tasks")}
    print(
        f"\nscale-out: {REQUESTS} requests on 3 gateways, done in {finished_after:.1f} s; SIGKILL of {victim.name} "
        f"at {killed_at - started:.1f} s with {len(done_before)} done and {len(in_flight)} in flight; those "
        f"finished {takeover:.1f} s after the kill; duplicates {duplicates}, lost {lost}, completed-then-redone "
        f"{len(redone)}, engine runs (database) {attempts}; batch runs per gateway before the kill {runs}, at the "
        f"end {final_runs}; {polls} polls through HAProxy, all answered; task held by {victim.name}: attempts "
        f"{task_attempts[held]}"
    )
    assert (duplicates, lost, redone) == (0, 0, [])
    assert len(output) == REQUESTS and batch.error_file_id is None and batch.request_counts.completed == REQUESTS
    assert all(line["response"]["status_code"] == 200 for line in output)  # type: ignore[index]
    # Only requests in an engine at the moment of the kill ran twice.
    assert attempts - REQUESTS == sum(1 for row in after.values() if row[1] > 1)
    assert all(after[cid][1] == 1 for cid in expected - in_flight)
    # The task the victim was converting was taken over and finished; every task is readable through HAProxy.
    assert task_attempts[held] == 2
    assert all(status == "success" and "Text " in markdown for status, markdown in task_results.values())
    # Every gateway served part of the batch (read from each one's own /metrics).
    assert all(count > 0 for count in final_runs.values()), final_runs


def _fetch_task(balancer: str, task_id: str) -> tuple[str, str]:
    """Polls a docling-style task through HAProxy until it is finished, then fetches its result there."""
    deadline = time.monotonic() + BATCH_TIMEOUT
    while True:
        status = httpx.get(f"{balancer}/v1/status/poll/{task_id}", timeout=30)
        assert status.status_code == 200, status.text
        if status.json()["task_status"] in ("success", "partial_success", "failure"):
            break
        assert time.monotonic() < deadline, status.json()
        time.sleep(0.2)
    result = httpx.get(f"{balancer}/v1/result/{task_id}", timeout=30)
    assert result.status_code == 200, result.text
    return result.json()["status"], result.json()["document"]["md_content"]
