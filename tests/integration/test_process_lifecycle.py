"""The server process around the real engine: graceful SIGTERM, and a dead engine → 503 then exit code 3.

Each test starts its own gateway (with ``--enforce-eager`` for a quicker start), never the shared one.
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from adapters.vllm_sockets import PREFIX
from tests.images import image_part, make_image
from tests.servers import TINY_ENGINE_ARGS, start_gateway, stop_gateway

FAST_START = (*TINY_ENGINE_ARGS, "--kv-cache-gb", "1", "--enforce-eager")


def test_sigterm_lets_an_in_flight_stream_finish_then_exits_0(tiny_checkpoint: Path, tmp_path: Path) -> None:
    process, root = start_gateway(
        str(tiny_checkpoint), tmp_path / "server.log", *FAST_START, "--shutdown-timeout", "60"
    )
    try:
        body = {
            "model": "hunyuan-ocr-tiny",
            "max_tokens": 500,  # about a second's stream on an idle machine: still running when SIGTERM comes
            "temperature": 0,
            "stream": True,
            "messages": [{"role": "user", "content": [image_part(make_image(64, 64, seed=1))]}],
        }
        events: list[str] = []
        under_way = threading.Event()

        def read_stream() -> None:
            with httpx.stream("POST", f"{root}/v1/chat/completions", json=body, timeout=120) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        events.append(line)
                        under_way.set()

        reader = threading.Thread(target=read_stream)
        reader.start()
        assert under_way.wait(timeout=120), "the stream sent no event"
        (socket_dir,) = Path(tempfile.gettempdir()).glob(f"{PREFIX}{process.pid}-*")
        assert any(path.is_socket() for path in socket_dir.iterdir())  # vLLM's IPC sockets, in the engine's own
        process.send_signal(signal.SIGTERM)
        at_sigterm = len(events)
        reader.join(timeout=120)
        assert process.wait(timeout=90) == 0
        assert events and events[-1] == "data: [DONE]"  # the request in flight was finished, not cut
        assert len(events) > at_sigterm + 10  # it went on streaming after the signal
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{root}/health", timeout=2)  # and nothing is accepted any more
        assert not socket_dir.exists()  # vLLM leaves its sockets: the gateway removes them
    finally:
        stop_gateway(process)


def _engine_core(process_id: int) -> psutil.Process:
    children = psutil.Process(process_id).children(recursive=True)
    return next(child for child in children if "EngineCore" in " ".join(child.cmdline() + [child.name()]))


def test_a_killed_engine_turns_health_to_503_and_the_server_exits_3(tiny_checkpoint: Path, tmp_path: Path) -> None:
    process, root = start_gateway(str(tiny_checkpoint), tmp_path / "server.log", *FAST_START)
    try:
        _engine_core(process.pid).kill()
        killed_at, answers = time.monotonic(), []
        while process.poll() is None and time.monotonic() - killed_at < 60:
            try:
                answers.append(httpx.get(f"{root}/health", timeout=2).status_code)
            except httpx.TransportError:
                answers.append(0)  # already closed
            time.sleep(0.2)
        assert process.wait(timeout=60) == 3
        assert time.monotonic() - killed_at < 60
        noticed = next(index for index, status in enumerate(answers) if status != 200)
        assert 200 not in answers[noticed:]  # never "healthy" again once the death was noticed
    finally:
        stop_gateway(process)
