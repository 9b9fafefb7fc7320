"""uvicorn's server with one change: after a graceful shutdown on SIGTERM it does not re-raise the signal.

uvicorn re-sends itself the captured signal once it has shut down, so the process would end "killed by
SIGTERM". We exit 0 after a requested shutdown, or 3 when the engine failed (see ``gateway.lifecycle``).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

import uvicorn


class GracefulServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
