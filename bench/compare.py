"""Side by side, in one run: our gateway vs vLLM's own OpenAI server vs AsyncLLM driven directly vs our gateway
on the transformers engine — same machine, same checkpoint, same requests, same load generator.

    python -m bench.compare [--quick] [--checkpoints tiny,medium] [--systems gateway,vllm-server,direct,transformers]
                            [--server SYSTEM=URL [--server-pid SYSTEM=PID]] [--out artifacts/bench]

Systems start one after another. For each checkpoint, image kind (1280×800 screenshot PNG, 12 MP photo JPEG)
and concurrency it reports requests/s, output tokens/s, TTFT and latency p50/p95 and each system's peak RSS
(the whole process tree), then the ratios gateway/vLLM server and gateway/direct, and vLLM/transformers at
concurrency 8. Also: a follow-up turn about the same image vs the first turn (TTFT ratio, prefix-cache hits).
Writes ``results.json`` and ``results.md`` under ``--out`` and prints the Markdown.

``--server gateway=http://127.0.0.1:8000`` benchmarks a server that is already running (one checkpoint: the one it
serves) instead of starting one: its engine arguments are its own, its model the one ``/v1/models`` names; its
peak RSS is reported when ``--server-pid`` gives its process id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from openai import AsyncOpenAI

from adapters.vllm_sockets import RPC_ENV, new_socket_dir
from bench.load import Sample, run_plan, streamed_turn
from bench.workload import MAX_TOKENS, ImageKind, Workload, messages
from tests.servers import TINY_ENGINE_ARGS, free_port, start_gateway, stop_gateway
from tests.tiny_checkpoint import build

SERVED_NAME = "bench"
KV_CACHE_GB = "2"


@dataclass(frozen=True)
class Grid:
    """What one checkpoint is measured on."""

    kinds: tuple[str, ...]
    concurrency: tuple[int, ...]
    transformers_concurrency: tuple[int, ...]
    warmup: int
    follow_ups: int
    photos: int  # distinct 12 MP photos the requests cycle through
    rounds: int = 2  # requests per cell: this many times its concurrency …
    least_requests: int = 8  # … and at least this many

    def requests(self, concurrency: int) -> int:
        return max(self.least_requests, self.rounds * concurrency)


# The medium checkpoint's requests take seconds each: one round per cell keeps the default run under 15 minutes.
# The quick grid proves the harness runs (every kind, a batch of two, the ratios), it measures nothing.
GRIDS = {
    ("full", "tiny"): Grid(("screenshot", "photo-12mp"), (1, 8, 16, 64), (1, 8), 8, 6, 128),
    ("full", "medium"): Grid(("screenshot", "photo-12mp"), (1, 16), (1, 8), 2, 3, 32, rounds=1, least_requests=4),
    ("quick", "tiny"): Grid(("screenshot", "photo-12mp"), (2,), (2,), 1, 1, 1, rounds=1, least_requests=2),
}
SERVED_SYSTEMS = ("gateway", "vllm-server", "transformers")  # the systems behind HTTP: --server can name them


def plan_for(grid: Grid, system: str, photo_dir: Path) -> dict[str, Any]:
    concurrency = grid.transformers_concurrency if system == "transformers" else grid.concurrency
    kinds = ("screenshot",) if system == "transformers" else grid.kinds
    cells = [{"kind": kind, "concurrency": c, "requests": grid.requests(c)} for kind in kinds for c in concurrency]
    follow_ups = 0 if system == "transformers" else grid.follow_ups
    return {
        "kinds": list(kinds),
        "cells": cells,
        "warmup": grid.warmup,
        "follow_ups": follow_ups,
        "photo_dir": str(photo_dir),
        "photos": grid.photos,
    }


class PeakRSS:
    """Samples the resident memory of a process and all its children until stopped."""

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            try:
                tree = [self._process, *self._process.children(recursive=True)]
                self.peak = max(self.peak, sum(_rss(process) for process in tree))
            except psutil.NoSuchProcess:
                return

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


@dataclass(frozen=True)
class Running:
    """A server someone else started, benchmarked as it is: its root URL and, for its memory, its process id."""

    root_url: str
    pid: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where a system answers: its OpenAI base URL, the model it serves, and its process id (None: not known)."""

    base_url: str
    model: str
    pid: int | None


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--server SYSTEM=URL`` and ``--server-pid SYSTEM=PID``, read back by ``running_servers``."""
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="SYSTEM=URL",
        help="benchmark a running server (its root URL, http://127.0.0.1:PORT) as SYSTEM instead of starting one",
    )
    parser.add_argument(
        "--server-pid", action="append", default=[], metavar="SYSTEM=PID", help="that server's process id"
    )


def running_servers(
    parser: argparse.ArgumentParser, servers: list[str], pids: list[str], systems: tuple[str, ...]
) -> dict[str, Running]:
    """The ``--server`` and ``--server-pid`` pairs as ``Running`` by system; a bad pair ends the program."""
    urls, ids = _by_system(parser, servers), _by_system(parser, pids)
    for name in {*urls, *ids} - set(systems):
        parser.error(f"--server/--server-pid: {name!r} is not one of {', '.join(systems)}")
    for name in set(ids) - set(urls):
        parser.error(f"--server-pid {name}=… without --server {name}=URL")
    if not all(value.isdigit() for value in ids.values()):
        parser.error("--server-pid takes SYSTEM=PID, a process id")
    return {name: Running(url, int(ids[name]) if name in ids else None) for name, url in urls.items()}


def _by_system(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, str]:
    """``["gateway=X", …]`` → ``{"gateway": "X", …}``."""
    split = [pair.partition("=") for pair in pairs]
    if not all(name and value for name, _, value in split):
        parser.error(f"expected SYSTEM=VALUE, got {' '.join(pairs)}")
    return {name: value for name, _, value in split}


def served_model(base_url: str) -> str:
    """The model a running server names first in ``/v1/models``."""
    return str(httpx.get(f"{base_url}/models", timeout=30).json()["data"][0]["id"])


class HTTPClient:
    """One OpenAI-compatible server, asked through the official client with streaming, as users do."""

    def __init__(
        self, base_url: str, workload: Workload, model: str = SERVED_NAME, max_tokens: int = MAX_TOKENS
    ) -> None:
        self._client = AsyncOpenAI(
            base_url=base_url,
            api_key="bench",
            max_retries=0,
            timeout=900,
            http_client=httpx.AsyncClient(limits=httpx.Limits(max_connections=512, max_keepalive_connections=512)),
        )
        self._workload = workload
        self._model = model
        self._max_tokens = max_tokens

    async def ask(self, kind: ImageKind, index: int, answer: str | None = None) -> tuple[Sample, str]:
        url = await asyncio.to_thread(self._workload.data_url, kind, index)  # before the clock starts
        sample = await streamed_turn(self._client, self._model, messages(url, answer), self._max_tokens)
        return sample, sample.answer

    async def close(self) -> None:
        await self._client.close()


def engine_flags(quick: bool) -> list[str]:
    return [*TINY_ENGINE_ARGS, *(["--enforce-eager"] if quick else [])]


def start_vllm_server(model: Path, log_path: Path, quick: bool) -> tuple[subprocess.Popen[bytes], str]:
    """vLLM's own server with the engine arguments our gateway uses."""
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model), "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
        *engine_flags(quick), "--seed", "0", "--enable-prefix-caching", "--enable-prompt-tokens-details",
        "--limit-mm-per-prompt", json.dumps({"image": 8}),
        "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True}),
    ]  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": KV_CACHE_GB, "PYTHONUNBUFFERED": "1", RPC_ENV: str(new_socket_dir())}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    root_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{root_url}/health", timeout=2).status_code == 200:
                return process, f"{root_url}/v1"
        except httpx.TransportError:
            pass
        time.sleep(1)
    stop_gateway(process)
    raise RuntimeError(f"vLLM's server did not start:\n{log_path.read_text()[-3000:]}")


