"""A batch output of gigabytes on ``--blob-store db``: written and downloaded with the gateway's memory bounded.

The job store (SQLite under a temporary data dir) is filled with one in-progress batch whose requests are all
answered — a huge batch the moment before it finishes — each answer ``--answer-kb`` of text, ``--gb`` in all.
Then ``ocr-gateway serve --engine fixed-latency --blob-store db`` starts on it: its worker writes the output file
(a page of rows at a time, into 1 MiB chunk rows) and the bench downloads it over HTTP (127.0.0.1), while the
gateway's RSS is sampled every 0.1 s. Printed: output size, the gateway's RSS before, its peak while writing and
while downloading, the growth over the start as a share of the output, and MB/s. A gateway that held the output
in memory (as before outputs streamed) grows by at least the output's size: a share of 1.0 or more.

    python -m bench.batch_output_memory --gb 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import insert

from gateway.jobstore.database import database_url, open_database
from gateway.jobstore.tables import batch_requests, batches
from gateway.jobstore.wire import output_line
from tests.servers import start_gateway, stop_gateway

BATCH_ID = "batch_bench0000000000000000"
ROWS_PER_INSERT = 100


def fill(data_dir: Path, total_bytes: int, answer_bytes: int) -> int:
    """One in-progress batch of answered requests, ``total_bytes`` of answers in all; how many requests. The rows
    go in first and the batch last, so the running gateway sees the batch only once it is whole."""
    requests = max(1, total_bytes // answer_bytes)
    text = ("The quick brown fox jumps over the lazy dog. " * (answer_bytes // 45 + 1))[:answer_bytes]

    def row(line: int) -> dict[str, Any]:
        body = {"id": f"chatcmpl-{line}", "object": "chat.completion", "choices": [{"message": {"content": text}}]}
        result = output_line(f"batch_req_{line}", f"req-{line:06d}", 200, body, f"chatcmpl-{line}")
        return {"batch_id": BATCH_ID, "line": line, "custom_id": f"req-{line:06d}", "body": None,
                "state": "completed", "result": result, "attempts": 1}  # fmt: skip

    async def run() -> None:
        engine = await open_database(database_url(data_dir, None))  # migrated already, by the gateway
        try:
            for start in range(1, requests + 1, ROWS_PER_INSERT):
                rows = [row(line) for line in range(start, min(start + ROWS_PER_INSERT, requests + 1))]
                async with engine.begin() as connection:
                    await connection.execute(insert(batch_requests), rows)
            now = int(time.time())
            async with engine.begin() as connection:
                await connection.execute(
                    insert(batches).values(
                        id=BATCH_ID,
                        owner="",
                        endpoint="/v1/chat/completions",
                        input_file_id="file-none",
                        completion_window="24h",
                        status="in_progress",
                        created_at=now,
                        expires_at=now + 86400,
                        in_progress_at=now,
                        requests_total=requests,
                        requests_completed=requests,
                    )  # fmt: skip
                )
        finally:
            await engine.dispose()

    asyncio.run(run())
    return requests


class RssSampler:
    """The peak resident memory of one process, sampled every 0.1 s in a thread, per named phase."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._phase = "start"
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, name: str) -> None:
        self._sample()  # the phase ending, and the one starting: each has a sample however short it is
        self._phase = name
        self._sample()

    def _sample(self) -> None:
        rss = self._process.memory_info().rss
        self.peaks[self._phase] = max(self.peaks.get(self._phase, 0), rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.1)


def measure(gb: float, answer_kb: int, folder: Path) -> dict[str, Any]:
    data_dir = folder / "data"
    args = ("--engine", "fixed-latency", "--blob-store", "db", "--data-dir", str(data_dir))
    process, root = start_gateway("fixed-latency", folder / "gateway.log", *args, served_name=None, timeout=180)
    try:
        with RssSampler(process.pid) as rss, httpx.Client(base_url=root, timeout=600) as client:
            time.sleep(2.0)  # settled: its workers polling an empty store
            rss.phase, started = "filling", time.monotonic()
            requests = fill(data_dir, int(gb * 2**30), answer_kb * 1024)
            filled = time.monotonic() - started
            rss.phase = "writing"
            writing = time.monotonic()
            while (batch := client.get(f"/v1/batches/{BATCH_ID}").json())["status"] != "completed":
                time.sleep(0.2)
            written = time.monotonic() - writing
            rss.phase, size, downloading = "downloading", 0, time.monotonic()
            with client.stream("GET", f"/v1/files/{batch['output_file_id']}/content") as response:
                response.raise_for_status()
                declared = int(response.headers["content-length"])
                lines = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            downloaded = time.monotonic() - downloading
            rss.phase = "end"
    finally:
        stop_gateway(process)
    assert size == declared and lines == requests, (size, declared, lines, requests)
    mb = size / 2**20
    start_rss = rss.peaks["start"]
    peak = max(rss.peaks["writing"], rss.peaks["downloading"])
    return {
        "requests": requests,
        "output_mb": round(mb, 1),
        "fill_s": round(filled, 1),
        "rss_start_mb": round(start_rss / 2**20, 1),
        "rss_peak_writing_mb": round(rss.peaks["writing"] / 2**20, 1),
        "rss_peak_downloading_mb": round(rss.peaks["downloading"] / 2**20, 1),
        "growth_share_of_output": round((peak - start_rss) / size, 4),
        "write_mb_s": round(mb / written, 1),
        "download_mb_s": round(mb / downloaded, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=2.0, help="size of the batch's answers, in GiB")
    parser.add_argument("--answer-kb", type=int, default=100, help="size of each answer, in KiB")
    parser.add_argument("--json", type=Path, help="also write the result here")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="batch-output-") as folder:
        result = measure(options.gb, options.answer_kb, Path(folder))
    print(
        f"batch output on --blob-store db: {result['requests']} requests, {result['output_mb']} MB; gateway RSS "
        f"{result['rss_start_mb']} MB at start, peak {result['rss_peak_writing_mb']} MB writing and "
        f"{result['rss_peak_downloading_mb']} MB downloading: growth {result['growth_share_of_output']:.2%} of the "
        f"output; written at {result['write_mb_s']} MB/s, downloaded at {result['download_mb_s']} MB/s"
    )
    if options.json:
        options.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
