"""The job store when the world misbehaves: a gateway whose clock runs ahead, and PostgreSQL restarted mid-batch.

Real parts only, on 127.0.0.1: Debian's PostgreSQL (``tests/postgres.py``), ``ocr-gateway serve --engine
fixed-latency`` processes sharing it, Debian's libfaketime (``LD_PRELOAD``) shifting one gateway's clock, and the
official ``openai`` client. Leases are set and compared on the database's clock, so a gateway's own clock decides
nothing; an answer waits for a database that went away instead of being lost, and the API says 503 meanwhile.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from tests import cluster
from tests.integration.test_scale_out import _rows
from tests.postgres import Cluster
from tests.servers import start_gateway, stop_gateway

pytestmark = pytest.mark.integration

SKEW = "+40s"  # past the 30 s lease: a gateway on its own clock sees every other gateway's lease as lapsed
TIMEOUT = 240  # seconds for a batch to finish


@contextmanager
def gateways(folder: Path, url: str, envs: list[dict[str, str]], *args: str) -> Iterator[list[cluster.Member]]:
    """One fixed-latency gateway per environment (``{}``: this one's), on database ``url`` and one data dir; each
    process gone when the block ends."""
    common = ("--engine", "fixed-latency", "--database-url", url, "--data-dir", str(folder / "shared-data"), *args)

    def start(index: int) -> cluster.Member:
        log = folder / f"gateway-{index}.log"
        process, root = start_gateway(cluster.MODEL, log, *common, served_name=None, timeout=180, env=envs[index])
        return cluster.Member(f"g{index}", process, root, log)

    members: list[cluster.Member] = []
    with ExitStack() as stack, ThreadPoolExecutor(max_workers=len(envs)) as pool:
        for future in [pool.submit(start, index) for index in range(len(envs))]:
            members.append(member := future.result())
            stack.callback(stop_gateway, member.process)
        yield members
    assert all(member.process.poll() is not None for member in members), "a gateway outlived its test"


def takeovers(member: cluster.Member) -> int:
    text = httpx.get(f"{member.root_url}/metrics", timeout=10).text
    line = next(line for line in text.splitlines() if line.startswith("ocr_gateway_batch_lease_takeovers_total "))
    return int(float(line.split()[1]))


def wait_until_done(openai: cluster.OpenAI, batch_id: str) -> cluster.OpenAI:
    deadline = time.monotonic() + TIMEOUT
    while (batch := openai.batches.retrieve(batch_id)).status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.5)
    return batch


def test_a_gateway_whose_clock_runs_40_s_ahead_takes_no_unit_over(postgres: Cluster, tmp_path: Path) -> None:
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")
    if not found:
        pytest.skip("libfaketime is not installed (Debian package 'faketime')")
    requests = 300
    url = postgres.create_database("clock_skew")
    args = ("--fixed-latency-ms", "300", "--batch-concurrency", "8")
    with gateways(tmp_path, url, [{}, {"LD_PRELOAD": found[0], "FAKETIME": SKEW}], *args) as members:
        dates = [parsedate_to_datetime(httpx.get(f"{m.root_url}/health", timeout=10).headers["date"]) for m in members]
        clock = dates[1]
        assert 35 <= (dates[1] - dates[0]).total_seconds() <= 45, dates  # the second one's clock really is ahead
        openai = cluster.client(members[0].root_url)
        batch = wait_until_done(openai, cluster.submit_batch(openai, requests))
        output = cluster.output_lines(openai, batch.id)
        runs = {member.name: member.engine_runs("none") for member in members}
        taken = {member.name: takeovers(member) for member in members}
    attempts = sorted({row[1] for row in _rows(url, batch.id).values()})
    print(f"\nclock skew {SKEW} (its Date: {clock}): engine runs {runs}, takeovers {taken}, attempts {attempts}")
    assert batch.status == "completed" and batch.request_counts.completed == requests
    assert sorted(str(line["custom_id"]) for line in output) == [f"req-{n:05d}" for n in range(requests)]
    assert sum(runs.values()) == requests and all(runs.values()), runs  # each run once, by both gateways
    assert taken == {"g0": 0, "g1": 0} and attempts == [1]


def test_postgresql_restarted_mid_batch_loses_and_repeats_no_answer(postgres: Cluster, tmp_path: Path) -> None:
    requests, outage = 1000, 8.0
    url = postgres.create_database("restarted")
    args = ("--fixed-latency-ms", "500", "--batch-concurrency", "8")
    with gateways(tmp_path, url, [{}, {}], *args) as members:
        openai = cluster.client(members[0].root_url)
        batch_id = cluster.submit_batch(openai, requests)
        deadline = time.monotonic() + TIMEOUT
        while (counts := openai.batches.retrieve(batch_id).request_counts) is None or counts.completed < 200:
            assert time.monotonic() < deadline, "the batch did not get going"
            time.sleep(0.2)
        postgres.stop()
        stopped = time.monotonic()
        chats, polls = [], []
        while time.monotonic() - stopped < outage:
            for member in members:
                started = time.monotonic()
                chat = httpx.post(
                    f"{member.root_url}/v1/chat/completions",
                    json={"model": cluster.MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "Hi"}]},
                    timeout=30,
                )
                chats.append((chat.status_code, time.monotonic() - started))
                started = time.monotonic()
                poll = httpx.get(f"{member.root_url}/v1/batches/{batch_id}", timeout=30)
                polls.append((poll.status_code, poll.headers.get("retry-after"), time.monotonic() - started))
            time.sleep(0.5)
        postgres.start()
        batch = wait_until_done(openai, batch_id)
        output = cluster.output_lines(openai, batch.id)
        runs = sum(member.engine_runs("none") for member in members) - len(chats)  # the batch's own runs
    attempts = sorted({row[1] for row in _rows(url, batch_id).values()})
    custom_ids = [str(line["custom_id"]) for line in output]
    print(
        f"\nPostgreSQL stopped {outage:.0f} s after {counts.completed} of {requests} answers: chat during the outage "
        f"{sorted({status for status, _ in chats})} (slowest {max(s for _, s in chats):.2f} s), batch polls "
        f"{sorted({(status, retry) for status, retry, _ in polls})} (slowest {max(s for *_, s in polls):.2f} s); "
        f"after: {batch.status}, {len(custom_ids)} lines, {len(set(custom_ids))} distinct, batch runs {runs}, "
        f"attempts {attempts}"
    )
    assert all(status == 200 for status, _ in chats)  # chat needs no database
    assert all(status == 503 and retry for status, retry, _ in polls)  # a clear "try again", never a 500
    assert max(seconds for *_, seconds in polls) < 10 and max(seconds for _, seconds in chats) < 10  # no hang
    assert batch.status == "completed" and batch.error_file_id is None and batch.request_counts.completed == requests
    assert sorted(custom_ids) == [f"req-{n:05d}" for n in range(requests)]  # each answered once
    assert all(line["response"]["status_code"] == 200 for line in output)  # type: ignore[index]
    assert runs == requests and attempts == [1]  # answers waited for the database: none was run again
