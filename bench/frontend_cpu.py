"""Front-end efficiency: server CPU per request next to requests/s, gateway vs vLLM's own server, in alternating
rounds so the machine's noise shows as a spread rather than hiding in one number.

    python -m bench.frontend_cpu [--quick] [--kind screenshot|photo-12mp] [--concurrency 16] [--requests 256]
                                 [--rounds 2] [--max-tokens 64] [--follow-ups 8] [--image-budget tiny|real]
                                 [--profile DIR] [--json PATH]
                                 [--server SYSTEM=URL --server-pid SYSTEM=PID]

Both servers (``bench.compare``'s systems, tiny checkpoint, same engine arguments) start once and stay up; only
one is loaded at a time: gateway, vllm-server, gateway, vllm-server… Each round has a warm-up, then
``--requests`` streamed requests at ``--concurrency``, built before the clock starts. Server CPU per request is
the user+system time of the server's whole process tree (API server, engine core, workers) over the round,
divided by the requests. Printed: every round, each system's mean and min–max, the ratios gateway/vllm-server
over paired rounds (round k of each), the CPU split per process, and the follow-up turn's TTFT
(``bench.load``'s measurement). ``--profile DIR`` adds one round per system under py-spy (API process only) and
prints where its CPU goes (``bench.profile_split``). ``--server gateway=URL --server-pid gateway=PID`` measures
a server that is already running instead of starting one (its process id is needed: its CPU is what is measured).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.compare import HTTPClient, Running, add_server_options, http_system, running_servers
from bench.cpu_split import cpu_seconds
from bench.load import Sample, Sender, drive, run_plan
from bench.profile_split import print_split, split
from bench.workload import KINDS, MAX_TOKENS, ImageKind, Workload
from tests.tiny_checkpoint import build

SYSTEMS = ("gateway", "vllm-server")
PROFILE_RATE = 200  # py-spy samples per second
PHOTOS = 128


class PrebuiltWorkload(Workload):
    """``Workload`` whose data URLs are made before a round starts, so the client's work on them (a PNG
    rendered per screenshot) does not compete with the servers for the cores while they are measured."""

    def __init__(self, photo_dir: Path, photos: int) -> None:
        super().__init__(photo_dir, photos)
        self._ready: dict[tuple[str, int], str] = {}

    def prepare(self, kind: ImageKind, indices: range) -> None:
        for index in indices:
            data = base64.b64encode(self.image_bytes(kind, index)).decode()
            self._ready[kind.name, index] = f"data:{kind.mime};base64,{data}"

    def data_url(self, kind: ImageKind, index: int) -> str:
        ready = self._ready.pop((kind.name, index), None)
        return ready if ready is not None else super().data_url(kind, index)


@dataclass
class Server:
    """One running system and the rounds measured on it."""

    name: str
    process: psutil.Process
    base_url: str
    model: str
    log: Path | None  # None: a running server, whose log is its own
    max_tokens: int = MAX_TOKENS  # each answer's length
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @asynccontextmanager
    async def client(self, workload: Workload) -> AsyncIterator[HTTPClient]:
        """A client of its own for each round: no connection idles (and times out) while the other system runs."""
        client = HTTPClient(self.base_url, workload, self.model, self.max_tokens)
        try:
            yield client
        finally:
            await client.close()

    def cpu(self) -> dict[int, tuple[str, float]]:
        """CPU seconds so far of every process in the tree, by pid, with the process's role."""
        tree = {self.process.pid: "API server"}
        for child in self.process.children(recursive=True):
            tree[child.pid] = _role(child)
        times = {}
        for pid, role in tree.items():
            try:
                times[pid] = (role, cpu_seconds(psutil.Process(pid)))
            except psutil.NoSuchProcess:
                pass
        return times


def _role(process: psutil.Process) -> str:
    try:
        title = " ".join([process.name(), *process.cmdline()])
    except psutil.Error:
        return "other"
    if "EngineCore" in title:
        return "engine core"
    return "workers" if "Worker" in title or "worker" in title else "other"


def _sender(client: HTTPClient, kind: ImageKind, start: int) -> Sender:
    async def send(index: int) -> Sample:
        return (await client.ask(kind, start + index))[0]

    return send


