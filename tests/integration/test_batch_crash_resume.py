"""A batch survives SIGKILL of the gateway: every request answered exactly once, nothing redone, nothing lost.

A real gateway (real engine, SQLite job store) is killed mid-batch and started again on the same data dir.
The database's own per-request attempt counter says how often each request reached the engine.
"""

from __future__ import annotations

import io
import json
import sqlite3
import time
from pathlib import Path

from openai import OpenAI

from tests.images import image_part, make_image
from tests.servers import TINY_ENGINE_ARGS, sigkill_and_watch_tree, start_gateway, stop_gateway

# A quarter done at the kill leaves requests in the engine (up to --batch-concurrency), some pending and never
# started, and most of the batch for the restarted gateway.
REQUESTS = 80
KILL_AFTER = 20  # completed requests before the kill
FAST_START = (*TINY_ENGINE_ARGS, "--kv-cache-gb", "0.5", "--enforce-eager", "--batch-concurrency", "4")


def _input_file() -> bytes:
    image = image_part(make_image(48, 48, seed=3))
    lines = [
        {
            "custom_id": f"page-{number:04d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "hunyuan-ocr-tiny",
                "max_tokens": 4,
                "temperature": 0,
                "messages": [{"role": "user", "content": [image, {"type": "text", "text": f"Page {number}."}]}],
            },
        }
        for number in range(REQUESTS)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _rows(database: Path, batch_id: str) -> dict[str, tuple[str, int, str | None]]:
    """custom_id → (state, attempts, output line id), read straight from the job database."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT custom_id, state, attempts, result FROM batch_requests WHERE batch_id = ?", (batch_id,)
        ).fetchall()
    return {
        custom_id: (state, attempts, json.loads(result)["id"] if result else None)
        for custom_id, state, attempts, result in rows
    }


def _client(root: str) -> OpenAI:
    return OpenAI(base_url=f"{root}/v1", api_key="unused", max_retries=0, timeout=60)


def test_sigkill_mid_batch_then_restart_answers_every_request_exactly_once(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    first, root = start_gateway(str(tiny_checkpoint), tmp_path / "first.log", *FAST_START, "--data-dir", str(data_dir))
    try:
        client = _client(root)
        uploaded = client.files.create(file=("pages.jsonl", io.BytesIO(_input_file())), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        deadline = time.monotonic() + 120
        while (counts := client.batches.retrieve(batch.id).request_counts) is None or counts.completed < KILL_AFTER:
            assert time.monotonic() < deadline, "the batch did not get going"
            time.sleep(0.05)
        killed = sigkill_and_watch_tree(first)
    finally:
        stop_gateway(first)
    # Its engine processes die with it, or they would hold the memory the restarted gateway needs.
    assert killed.survivors == [], f"outlived the gateway by {killed.seconds:.0f} s: {killed.survivors}"

    before = _rows(data_dir / "gateway.db", batch.id)
    done_before = {cid: row for cid, row in before.items() if row[0] == "completed"}
    in_flight = [cid for cid, row in before.items() if row[0] == "pending" and row[1] > 0]
    assert KILL_AFTER <= len(done_before) < REQUESTS, "the kill must land mid-batch"

    second, root = start_gateway(
        str(tiny_checkpoint), tmp_path / "second.log", *FAST_START, "--data-dir", str(data_dir)
    )
    try:
        client = _client(root)
        deadline = time.monotonic() + 180
        while (finished := client.batches.retrieve(batch.id)).status != "completed":
            assert finished.status in ("in_progress", "finalizing"), finished.status
            assert time.monotonic() < deadline, "the batch did not finish after the restart"
            time.sleep(0.2)
        output = [json.loads(line) for line in client.files.content(finished.output_file_id).text.splitlines()]
    finally:
        stop_gateway(second)

    after = _rows(data_dir / "gateway.db", batch.id)
    custom_ids = [line["custom_id"] for line in output]
    expected = {f"page-{number:04d}" for number in range(REQUESTS)}
    duplicates, lost = len(custom_ids) - len(set(custom_ids)), len(expected - set(custom_ids))
    redone = [
        cid for cid, (_, attempts, line_id) in done_before.items() if after[cid] != ("completed", attempts, line_id)
    ]
    print(
        f"\ncrash-resume: {REQUESTS} requests, {len(done_before)} done before SIGKILL, {len(in_flight)} in flight, "
        f"duplicates {duplicates}, lost {lost}, completed-then-redone {len(redone)}, "
        f"engine runs {sum(attempts for _, attempts, _ in after.values())}, "
        f"the killed gateway's last process gone after {killed.seconds:.1f} s"
    )
    assert (duplicates, lost, redone) == (0, 0, [])
    assert len(output) == REQUESTS and finished.error_file_id is None
    assert all(line["response"]["status_code"] == 200 for line in output)
    assert finished.request_counts.completed == REQUESTS
    # Only the requests in the engine at the moment of the kill ran twice.
    assert sum(attempts for _, attempts, _ in after.values()) == REQUESTS + len(in_flight)
    assert all(after[cid][1] == 2 for cid in in_flight)
