"""Smoke test of ``bench.frontend_cpu --quick``: both servers answer alternating rounds, every round has its
requests/s and server CPU per request, and the paired ratios and follow-up figures come out. The gateway is the
session's (``--server``, the harness measuring a running server's process tree); vLLM's own server is started by
the harness, as the full run starts it.

It asserts nothing about speed (this machine is noisy); it keeps the harness working.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bench.profile_split import classify, split
from tests.conftest import Gateway

SYSTEMS = ("gateway", "vllm-server")


def test_quick_run_alternates_systems_and_reports_cpu_per_request(gateway: Gateway, tmp_path: Path) -> None:
    out = tmp_path / "frontend.json"
    command = [sys.executable, "-m", "bench.frontend_cpu", "--quick", "--json", str(out)]
    command += ["--server", f"gateway={gateway.root_url}", "--server-pid", f"gateway={gateway.pid}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    rounds = re.findall(r"^round (\d) (\S+)", run.stdout, flags=re.MULTILINE)
    assert rounds == [("1", "gateway"), ("1", "vllm-server"), ("2", "gateway"), ("2", "vllm-server")]
    assert re.search(r"requests/s ratio \d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)", run.stdout)
    assert re.search(r"CPU/request ratio \d+\.\d\d \(\d+\.\d\d–\d+\.\d\d\)", run.stdout)
    report = json.loads(out.read_text())
    for name in SYSTEMS:
        for result in report["rounds"][name]:
            assert result["requests"] == 2 and result["req_per_s"] > 0
            # The whole tree is counted: the API process and vLLM's engine core both spent CPU.
            assert result["split_ms"]["API server"] > 0 and result["split_ms"]["engine core"] > 0
            assert result["cpu_ms_per_request"] >= sum(result["split_ms"].values()) - 0.1
        assert report["follow_up"][name]["follow_up_cache_hit_rate"] > 0
    assert len(report["ratios"]["cpu_ms_per_request"]) == 2


RAW = """\
thread (11): MainThread;main (gateway/cli.py:1);send (uvicorn/protocols/http/httptools_impl.py:2) 30
thread (11): MainThread;main (gateway/cli.py:1);_encoded (gateway/streaming.py:3);dump (pydantic/main.py:4) 10
thread (12): ThreadPoolExecutor-0_0;_worker (concurrent/futures/thread.py:5);decode_image (gateway/media/loader.py:6) 40
"""


def test_profile_split_scales_each_thread_to_its_cpu_time() -> None:
    # 200 Hz: 80 samples are 400 ms; the main thread ran 100 ms, the decoding thread 100 ms, a native one 20 ms.
    threads = {"11": {"name": "python", "cpu_ms": 100}, "12": {"name": "python", "cpu_ms": 100}}
    threads["13"] = {"name": "ZMQbg/IO/0", "cpu_ms": 20}
    profile = split(RAW, requests=10, rate=200, thread_cpu=threads)
    assert profile.component("HTTP/JSON") == 7.5  # 30 of the main thread's 40 samples, of 10 ms per request
    assert profile.component("SSE/streaming") == 2.5
    assert profile.component("media") == 10
    assert profile.component("native threads") == 2
    assert profile.total == 22


def test_profile_split_names_shared_library_code_by_its_caller() -> None:
    dump = ("main (gateway/cli.py)", "_encoded (gateway/streaming.py)", "model_dump_json (pydantic/main.py)")
    validate = ("main (gateway/cli.py)", "parse (gateway/edge.py)", "model_validate (pydantic/main.py)")
    loop = ("main (gateway/cli.py)", "serve (gateway/cli.py)", "Runner.run (asyncio/runners.py)")
    assert classify(dump) == ("SSE/streaming", "JSON encode of chunks")
    assert classify(validate) == ("HTTP/JSON", "request edge: read, parse, validate")
    assert classify(loop) == ("event loop", "uvloop run loop")
