"""The job store's database: SQLite (WAL) under the data dir by default, or PostgreSQL; migrated on start.

SQLAlchemy's asyncio engine with ``aiosqlite`` or ``asyncpg``; Alembic brings the schema up to date.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import inspect
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import BigInteger, Connection, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_FILE = "gateway.db"
SQLITE_BUSY_MS = 30_000
DATABASE_CONNECTIONS = 10  # per gateway, on PostgreSQL
LEASE_CONNECTIONS = 2  # per gateway, apart from the others: renewals never queue behind user traffic
LEASE_POOL_WAIT = 5  # seconds a renewal waits for one of them (a lease lasts 30)
MIN_SQLITE = (3, 35, 0)
Store = TypeVar("Store", bound=type)
Method = TypeVar("Method", bound=Callable[..., Any])


def database_url(data_dir: Path, url: str | None) -> str:
    """The async driver's URL: ``postgresql://…`` gets ``asyncpg``; none means SQLite in ``data_dir``."""
    if not url:
        return f"sqlite+aiosqlite:///{data_dir / SQLITE_FILE}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


async def open_database(url: str) -> AsyncEngine:
    """An engine on a migrated database."""
    # PostgreSQL: at most DATABASE_CONNECTIONS per gateway (requests wait for one rather than fail), so N gateways
    # need max_connections above N × DATABASE_CONNECTIONS (or a pooler such as PgBouncer in front).
    # pre-ping: after a database restart, pooled connections are dead; each is replaced at checkout, not failed.
    pooled = {"pool_size": DATABASE_CONNECTIONS // 2, "max_overflow": DATABASE_CONNECTIONS // 2, "pool_pre_ping": True}
    postgresql = make_url(url).get_backend_name() == "postgresql"
    engine = create_async_engine(url, json_serializer=store_json, **(pooled if postgresql else {}))
    if engine.dialect.name == "sqlite":
        check_sqlite(sqlite3.sqlite_version_info)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    async with engine.begin() as connection:
        await connection.run_sync(migrate)
    return engine


def store_json(value: Any) -> str:
    """JSON as the job store writes it (its engines' serializer): one line, characters as they are (an answer in
    Chinese stays readable in the output file, at a third of the size of ``\\u`` escapes)."""
    return json.dumps(value, ensure_ascii=False)


def open_lease_database(url: str) -> AsyncEngine:
    """A small engine of its own for lease renewals on the same (already migrated) database: a burst of downloads
    holding every pooled connection must not delay a renewal past its lease, or other gateways take the work over."""
    engine = create_async_engine(
        url,
        json_serializer=store_json,
        pool_size=LEASE_CONNECTIONS,
        max_overflow=0,
        pool_timeout=LEASE_POOL_WAIT,
        pool_pre_ping=True,
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


class database_now(FunctionElement[int]):
    """Seconds since the epoch by the database's clock, read when the statement runs. Every lease is set and
    compared with it, never with a gateway's own clock: gateways whose clocks disagree (skew, a clock step) would
    otherwise each see the others' leases as lapsed, and take their work over."""

    type = BigInteger()
    inherit_cache = True


@compiles(database_now, "postgresql")
def _postgresql_now(_element: database_now, _compiler: Any, **_kw: Any) -> str:
    # statement_timestamp: the statement's start, not the transaction's; stable within it, so indexes still serve
    # comparisons with it (clock_timestamp is volatile: every claim would scan the requests table).
    return "CAST(EXTRACT(EPOCH FROM statement_timestamp()) AS BIGINT)"


@compiles(database_now, "sqlite")
def _sqlite_now(_element: database_now, _compiler: Any, **_kw: Any) -> str:
    return "CAST(strftime('%s', 'now') AS INTEGER)"  # unixepoch() only from SQLite 3.38


def sole_gateway_lock(url: str) -> int | None:
    """On SQLite, an exclusive lock on ``<database>.lock`` held while the gateway runs (its file descriptor, to
    close at shutdown; None on PostgreSQL). SQLite serves one gateway: a second on the same file would free the
    first one's leases at its start and run the same requests again. The kernel drops the lock when the process
    dies, however it dies, so a crash leaves nothing to clean up."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    path = f"{parsed.database}.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(descriptor)
        if not isinstance(error, BlockingIOError):
            raise
        raise RuntimeError(
            f"Another gateway is running on the job store {parsed.database}: SQLite serves one gateway. Stop it, "
            "give this one its own --data-dir, or run several on one PostgreSQL (--database-url postgresql://…)."
        ) from None
    return descriptor


UNREACHABLE_STATES = ("08", "57P", "53300")  # SQLSTATE: connection exceptions, shutting down or starting, too many
SQLITE_BUSY = ("database is locked", "unable to open database", "disk i/o error")


def unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached now (down, restarting, every connection busy) rather
    than that a statement is wrong: worth a 503 and a retry, not a 500."""
    if isinstance(error, DBAPIError):
        state = str(getattr(error.orig, "sqlstate", None) or "")
        if error.connection_invalidated or isinstance(error, InterfaceError) or state.startswith(UNREACHABLE_STATES):
            return True
        return isinstance(error, OperationalError) and any(words in str(error.orig).lower() for words in SQLITE_BUSY)
    # OSError: asyncpg's own, unwrapped, when no address of the host answers (ConnectionRefusedError, or "Multiple
    # exceptions" for a host with several addresses).
    return isinstance(error, (PoolTimeout, OSError, TimeoutError))


def check_sqlite(version: tuple[int, int, int]) -> None:
    """Refuses an SQLite older than 3.35 at start: claims use ``UPDATE … RETURNING``, which it lacks — every
    claim would fail, and no batch would ever run."""
    if version < MIN_SQLITE:
        found, needed = ".".join(map(str, version)), ".".join(map(str, MIN_SQLITE))
        raise RuntimeError(
            f"The job store needs SQLite {needed} or newer (UPDATE … RETURNING); this Python has {found}. "
            "Use a newer Python or SQLite, or --database-url postgresql://…, or --no-batch-api."
        )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: readers never block the writer; FULL: a commit is on disk when it returns.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def migrate(connection: Connection, revision: str = "head") -> None:
    """Brings the schema to ``revision`` (Alembic, on this connection)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def finished_when_cancelled(store: Store) -> Store:
    """Each public ``async def`` of ``store`` runs to its end even when its caller is cancelled meanwhile (a client
    leaving, a worker stopping), and the cancellation is raised once it has: a store call cut off in the middle
    of a transaction can leave its SQLite connection holding the write lock, and every other writer then waits
    out ``busy_timeout`` (seen: a gateway's shutdown 60–90 s late). Store calls are short, so nothing waits long."""
    for name, method in list(vars(store).items()):
        if getattr(method, "interruptible", False):
            continue
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(store, name, to_the_end(method))
    return store


def interruptible(method: Method) -> Method:
    """Leaves ``method`` out of ``finished_when_cancelled``: a long call (writing a large output) that cleans up
    after itself when cancelled, and must not hold a shutdown until it is done."""
    method.interruptible = True  # type: ignore[attr-defined]
    return method


def to_the_end(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """``method`` run to its end even when its caller is cancelled meanwhile (see ``finished_when_cancelled``)."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        task = asyncio.ensure_future(method(*args, **kwargs))
        cancelled: asyncio.CancelledError | None = None
        while not task.done():
            try:
                await asyncio.wait([task])  # waiting is cancelled, never the call
            except asyncio.CancelledError as error:
                cancelled = error
        if cancelled is not None:
            if not task.cancelled():
                task.exception()  # read: the caller's cancellation is what it gets, even where the call failed
            raise cancelled
        return task.result()

    return call
