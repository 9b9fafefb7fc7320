"""Scaling out: the same batch on 1, 2 and 3 gateways (one PostgreSQL, HAProxy in front), and the speed-up.

Every gateway runs ``--engine fixed-latency``: each request sleeps ``--latency-ms``, with ``--concurrency`` batch
requests in its engine at once, so one gateway's ceiling is concurrency / latency requests per second whatever the
machine — a GPU's part played by a timer — and N gateways should finish the batch N× faster if the work spreads.
Each trial starts fresh gateways on a fresh database, submits the batch through HAProxy with the official
``openai`` client and times it from creation to ``completed``; the gateway counts alternate in order over the
rounds (1,2,3 then 3,2,1 …), and the report gives each count's median with its spread and each gateway's share of
the engine runs (from its own ``/metrics``).

    python -m bench.scale_out                       # 3,000 requests on 1/2/3 gateways, 2 rounds
    # the 20-gateway simulation: 4 requests/s per gateway, so 20 of them stay within what 2 cores can drive
    python -m bench.scale_out --gateways 1,20 --rounds 1 --latency-ms 2000 --concurrency 8 --time-limit 120
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests import cluster
from tests.postgres import Cluster, postgres_cluster, server_binaries


@dataclass
class Trial:
    gateways: int
    seconds: float  # batch created → completed (the time limit if it did not finish)
    completed: int
    runs: dict[str, int] = field(default_factory=dict)  # engine runs per gateway
    finished: bool = True

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds


def run_trial(postgres: Cluster, count: int, args: argparse.Namespace, folder: Path) -> Trial:
    database = postgres.create_database(f"scale_{count}_{int(time.time() * 1000)}")
    engine = ("--fixed-latency-ms", str(args.latency_ms), "--batch-concurrency", str(args.concurrency))
    with cluster.cluster(count, folder, database, *engine, "--log-level", "warning") as (members, balancer):
        openai = cluster.client(balancer)
        started = time.monotonic()
        batch_id = cluster.submit_batch(openai, args.requests)
        while (batch := openai.batches.retrieve(batch_id)).status not in ("completed", "failed", "cancelled"):
            if time.monotonic() - started > args.time_limit:
                break
            time.sleep(0.2)
        seconds = time.monotonic() - started
        counts = batch.request_counts
        runs = {member.name: member.engine_runs() for member in members}
    return Trial(count, seconds, counts.completed if counts else 0, runs, batch.status == "completed")


def order(counts: list[int], round_number: int) -> list[int]:
    """Ascending in even rounds, descending in odd ones: a drift in the machine's load hits every count alike."""
    return counts if round_number % 2 == 0 else counts[::-1]


def summarise(trials: list[Trial]) -> dict[str, object]:
    """Per gateway count: median seconds and spread, and the speed-up in requests/s over the smallest count
    (requests/s, so a trial stopped by the time limit still counts what it did)."""
    by_count: dict[int, list[Trial]] = {}
    for trial in trials:
        by_count.setdefault(trial.gateways, []).append(trial)
    rates = {count: statistics.median(t.per_second for t in runs) for count, runs in sorted(by_count.items())}
    base = rates[min(rates)]
    return {
        str(count): {
            "median_s": round(statistics.median(t.seconds for t in runs), 2),
            "spread_s": [round(min(t.seconds for t in runs), 2), round(max(t.seconds for t in runs), 2)],
            "requests_per_s": round(rates[count], 1),
            "speedup": round(rates[count] / base, 2) if base else None,
            "all_finished": all(t.finished for t in runs),
        }
        for count, runs in sorted(by_count.items())
    }


def print_report(trials: list[Trial], summary: dict[str, object], args: argparse.Namespace) -> None:
    ceiling = args.concurrency / (args.latency_ms / 1000)
    print(
        f"\n{args.requests} requests, {args.latency_ms} ms each, {args.concurrency} at once per gateway "
        f"(one gateway's ceiling {ceiling:.0f} req/s)"
    )
    for trial in trials:
        shares = ", ".join(f"{name} {runs}" for name, runs in trial.runs.items())
        state = "" if trial.finished else "  (NOT finished within the time limit)"
        print(
            f"  {trial.gateways} gateway(s): {trial.seconds:6.1f} s, {trial.per_second:6.1f} req/s; engine runs: "
            f"{shares}{state}"
        )
    base = min(int(count) for count in summary)
    for count, row in summary.items():
        assert isinstance(row, dict)
        low, high = row["spread_s"]
        print(
            f"{count} gateway(s): median {row['median_s']} s (spread {low}–{high} s), {row['requests_per_s']} "
            f"req/s, speed-up vs {base}: {row['speedup']}×"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateways", default="1,2,3", help="comma-separated gateway counts to compare")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=1000.0, help="the fixed-latency engine's sleep")
    parser.add_argument("--concurrency", type=int, default=64, help="--batch-concurrency of every gateway")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds one trial may take")
    parser.add_argument("--json", type=Path, help="also write the trials and the summary here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    counts = [int(count) for count in args.gateways.split(",")]
    binaries = server_binaries()
    if binaries is None:
        sys.exit("PostgreSQL's server binaries are needed (Debian package 'postgresql')")
    trials = []
    with postgres_cluster(binaries) as postgres, tempfile.TemporaryDirectory(prefix="scale-out-") as scratch:
        for round_number in range(args.rounds):
            for count in order(counts, round_number):
                folder = Path(scratch) / f"round{round_number}-{count}"
                folder.mkdir()
                trials.append(trial := run_trial(postgres, count, args, folder))
                print(f"round {round_number + 1}: {count} gateway(s) {trial.seconds:.1f} s", flush=True)
    summary = summarise(trials)
    print_report(trials, summary, args)
    if args.json:
        args.json.write_text(json.dumps({"trials": [asdict(t) for t in trials], "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
