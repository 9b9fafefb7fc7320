"""Several gateways sharing one PostgreSQL and one data dir, behind HAProxy: all on 127.0.0.1, all real.

The picture the README's "Running on several machines" draws, on one machine: ``ocr-gateway serve --engine
fixed-latency`` processes (a set sleep per request, so the cores do not decide how fast a batch goes), Debian's
PostgreSQL (``tests/postgres.py``) and Debian's ``haproxy`` in front, round-robin, health-checking
``/health/ready``. The scaling test and ``bench/scale_out.py`` both start it from here.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from openai import OpenAI

from tests.servers import free_port, start_gateway, stop_gateway

MODEL = "fixed-latency"  # the name the fixed-latency engine serves under
HAPROXY_CFG = Path(__file__).parents[1] / "docker" / "haproxy.cfg"
RUNS = re.compile(r'^ocr_gateway_engine_runs_total\{task="([^"]*)"\} ([0-9.e+]+)$', re.MULTILINE)


@dataclass
class Member:
    """One gateway of the cluster: its process, root URL and log."""

    name: str
    process: subprocess.Popen[bytes]
    root_url: str
    log_path: Path

    def engine_runs(self, task: str | None = None) -> int:
        """Requests its engine started (of ``task`` only, else all), read from its own ``/metrics``."""
        text = httpx.get(f"{self.root_url}/metrics", timeout=10).text
        return sum(int(float(count)) for name, count in RUNS.findall(text) if task in (None, name))

    def requests_to(self, route: str) -> int:
        """Requests to ``route`` (a path template) it answered, any status, from its ``/metrics``."""
        text = httpx.get(f"{self.root_url}/metrics", timeout=10).text
        pattern = re.compile(rf'^ocr_gateway_requests_total\{{route="{re.escape(route)}",status="\d+"\}} ([0-9.e+]+)$')
        return sum(int(float(match.group(1))) for line in text.splitlines() if (match := pattern.match(line)))


def haproxy_config(port: int, servers: dict[str, str]) -> str:
    """``docker/haproxy.cfg`` as users run it, on loopback: listening on 127.0.0.1:``port``, in front of ``servers``
    (name → host:port) instead of the compose file's, without Docker's DNS."""
    kept = []
    in_resolvers = False
    for line in HAPROXY_CFG.read_text().splitlines():
        if line.startswith("resolvers "):
            in_resolvers = True
        elif line and not line.startswith((" ", "#")):
            in_resolvers = False
        if in_resolvers or line.lstrip().startswith("server "):
            continue
        line = re.sub(r"^(\s*bind) :\d+$", rf"\1 127.0.0.1:{port}", line)
        kept.append(re.sub(r" resolvers \S+", "", line))
    return "\n".join([*kept, *(f"    server {name} {address} check" for name, address in servers.items())]) + "\n"


@contextmanager
def haproxy(servers: dict[str, str], folder: Path) -> Iterator[str]:
    """Debian's ``haproxy`` in the foreground on a free port; yields its root URL once every server is up."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(port, servers))
    with (folder / "haproxy.log").open("w") as log:
        process = subprocess.Popen([binary, "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    root_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_backends(process, root_url, folder / "haproxy.log")
        yield root_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for_backends(process: subprocess.Popen[bytes], root_url: str, log_path: Path) -> None:
    # Servers start "up" and checks run at once; a few round-robin answers from /health/ready show it serves.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{root_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"haproxy at {root_url} did not answer:\n{log_path.read_text()[-2000:]}")


@contextmanager
def gateways(count: int, folder: Path, database_url: str, *extra_args: str) -> Iterator[list[Member]]:
    """``count`` fixed-latency gateways on one database and one data dir, started side by side."""
    data_dir = folder / "shared-data"
    args = ("--engine", "fixed-latency", "--database-url", database_url, "--data-dir", str(data_dir), *extra_args)

    def start(index: int) -> Member:
        log_path = folder / f"gateway-{index}.log"
        process, root_url = start_gateway(MODEL, log_path, *args, served_name=None, timeout=180)
        return Member(f"g{index}", process, root_url, log_path)

    with ExitStack() as stack, ThreadPoolExecutor(max_workers=min(count, 8)) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
        members = []
        for future in futures:
            member = future.result()
            stack.callback(stop_gateway, member.process)
            members.append(member)
        yield members


@contextmanager
def cluster(count: int, folder: Path, database_url: str, *extra_args: str) -> Iterator[tuple[list[Member], str]]:
    """``gateways`` behind ``haproxy``: (the gateways, HAProxy's root URL)."""
    with gateways(count, folder, database_url, *extra_args) as members:
        servers = {member.name: member.root_url.removeprefix("http://") for member in members}
        with haproxy(servers, folder) as balancer:
            yield members, balancer


def client(root_url: str) -> OpenAI:
    """The official client, no retries of its own: every retry seen is HAProxy's."""
    return OpenAI(base_url=f"{root_url}/v1", api_key="unused", max_retries=0, timeout=60)


def batch_input(requests: int) -> bytes:
    """``requests`` short chat requests, ``custom_id`` ``req-00000`` … (text only: the engine ignores images)."""
    lines = (
        {
            "custom_id": f"req-{number:05d}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": f"Page {number}."}]},
        }
        for number in range(requests)
    )
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def submit_batch(openai: OpenAI, requests: int) -> str:
    uploaded = openai.files.create(file=("requests.jsonl", io.BytesIO(batch_input(requests))), purpose="batch")
    batch = openai.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    return batch.id


def output_lines(openai: OpenAI, batch_id: str) -> list[dict[str, object]]:
    batch = openai.batches.retrieve(batch_id)
    assert batch.output_file_id is not None, batch
    return [json.loads(line) for line in openai.files.content(batch.output_file_id).text.splitlines()]
