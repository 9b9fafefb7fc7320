"""Servers for tests and benchmarks, all on 127.0.0.1: a media server, and the gateway itself."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from starlette.applications import Starlette


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
) -> tuple[subprocess.Popen[bytes], str]:
    """``ocr-gateway serve`` on a free 127.0.0.1 port, returned once ``/health`` says 200: (process, root URL).
    ``served_name`` None leaves the model's name to the server. Its job store goes beside the log unless
    ``--data-dir`` is given."""
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
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
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
            env={**os.environ, "PYTHONUNBUFFERED": "1", "VLLM_CPU_KVCACHE_SPACE": "1"},
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}"


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
