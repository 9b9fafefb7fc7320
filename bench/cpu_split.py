"""Where the CPU goes: CPU-seconds per request in each process of a system, and in the load generator.

    python -m bench.cpu_split [--systems gateway,vllm-server] [--kind screenshot] [--concurrency 16]
                              [--requests 96]

On a machine with few cores, every process competes for the same cores: a system is only faster than another if
it spends less CPU per request in total. Uses ``bench.compare``'s systems, client and requests (tiny checkpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

from bench.compare import HTTPClient, http_system
from bench.load import Sample, drive
from bench.workload import KINDS, Workload
from tests.tiny_checkpoint import build


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(system: str, model: Path, work: Path, kind: str, concurrency: int, requests: int) -> dict[str, float]:
    workload = Workload(work / "photos", 4)
    workload.make_photos()
    with http_system(system, model, work / f"{system}.log", quick=False) as endpoint:
        assert endpoint.pid is not None  # a system started here
        root = psutil.Process(endpoint.pid)
        me = psutil.Process(os.getpid())

        def snapshot() -> dict[int, float]:
            return {p.pid: cpu_seconds(p) for p in [root, *root.children(recursive=True)]} | {0: cpu_seconds(me)}

        async def run() -> tuple[dict[int, float], dict[int, float]]:
            client = HTTPClient(endpoint.base_url, workload)

            def sender(offset: int) -> Callable[[int], Awaitable[Sample]]:
                async def send(index: int) -> Sample:
                    return (await client.ask(KINDS[kind], offset + index))[0]

                return send

            try:
                await drive(sender(50_000), 16, concurrency)  # warm-up
                before = snapshot()
                await drive(sender(0), requests, concurrency)
                return before, snapshot()
            finally:
                await client.close()

        before, after = asyncio.run(run())
        tree = [root, *root.children(recursive=True)]
        names = {p.pid: " ".join(p.cmdline()[1:4]).strip()[:48] or f"{p.name()} (engine core)" for p in tree}
        names[0] = "load generator (client)"
        return {names[pid]: (after[pid] - before[pid]) / requests * 1000 for pid in after if after[pid] > before[pid]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", default="gateway,vllm-server")
    parser.add_argument("--kind", default="screenshot", choices=sorted(KINDS))
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=96)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocr-cpu-") as scratch:
        work = Path(scratch)
        model = build(work / "tiny-hunyuanocr")
        for system in options.systems.split(","):
            split = measure(system, model, work, options.kind, options.concurrency, options.requests)
            print(f"{system}: CPU ms per request ({options.kind}, concurrency {options.concurrency})")
            for name, ms in sorted(split.items(), key=lambda item: -item[1]):
                print(f"  {ms:7.1f}  {name}")
            print(f"  {sum(split.values()):7.1f}  total")


if __name__ == "__main__":
    main()
