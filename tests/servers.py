"""Servers for tests and benchmarks, all on 127.0.0.1: a media server, and the gateway itself."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import psutil
from starlette.applications import Starlette

from adapters.vllm_sockets import RPC_ENV, new_socket_dir


class MediaServer:
    """Serves ``routes``: path → (status, headers, body); ``/slow`` trickles, ``/redirect/N`` chains redirects."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.hits: list[str] = []
        self.base_url = ""


@contextmanager
def media_server() -> Iterator[MediaServer]:
    state = MediaServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state.hits.append(self.path)
            if self.path == "/slow":
                self.send_response(200)
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b"x" * 10)
                    time.sleep(0.2)
                return
            status, headers, body = state.routes.get(self.path, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# Engine flags for serving the tiny checkpoint (float32 so answers equal transformers' exactly).
TINY_ENGINE_ARGS = ("--dtype", "float32", "--max-model-len", "8192")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayDidNotStart(RuntimeError):
    """The gateway exited or stayed unhealthy; the message ends with its log's tail."""


def start_gateway(
    model: str,
    log_path: Path,
    *extra_args: str,
    served_name: str | None = "hunyuan-ocr-tiny",
    timeout: float = 420,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``ocr-gateway serve`` on a free 127.0.0.1 port, returned once ``/health`` says 200: (process, root URL).
    ``served_name`` None leaves the model's name to the server. Its job store goes beside the log unless
    ``--data-dir`` is given. ``env``: variables added to its environment (``LD_PRELOAD`` of
    libfaketime, say: the process itself, no wrapper process whose stop would leave its child behind)."""
    port = free_port()
    if "--data-dir" not in extra_args:
        extra_args = (*extra_args, "--data-dir", str(log_path.with_name(f"{log_path.stem}-data")))
    command = [
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--model",
        model,
        *(("--served-model-name", served_name) if served_name else ()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra_args,
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        )
    root_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, root_url, log_path, timeout)
    except GatewayDidNotStart:
        stop_gateway(process)
        raise
    return process, root_url


def wait_until_healthy(process: subprocess.Popen[bytes], root_url: str, log_path: Path, timeout: float) -> None:
    """Returns once ``root_url/health`` says 200; raises ``GatewayDidNotStart`` if the server exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GatewayDidNotStart(f"{root_url} exited with {process.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            if httpx.get(f"{root_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise GatewayDidNotStart(f"{root_url} not healthy after {timeout} s:\n{log_path.read_text()[-4000:]}")


# vLLM's own OpenAI server on the tiny checkpoint, set up as the README asks for replicas behind the gateway:
# prompt-token details (cached tokens) and compact JSON from structured outputs, like the in-process engine.
VLLM_SERVER_ARGS = (
    *TINY_ENGINE_ARGS,
    "--enforce-eager",
    "--enable-prompt-tokens-details",
    "--structured-outputs-config",
    '{"backend": "xgrammar", "disable_any_whitespace": true}',
)


def launch_vllm_server(model: str, log_path: Path, *extra_args: str) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m vllm.entrypoints.openai.api_server`` on a free 127.0.0.1 port, not yet ready: (process, root
    URL). It leads its own process group, so ``os.killpg`` takes its engine processes down with it."""
    port = free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    command += ["--host", "127.0.0.1", "--port", str(port), *VLLM_SERVER_ARGS, *extra_args]
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "VLLM_CPU_KVCACHE_SPACE": "1", RPC_ENV: str(new_socket_dir())},
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class KilledTree:
    """What a SIGKILLed process left behind: its descendants (``pid name: cmdline`` each), those still running
    when the wait ended (then killed, so a failing test leaks nothing) and when the last one was gone."""

    descendants: list[str]
    survivors: list[str]
    seconds: float  # from the SIGKILL until the last descendant was gone (or the wait ended)


def sigkill_and_watch_tree(process: subprocess.Popen[bytes], timeout: float = 30) -> KilledTree:
    """SIGKILLs ``process`` alone, as the OOM killer or a container's hard stop would, and waits up to
    ``timeout`` s for every process below it to end by itself.

    Each killed process frees its memory before its children learn of its death, so an engine's processes go
    one after the other; freeing a few GB took from under a second to over ten on a busy 2-core machine."""
    descendants = psutil.Process(process.pid).children(recursive=True)
    described = [_describe(child) for child in descendants]
    killed = time.monotonic()
    process.kill()
    process.wait()
    running = descendants
    while (running := [child for child in running if _running(child)]) and time.monotonic() - killed < timeout:
        time.sleep(0.05)
    seconds = time.monotonic() - killed
    survivors = [_describe(child) for child in running]
    _kill(running)
    return KilledTree(described, survivors, seconds)


def _kill(processes: list[psutil.Process]) -> None:
    # multiprocessing's resource tracker goes last, given a moment to end by itself: once the others are gone
    # it unlinks their shared memory.
    trackers = [process for process in processes if "resource_tracker" in _describe(process)]
    for process in processes:
        if process not in trackers:
            with suppress(psutil.NoSuchProcess):
                process.kill()
    _, trackers = psutil.wait_procs(trackers, timeout=5)
    for process in trackers:
        with suppress(psutil.NoSuchProcess):
            process.kill()


def _running(process: psutil.Process) -> bool:
    # A zombie holds no memory; whether init reaps it soon is not the killed process's doing.
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _describe(process: psutil.Process) -> str:
    try:
        # The command line reads empty once a dying process has let go of its memory map.
        command = " ".join(part for part in process.cmdline() if part)
        return f"{process.pid} {process.name()} ({process.status()}): {command}"
    except psutil.NoSuchProcess:
        return f"{process.pid} (gone)"


def port_is_free(port: int) -> bool:
    """Whether a new server could listen on 127.0.0.1:``port`` now (with ``SO_REUSEADDR``, as uvicorn binds)."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def stop_gateway(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def serve_app(app: Starlette) -> Iterator[str]:
    """Serves an ASGI app (its lifespan included) with uvicorn on a free 127.0.0.1 port; yields the root URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