async def measured_round(
    server: Server, workload: PrebuiltWorkload, kind: ImageKind, requests: int, concurrency: int, offset: int
) -> dict[str, Any]:
    """Warm-up, then ``requests`` requests: requests/s and CPU ms per request per process role."""
    warmup = min(requests, 2 * concurrency)
    workload.prepare(kind, range(offset + 900_000, offset + 900_000 + warmup))
    workload.prepare(kind, range(offset, offset + requests))
    async with server.client(workload) as client:
        await drive(_sender(client, kind, offset + 900_000), warmup, concurrency)
        before, client_before = server.cpu(), cpu_seconds(psutil.Process())
        samples, wall = await drive(_sender(client, kind, offset), requests, concurrency)
        after, client_after = server.cpu(), cpu_seconds(psutil.Process())
    split: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        used = seconds - before.get(pid, (role, 0.0))[1]
        split[role] = split.get(role, 0.0) + used / requests * 1000
    return {
        "requests": requests,
        "wall_s": round(wall, 3),
        "req_per_s": round(requests / wall, 3),
        "cpu_ms_per_request": round(sum(split.values()), 2),
        "split_ms": {role: round(ms, 2) for role, ms in sorted(split.items()) if ms >= 0.05},
        "client_ms_per_request": round((client_after - client_before) / requests * 1000, 2),
        "completion_tokens_mean": round(statistics.fmean(s.completion_tokens for s in samples), 1),
    }


def spread(values: list[float], digits: int = 2) -> str:
    """The mean and, in brackets, the range: ``1.02 (0.94–1.10)``."""
    return f"{statistics.fmean(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def report(servers: dict[str, Server], follow_ups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Prints the per-system summary, the paired ratios and the split; returns them for ``--json``."""
    summary: dict[str, Any] = {}
    for name, server in servers.items():
        rates = [r["req_per_s"] for r in server.rounds]
        cpus = [r["cpu_ms_per_request"] for r in server.rounds]
        roles = sorted({role for r in server.rounds for role in r["split_ms"]})
        split_ms = {role: statistics.fmean(r["split_ms"].get(role, 0.0) for r in server.rounds) for role in roles}
        client_ms = statistics.fmean(r["client_ms_per_request"] for r in server.rounds)
        summary[name] = {"req_per_s": rates, "cpu_ms_per_request": cpus, "split_ms": split_ms}
        print(f"{name:12s} req/s {spread(rates)}   server CPU ms/request {spread(cpus)}")
        parts = ", ".join(f"{role} {ms:.1f}" for role, ms in split_ms.items())
        print(f"{'':12s} split (mean ms CPU/request): {parts}; load generator {client_ms:.1f}")
    pairs = list(zip(servers["gateway"].rounds, servers["vllm-server"].rounds, strict=False))

    def paired(key: str, role: str | None = None) -> list[float]:
        def value(result: dict[str, Any]) -> float:
            return float(result[key] if role is None else result[key].get(role, 0.0))

        return [value(gateway) / value(vllm) for gateway, vllm in pairs]

    ratios = {
        "req_per_s": paired("req_per_s"),
        "cpu_ms_per_request": paired("cpu_ms_per_request"),
        "api_server_cpu_ms_per_request": paired("split_ms", "API server"),
    }
    print(f"gateway/vllm-server over {len(pairs)} paired rounds:")
    print(f"  requests/s ratio {spread(ratios['req_per_s'])}")
    print(f"  CPU/request ratio {spread(ratios['cpu_ms_per_request'])} (whole process tree)")
    print(f"  API-server CPU/request ratio {spread(ratios['api_server_cpu_ms_per_request'])} (front end alone)")
    for role in sorted({role for pair in pairs for result in pair for role in result["split_ms"]}):
        mine, theirs = (summary[name]["split_ms"].get(role, 0.0) for name in SYSTEMS)
        print(f"  {role:12s} {mine:6.1f} vs {theirs:6.1f} ms CPU/request")
    if follow_ups:
        print("follow-up turn (same image, second question) vs first turn, TTFT p50:")
        for name, result in follow_ups.items():
            print(
                f"  {name:12s} first {result['first_ttft_p50_ms']} ms, follow-up {result['follow_up_ttft_p50_ms']} ms"
                f" (ratio {result['ttft_ratio']}, prompt cache hits {result['follow_up_cache_hit_rate']})"
            )
        if len(follow_ups) == 2:
            g, v = (follow_ups[name]["follow_up_ttft_p50_ms"] for name in SYSTEMS)
            print(f"  follow-up TTFT gateway/vllm-server {g / v:.2f}")
    return {"summary": summary, "ratios": ratios, "follow_up": follow_ups}