@contextmanager
def http_system(
    system: str, model: Path, log_path: Path, quick: bool, running: Running | None = None
) -> Iterator[Endpoint]:
    """``system`` started on ``model`` (and stopped after the block), or the ``running`` server as it is."""
    if running is not None:
        base_url = f"{running.root_url.rstrip('/')}/v1"
        yield Endpoint(base_url, served_model(base_url), running.pid)
        return
    if system == "vllm-server":
        process, base_url = start_vllm_server(model, log_path, quick)
    else:
        engine = ["--engine", "transformers"] if system == "transformers" else ["--kv-cache-gb", KV_CACHE_GB]
        process, root_url = start_gateway(
            str(model), log_path, *engine_flags(quick), *engine, served_name=SERVED_NAME, timeout=900
        )
        base_url = f"{root_url}/v1"
    try:
        yield Endpoint(base_url, SERVED_NAME, process.pid)
    finally:
        stop_gateway(process)


def run_direct(model: Path, plan: dict[str, Any], work: Path, quick: bool) -> dict[str, Any]:
    """``bench.direct`` in a process of its own, on ``plan``; its result and peak RSS."""
    log_path = work / f"direct-{model.name}.log"
    plan_path, result_path = work / "plan.json", work / "direct-result.json"
    engine = {"model": str(model), "dtype": "float32", "max_model_len": 8192, "enforce_eager": quick}
    plan_path.write_text(json.dumps({**plan, "engine": {**engine, "kv_cache_gb": float(KV_CACHE_GB)}}))
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.direct", str(plan_path), str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    rss = PeakRSS(process.pid)
    if process.wait() != 0:
        raise RuntimeError(f"bench.direct failed:\n{log_path.read_text()[-3000:]}")
    return {**json.loads(result_path.read_text()), "peak_rss_mb": round(rss.stop() / 2**20)}


