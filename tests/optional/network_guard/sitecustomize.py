"""Loaded by any Python started with this folder on ``PYTHONPATH`` and ``NETWORK_GUARD_LOG`` set: every connection,
datagram or name lookup that is not for the loopback is refused, and written to that file, so a test can prove a
program it starts stays on 127.0.0.1 even where the program shrugs the error off.

The guard sits in Python's ``socket`` module, so libraries that connect or resolve in C are hidden to make their
callers fall back on the standard library: uvloop (uvicorn then runs asyncio's own loop) and c-ares through aiodns
(aiohttp then resolves in a thread with ``socket.getaddrinfo``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def _text(host: object) -> str:
    return host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)


def _is_loopback(host: object) -> bool:
    if host is None or _text(host).lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(_text(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _needs_no_lookup(host: object) -> bool:
    """An address literal (or the wildcard a server binds to) is answered without asking a resolver."""
    if host in (None, "", b""):
        return True
    try:
        ipaddress.ip_address(_text(host).split("%")[0])
    except ValueError:
        return False
    return True


def _refuse(what: str) -> None:
    with open(os.environ["NETWORK_GUARD_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{what}\n")
    raise OSError(101, f"network guard: {what} refused (loopback only)")


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        _refuse(f"connect {_text(address[0])}:{address[1]}")


def install() -> None:
    """Arms the guard; the log file exists from then on, which tells a test the guard is armed."""
    open(os.environ["NETWORK_GUARD_LOG"], "a").close()
    connect, connect_ex, sendto, getaddrinfo = (
        socket.socket.connect,
        socket.socket.connect_ex,
        socket.socket.sendto,
        socket.getaddrinfo,
    )

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check(self, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check(self, address)
        return connect_ex(self, address)

    def guarded_sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        _check(self, args[-1])
        return sendto(self, data, *args)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not (_is_loopback(host) or _needs_no_lookup(host)):
            _refuse(f"resolve {_text(host)}")
        return getaddrinfo(host, *args, **kwargs)

    for module in ("uvloop", "aiodns", "pycares"):
        sys.modules[module] = None  # type: ignore[assignment]  # import now raises ImportError
    setattr(socket.socket, "connect", guarded_connect)
    setattr(socket.socket, "connect_ex", guarded_connect_ex)
    setattr(socket.socket, "sendto", guarded_sendto)
    setattr(socket, "getaddrinfo", guarded_getaddrinfo)


if os.environ.get("NETWORK_GUARD_LOG"):
    install()