async def profiled_round(
    server: Server, workload: PrebuiltWorkload, kind: ImageKind, requests: int, concurrency: int, out: Path
) -> dict[str, dict[str, Any]]:
    """One more round with py-spy sampling the API process (not its children), its raw stacks written to ``out``;
    returns each of its threads' CPU time over the round (thread id → OS name, CPU ms)."""
    workload.prepare(kind, range(800_000, 800_000 + 2 * concurrency))
    workload.prepare(kind, range(700_000, 700_000 + requests))
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    # --nonblocking: pausing the process to sample makes py-spy count some idle threads as busy.
    command = [py_spy, "record", "--pid", str(server.process.pid), "--rate", str(PROFILE_RATE), "--nonblocking"]
    command += ["--threads", "--format", "raw", "--output", str(out)]
    async with server.client(workload) as client:
        await drive(_sender(client, kind, 800_000), 2 * concurrency, concurrency)
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        await asyncio.sleep(1)  # py-spy attaches
        before = _thread_cpu(server.process)
        await drive(_sender(client, kind, 700_000), requests, concurrency)
        after = _thread_cpu(server.process)
    spy.send_signal(signal.SIGINT)
    await asyncio.to_thread(spy.wait, 60)
    return {
        tid: {"name": name, "cpu_ms": round((seconds - before.get(tid, ("", 0.0))[1]) * 1000, 3)}
        for tid, (name, seconds) in after.items()
    }


def _thread_cpu(process: psutil.Process) -> dict[str, tuple[str, float]]:
    """Thread id → (OS name, CPU seconds so far) for every thread of ``process``."""
    threads = {}
    for thread in process.threads():
        try:
            name = Path(f"/proc/{process.pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        threads[str(thread.id)] = (name, thread.user_time + thread.system_time)
    return threads


@dataclass(frozen=True)
class Options:
    kind: str
    concurrency: int
    requests: int
    rounds: int
    follow_ups: int
    max_tokens: int
    quick: bool
    profile: Path | None
    json_path: Path | None
    running: dict[str, Running]
    image_budget: str = "tiny"


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 requests, concurrency 2, eager engines")
    parser.add_argument("--kind", default="screenshot", choices=sorted(KINDS))
    parser.add_argument("--concurrency", type=int, default=None, help="default 16")
    parser.add_argument("--requests", type=int, default=None, help="per round; default 256 (photos: 64)")
    parser.add_argument("--rounds", type=int, default=None, help="per system, alternating; default 2 (0: profile only)")
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS, help=f"per answer; default {MAX_TOKENS}")
    parser.add_argument("--follow-ups", type=int, default=None, help="follow-up turns per system; default 8")
    parser.add_argument("--profile", type=Path, default=None, help="write py-spy raw stacks here and split them")
    parser.add_argument("--json", type=Path, default=None, dest="json_path", help="also write the results here")
    parser.add_argument(
        "--image-budget",
        default="tiny",
        choices=("tiny", "real"),
        help="the checkpoint's image budget: tiny (256×256, images shrunk) or HunyuanOCR's real one (2048×2048)",
    )
    add_server_options(parser)
    args = parser.parse_args()
    quick = args.quick
    running = running_servers(parser, args.server, args.server_pid, SYSTEMS)
    if any(server.pid is None for server in running.values()):
        parser.error("--server needs --server-pid: the server's CPU is what is measured")

    def pick(value: int | None, full: int, fast: int) -> int:
        return value if value is not None else (fast if quick else full)

    photo = args.kind == "photo-12mp"
    return Options(
        kind=args.kind,
        concurrency=pick(args.concurrency, 16, 2),
        requests=pick(args.requests, 64 if photo else 256, 2),
        rounds=pick(args.rounds, 2, 2),
        follow_ups=pick(args.follow_ups, 8, 1),
        max_tokens=args.max_tokens,
        quick=quick,
        profile=args.profile,
        json_path=args.json_path,
        running=running,
        image_budget=args.image_budget,
    )