def run_system(
    system: str, model: Path, plan: dict[str, Any], work: Path, quick: bool, running: Running | None = None
) -> dict[str, Any]:
    """``plan`` on one system; the peak RSS is left out for a running server whose process id is not known."""
    if system == "direct":
        return run_direct(model, plan, work, quick)
    with http_system(system, model, work / f"{system}-{model.name}.log", quick, running) as endpoint:
        rss = PeakRSS(endpoint.pid) if endpoint.pid else None
        client = HTTPClient(endpoint.base_url, Workload(Path(plan["photo_dir"]), plan["photos"]), endpoint.model)

        async def measure() -> dict[str, Any]:
            try:
                return await run_plan(plan, client.ask)
            finally:
                await client.close()

        result = asyncio.run(measure())
        return result if rss is None else {**result, "peak_rss_mb": round(rss.stop() / 2**20)}


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """gateway ÷ vLLM server and gateway ÷ direct per cell (requests/s), vLLM ÷ transformers at concurrency 8."""
    rows = []
    for checkpoint, systems in results.items():
        cells = {
            (system, cell["kind"], cell["concurrency"]): cell
            for system, result in systems.items()
            for cell in result.get("cells", [])
        }
        for (system, kind, concurrency), cell in cells.items():
            if system != "gateway":
                continue
            row: dict[str, Any] = {"checkpoint": checkpoint, "kind": kind, "concurrency": concurrency}
            for peer, label in (("vllm-server", "gateway/vllm-server"), ("direct", "gateway/direct")):
                if other := cells.get((peer, kind, concurrency)):
                    row[label] = round(cell["req_per_s"] / other["req_per_s"], 2)
            if other := cells.get(("transformers", kind, concurrency)):
                row["vllm/transformers tok/s"] = round(cell["output_tok_per_s"] / other["output_tok_per_s"], 2)
            rows.append(row)
    return rows


