"""The engine's life inside the server: loading in the background, serving, and exiting when it dies.

While the model loads the server already answers (``/health`` 503 "loading", API 503). If loading fails, or
the engine dies later (say its worker is killed), the server stops itself with exit code 3 instead of hanging:
a supervisor (systemd, Docker's restart policy, Kubernetes) starts a fresh one. Restarting vLLM inside the same
process is not reliable, so we do not try. Engines that heal by themselves (``self_healing``: a pool of remote
replicas) are not watched: the server stays up and ``/health`` reports their outages.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Literal

from adapters.engine import Engine

logger = logging.getLogger(__name__)
ENGINE_FAILED_EXIT_CODE = 3
WATCH_INTERVAL = 1.0


def stop_this_process() -> None:
    """Ask uvicorn for its normal graceful shutdown (SIGTERM to ourselves); the CLI then exits with our code."""
    os.kill(os.getpid(), signal.SIGTERM)


class Lifecycle:
    def __init__(self, engine: Engine, on_failure: Callable[[], None] = stop_this_process) -> None:
        self._engine = engine
        self._on_failure = on_failure
        self.state: Literal["loading", "ready", "failed"] = "loading"
        self.exit_code = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def serving(self) -> bool:
        """Whether the engine is loaded and healthy now (an error from it then concerns one request, not all)."""
        return self.state == "ready" and self._engine.is_healthy()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        try:
            await self._engine.start()
        except Exception:
            logger.exception("the engine could not start")
            self._fail()
            return
        self.state = "ready"
        if self._engine.self_healing:
            return  # its outages end by themselves (remote replicas restart); /health reports them meanwhile
        while self._engine.is_healthy():
            await asyncio.sleep(WATCH_INTERVAL)
        logger.critical("the engine died; stopping the server (exit code %d)", ENGINE_FAILED_EXIT_CODE)
        self._fail()

    def _fail(self) -> None:
        self.state = "failed"
        self.exit_code = ENGINE_FAILED_EXIT_CODE
        self._on_failure()
