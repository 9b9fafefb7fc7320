"""API processes: would N of them (vLLM's ``--api-server-count``) serve more requests/s than one?

Every gateway runs ``--engine fixed-latency`` (a sleep per request, no model): the engine's CPU is out of the
picture, as on a GPU box, and what is left is what an API process does per request — HTTP, JSON, the image's
base64 and decode, the stream. ``--processes 1,2`` starts that many gateways once; each round loads 1 or 2 of them
(the client spreads requests round-robin, as a load balancer or a shared port would), the counts alternating
(1, 2, then 2, 1 …). Printed per count: requests/s and CPU ms per request (the gateways' and the load
generator's), with their spread; then the speed-up of each count over one process, per pair of rounds.

    python -m bench.api_processes [--processes 1,2] [--rounds 2] [--requests 512] [--concurrency 32]
                                  [--latency-ms 50] [--json PATH]

``tests/bench/test_api_processes_bench.py`` runs a small version (it proves the bench runs, it measures nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench.compare import HTTPClient
from bench.cpu_split import cpu_seconds
from bench.frontend_cpu import PrebuiltWorkload, spread
from bench.load import Sample, drive
from bench.scale_out import order
from bench.workload import SCREENSHOT
from tests.servers import start_gateway, stop_gateway

MODEL = "fixed-latency"  # the name the fixed-latency engine serves under
Gateway = tuple[subprocess.Popen[bytes], str]  # a started gateway and its root URL


async def measured_round(
    gateways: list[Gateway], workload: PrebuiltWorkload, args: argparse.Namespace, offset: int
) -> dict[str, Any]:
    """Warm-up, then ``--requests`` screenshots spread round-robin over ``gateways``: requests/s and CPU
    ms/request."""
    clients = [HTTPClient(f"{url}/v1", workload, MODEL, max_tokens=64) for _, url in gateways]
    processes = [psutil.Process(process.pid) for process, _ in gateways]
    warmup = 2 * args.concurrency
    workload.prepare(SCREENSHOT, range(offset, offset + warmup + args.requests))

    async def send(index: int) -> Sample:
        return (await clients[index % len(clients)].ask(SCREENSHOT, offset + index))[0]

    try:
        await drive(send, warmup, args.concurrency)
        before, client_before = [cpu_seconds(p) for p in processes], cpu_seconds(psutil.Process())
        samples, wall = await drive(lambda index: send(warmup + index), args.requests, args.concurrency)
        after, client_after = [cpu_seconds(p) for p in processes], cpu_seconds(psutil.Process())
    finally:
        await asyncio.gather(*(client.close() for client in clients))
    per_request = 1000 / len(samples)
    per_process = [(a - b) * per_request for a, b in zip(after, before, strict=True)]
    return {
        "processes": len(gateways),
        "req_per_s": len(samples) / wall,
        "server_cpu_ms_per_request": sum(per_process),
        "per_process_cpu_ms": per_process,
        "client_ms_per_request": (client_after - client_before) * per_request,
    }


def report(rounds: list[dict[str, Any]], counts: list[int]) -> dict[str, Any]:
    by_count = {n: [r for r in rounds if r["processes"] == n] for n in counts}
    summary: dict[str, Any] = {}
    for n, results in by_count.items():
        rates = [r["req_per_s"] for r in results]
        cpu = [r["server_cpu_ms_per_request"] for r in results]
        client = [r["client_ms_per_request"] for r in results]
        print(f"{n} process(es): req/s {spread(rates)}   gateways' CPU ms/request {spread(cpu)}   "
              f"load generator {spread(client)}")  # fmt: skip
        summary[str(n)] = {"req_per_s": rates, "server_cpu_ms_per_request": cpu, "client_ms_per_request": client}
    one = [r["req_per_s"] for r in by_count[counts[0]]]
    for n in counts[1:]:
        ratios = [r["req_per_s"] / base for r, base in zip(by_count[n], one, strict=True)]
        print(f"speed-up of {n} over {counts[0]} (paired rounds): {spread(ratios)}")
        summary[f"speed_up_{n}"] = ratios
    return summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", default="1,2", help="comma-separated counts of API processes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=512, help="per round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=int, default=50, help="the fixed-latency engine's sleep per request")
    parser.add_argument("--json", type=Path, default=None, dest="json_path")
    args = parser.parse_args(argv)
    args.counts = sorted({int(n) for n in args.processes.split(",")})
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(f"api_processes: {args.counts} gateways on the fixed-latency engine ({args.latency_ms} ms), "
          f"{args.requests} screenshots per round at concurrency {args.concurrency}, {args.rounds} rounds; "
          f"{psutil.cpu_count()} cores", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="ocr-api-processes-") as scratch:
        folder = Path(scratch)
        gateways: list[Gateway] = []
        workload = PrebuiltWorkload(folder / "photos", 1)
        try:
            for index in range(max(args.counts)):
                flags = (
                    "--engine",
                    "fixed-latency",
                    "--fixed-latency-ms",
                    str(args.latency_ms),
                    "--log-level",
                    "warning",
                )
                gateways.append(start_gateway(MODEL, folder / f"gateway-{index}.log", *flags, served_name=None))
            rounds, offsets = [], itertools.count(step=100_000)
            for round_number in range(args.rounds):
                for n in order(args.counts, round_number):
                    result = asyncio.run(measured_round(gateways[:n], workload, args, next(offsets)))
                    print(f"round {round_number + 1}, {n} process(es): {result['req_per_s']:.1f} req/s, gateways' "
                          f"CPU {result['server_cpu_ms_per_request']:.1f} ms/request "
                          f"({', '.join(f'{ms:.1f}' for ms in result['per_process_cpu_ms'])}), "
                          f"load generator {result['client_ms_per_request']:.1f}", flush=True)  # fmt: skip
                    rounds.append(result)
        finally:
            for process, _ in gateways:
                stop_gateway(process)
    summary = report(rounds, args.counts)
    if args.json_path:
        args.json_path.write_text(json.dumps({"rounds": rounds, "summary": summary}, indent=2))
    print(f"total {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