def markdown(results: dict[str, Any], machine: str, command: str) -> str:
    lines = [f"Command: `{command}`", "", f"Machine: {machine}", ""]
    columns = ("req_per_s", "output_tok_per_s", "ttft_p50_ms", "ttft_p95_ms", "latency_p50_ms", "latency_p95_ms")
    for checkpoint, systems in results.items():
        lines += [f"### {checkpoint} checkpoint", ""]
        lines += [
            "| system | image | conc. | req/s | out tok/s | TTFT p50 | TTFT p95 | e2e p50 | e2e p95 | prompt tok |"
        ]
        lines += ["|---|---|---|---|---|---|---|---|---|---|"]
        for system, result in systems.items():
            if "error" in result:
                lines.append(f"| {system} | — | — | failed: {result['error'][:80]} |||||||")
                continue
            for cell in result["cells"]:
                values = " | ".join(str(cell[column]) for column in columns)
                lines.append(
                    f"| {system} | {cell['kind']} | {cell['concurrency']} | {values} | {cell['prompt_tokens_mean']} |"
                )
        lines += ["", "| system | peak RSS (MB) | first-turn TTFT p50 | follow-up TTFT p50 | ratio | cache hits |"]
        lines += ["|---|---|---|---|---|---|"]
        for system, result in systems.items():
            follow = result.get("follow_up") or {}
            lines.append(
                f"| {system} | {result.get('peak_rss_mb', '—')} | {follow.get('first_ttft_p50_ms', '—')} | "
                f"{follow.get('follow_up_ttft_p50_ms', '—')} | {follow.get('ttft_ratio', '—')} | "
                f"{follow.get('follow_up_cache_hit_rate', '—')} |"
            )
        lines.append("")
    rows = ratios(results)
    lines += ["### Ratios (requests/s unless noted)", ""]
    lines += ["| checkpoint | image | conc. | gateway/vllm-server | gateway/direct | vllm/transformers tok/s |"]
    lines += ["|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['checkpoint']} | {row['kind']} | {row['concurrency']} | {row.get('gateway/vllm-server', '—')} | "
            f"{row.get('gateway/direct', '—')} | {row.get('vllm/transformers tok/s', '—')} |"
        )
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    memory = psutil.virtual_memory().total / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, {platform.system()}, no GPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny checkpoint, few requests, eager engines (< 3 min)")
    parser.add_argument(
        "--checkpoints", default=None, help="comma-separated: tiny, medium (default: both; quick: tiny)"
    )
    parser.add_argument("--systems", default="gateway,vllm-server,direct,transformers")
    add_server_options(parser)
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench"))
    options = parser.parse_args()
    mode = "quick" if options.quick else "full"
    checkpoints = (options.checkpoints or ("tiny" if options.quick else "tiny,medium")).split(",")
    running = running_servers(parser, options.server, options.server_pid, SERVED_SYSTEMS)
    if running and len(checkpoints) > 1:
        parser.error("a running server serves one checkpoint: name it with --checkpoints")
    options.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as scratch:
        work = Path(scratch)
        workload_dir = work / "photos"
        Workload(workload_dir, max(GRIDS[mode, name].photos for name in checkpoints)).make_photos()
        for checkpoint in checkpoints:
            model = build(work / f"{checkpoint}-hunyuanocr", checkpoint)
            results[checkpoint] = {}
            for system in options.systems.split(","):
                plan = plan_for(GRIDS[mode, checkpoint], system, workload_dir)
                print(f"[{time.monotonic() - started:6.0f} s] {checkpoint}: {system}", flush=True)
                try:
                    results[checkpoint][system] = run_system(
                        system, model, plan, work, options.quick, running.get(system)
                    )
                except Exception as error:  # one broken system still leaves the others' numbers
                    results[checkpoint][system] = {"error": str(error)}
                    print(f"  failed: {str(error)[-2000:]}", flush=True)
    command = "python -m bench.compare " + " ".join(sys.argv[1:])
    report = markdown(results, machine_description(), command.strip())
    (options.out / "results.json").write_text(
        json.dumps({"machine": machine_description(), "results": results, "ratios": ratios(results)}, indent=2)
    )
    (options.out / "results.md").write_text(report)
    print(report)
    print(f"total {time.monotonic() - started:.0f} s; written to {options.out}/results.{{md,json}}")


if __name__ == "__main__":
    main()