@dataclass
class Bench:
    options: Options
    workload: PrebuiltWorkload
    servers: dict[str, Server]

    async def run(self) -> dict[str, Any]:
        options, kind = self.options, KINDS[self.options.kind]
        for number in range(1, options.rounds + 1):
            for name, server in self.servers.items():
                try:
                    result = await measured_round(
                        server, self.workload, kind, options.requests, options.concurrency, number * 10_000
                    )
                except Exception:
                    alive = server.process.is_running() and server.process.status() != psutil.STATUS_ZOMBIE
                    print(f"round {number} {name} failed (server alive: {alive}); its log ends:", flush=True)
                    print(
                        server.log.read_text()[-3000:] if server.log else "(a running server: see its own)", flush=True
                    )
                    raise
                server.rounds.append(result)
                print(f"round {number} {name:12s} {_round_line(result)}", flush=True)
        follow_ups = {}
        if options.follow_ups:
            plan = {"kinds": [], "cells": [], "warmup": 0, "follow_ups": options.follow_ups}
            for name, server in self.servers.items():
                async with server.client(self.workload) as client:
                    follow_ups[name] = (await run_plan(plan, client.ask))["follow_up"]
        results = report(self.servers, follow_ups) if options.rounds else {}
        if options.profile:
            results["profile"] = await self.profile(options.profile, kind)
        return results

    async def profile(self, directory: Path, kind: ImageKind) -> dict[str, Any]:
        directory.mkdir(parents=True, exist_ok=True)
        profiles = {}
        for name, server in self.servers.items():
            out = directory / f"{name}.raw.txt"
            options = self.options
            threads = await profiled_round(server, self.workload, kind, options.requests, options.concurrency, out)
            (directory / f"{name}.threads.json").write_text(json.dumps(threads, indent=1))
            profile = split(out.read_text(), options.requests, PROFILE_RATE, threads)
            print(f"\n{name}: API process, py-spy at {PROFILE_RATE} Hz over {options.requests} requests")
            print_split(profile)
            profiles[name] = profile.as_dict()
        return profiles


def _round_line(result: dict[str, Any]) -> str:
    parts = ", ".join(f"{role} {ms:.1f}" for role, ms in result["split_ms"].items())
    return (
        f"{result['requests']} req in {result['wall_s']:.1f} s = {result['req_per_s']:.2f} req/s; "
        f"server CPU {result['cpu_ms_per_request']:.1f} ms/request ({parts}); "
        f"load generator {result['client_ms_per_request']:.1f} ms/request"
    )


def _started(stack: ExitStack, model: Path, work: Path, options: Options) -> Iterator[Server]:
    """Each system, started (or the running one named by ``--server``), in ``SYSTEMS`` order."""
    for name in SYSTEMS:
        running, log = options.running.get(name), work / f"{name}.log"
        endpoint = stack.enter_context(http_system(name, model, log, options.quick, running))
        assert endpoint.pid is not None  # parse_options asks for a running server's pid
        process, log_path = psutil.Process(endpoint.pid), None if running else log
        yield Server(name, process, endpoint.base_url, endpoint.model, log_path, max_tokens=options.max_tokens)


def main() -> None:
    options = parse_options()
    started = time.monotonic()
    machine = f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
    print(
        f"frontend_cpu: {options.kind}, concurrency {options.concurrency}, {options.requests} requests × "
        f"{options.rounds} rounds per system, alternating; {machine}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ocr-frontend-") as scratch, ExitStack() as stack:
        work = Path(scratch)
        model = build(work / "tiny-hunyuanocr", "tiny" if options.image_budget == "tiny" else "tiny-real-budget")
        # As many distinct photos as bench.compare: repeated pixels would let the gateway's engine skip its
        # HF processor (vLLM's server hashes each request's distinct bytes, so it never could).
        workload = PrebuiltWorkload(work / "photos", PHOTOS)
        if options.kind == "photo-12mp":
            workload.make_photos()
        servers = {server.name: server for server in _started(stack, model, work, options)}
        print(f"[{time.monotonic() - started:.0f} s] both servers up", flush=True)
        results = asyncio.run(Bench(options, workload, servers).run())
        results["rounds"] = {name: server.rounds for name, server in servers.items()}
        results["options"] = {key: str(value) for key, value in asdict(options).items()}
    if options.json_path:
        options.json_path.write_text(json.dumps(results, indent=2))
    print(f"total {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
