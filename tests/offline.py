"""A network block for tests that must prove something works offline: every connection attempt is refused
and recorded (so an attempt a library catches and shrugs off still fails the test)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def no_network() -> Iterator[list[str]]:
    """Inside: no socket connects or resolves a name (loopback included); yields the attempts made."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:3]))
        raise OSError("network access in an offline test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.setattr(socket.socket, "connect_ex", refuse)
        patch.setattr(socket, "getaddrinfo", refuse)
        yield attempts
