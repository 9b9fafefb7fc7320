"""Batch requests claimed in small units by every gateway that has room, each row under a lease of its own.

A claim takes a few pending rows whose lease is free (never taken, or lapsed: its holder stopped renewing it,
so it died) and leases them to the claiming gateway, which renews them while they run and clears the lease when
it records the answer. On PostgreSQL ``SELECT … FOR UPDATE SKIP LOCKED`` lets gateways claiming at the same
moment take different rows without waiting on each other; SQLite (one gateway) has no such clause and the
conditional UPDATE alone decides.

Fairness: a claim spreads its slots max-min fair over the runnable batches — first the API key (owner) with the
fewest requests running on all gateways, then that key's batch with the fewest, oldest first — so one huge batch
does not starve a small one submitted after it, by the same key or another.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.jobstore.database import database_now, finished_when_cancelled
from gateway.jobstore.tables import UNANSWERED, batch_requests, batches

RUNNABLE_PER_OWNER = 50  # a claim spreads its slots over each key's oldest runnable batches, this many at most
Key = tuple[str, int]  # (batch id, line): one unit


@dataclass(frozen=True)
class Unit:
    """One batch request, claimed: what the worker needs to run it."""

    batch_id: str
    line: int
    custom_id: str | None
    body: dict[str, Any] | None
    attempts: int = 0  # runs started before this claim (a run that never answered: its gateway or engine died)

    @property
    def key(self) -> Key:
        return self.batch_id, self.line


@dataclass
class Claimed:
    units: list[Unit] = field(default_factory=list)
    takeovers: int = 0  # units whose previous holder's lease had lapsed


@dataclass(frozen=True)
class Runnable:
    batch_id: str
    owner: str


def share(runnable: Sequence[Runnable], running: Mapping[str, int], slots: int) -> Counter[str]:
    """How many of ``slots`` units each batch gets: one at a time to the owner with the fewest running (ties: the
    owner of the oldest batch), to its batch with the fewest running (ties: the oldest). ``runnable`` is oldest
    first; ``running`` counts live leases per batch."""
    by_batch = {batch.batch_id: running.get(batch.batch_id, 0) for batch in runnable}
    by_owner: dict[str, int] = {}
    for batch in runnable:
        by_owner[batch.owner] = by_owner.get(batch.owner, 0) + by_batch[batch.batch_id]
    plan: Counter[str] = Counter()
    for _ in range(slots if runnable else 0):
        owner = min(by_owner, key=by_owner.__getitem__)  # min keeps the first of equals: the oldest
        batch_id = min((b.batch_id for b in runnable if b.owner == owner), key=by_batch.__getitem__)
        plan[batch_id] += 1
        by_owner[owner] += 1
        by_batch[batch_id] += 1
    return plan


def _lease_free() -> Any:
    return or_(batch_requests.c.lease_expires_at.is_(None), batch_requests.c.lease_expires_at < database_now())


@finished_when_cancelled
class UnitClaims:
    """The worker's side of ``batch_requests``: claim, renew, release, count an attempt, record an answer."""

    def __init__(self, database: AsyncEngine, leases: AsyncEngine | None = None) -> None:
        self._database = database
        self._leases = leases or database  # renewals' own connections

    async def claim(self, worker: str, slots: int, lease_seconds: int) -> Claimed:
        """Up to ``slots`` units of in-progress batches, shared fairly, now leased to ``worker``."""
        runnable, running = await self._runnable()
        claimed = Claimed()
        while slots > 0 and runnable:
            exhausted = set()
            for batch_id, wanted in share(runnable, running, slots).items():
                units, takeovers = await self._claim_in(batch_id, wanted, worker, lease_seconds)
                claimed.units += units
                claimed.takeovers += takeovers
                slots -= len(units)
                running[batch_id] = running.get(batch_id, 0) + len(units)
                if len(units) < wanted:
                    exhausted.add(batch_id)  # everything else in it is running or answered
            runnable = [batch for batch in runnable if batch.batch_id not in exhausted]
        return claimed

    async def _runnable(self) -> tuple[list[Runnable], dict[str, int]]:
        """The in-progress batches in creation order, and how many units of each run (live leases) anywhere."""
        # A window per key: a key with thousands of batches neither slows the claim nor hides other keys' batches.
        oldest_first = func.row_number().over(partition_by=batches.c.owner, order_by=batches.c.seq)
        ranked = (
            select(batches.c.id, batches.c.owner, batches.c.seq, oldest_first.label("rank"))
            .where(batches.c.status == "in_progress", batches.c.expires_at > database_now())
            .subquery()
        )
        active = select(ranked.c.id, ranked.c.owner).where(ranked.c.rank <= RUNNABLE_PER_OWNER).order_by(ranked.c.seq)
        leased = (
            select(batch_requests.c.batch_id, func.count())
            .where(batch_requests.c.lease_expires_at >= database_now(), batch_requests.c.state == "pending")
            .group_by(batch_requests.c.batch_id)
        )
        async with self._database.connect() as connection:
            runnable = [Runnable(batch_id, owner) for batch_id, owner in (await connection.execute(active)).all()]
            running = {batch_id: number for batch_id, number in (await connection.execute(leased)).all()}
        return runnable, running

    async def _claim_in(self, batch_id: str, wanted: int, worker: str, lease_seconds: int) -> tuple[list[Unit], int]:
        """The first ``wanted`` free pending rows of one batch, leased in one short transaction."""
        where = (batch_requests.c.batch_id == batch_id, batch_requests.c.state == "pending", _lease_free())
        candidates = (
            select(
                batch_requests.c.line,
                batch_requests.c.custom_id,
                batch_requests.c.body,
                batch_requests.c.lease_owner,
                batch_requests.c.attempts,
            )
            .where(*where)
            .order_by(batch_requests.c.line)
            .limit(wanted)
            .with_for_update(skip_locked=True)  # PostgreSQL: rows another claim holds are skipped, not waited on
        )
        async with self._database.begin() as connection:
            rows = (await connection.execute(candidates)).all()
            if not rows:
                return [], 0
            taken = await connection.execute(
                update(batch_requests)
                .where(*where, batch_requests.c.line.in_([row.line for row in rows]))
                .values(lease_owner=worker, lease_expires_at=database_now() + lease_seconds)
                .returning(batch_requests.c.line)
            )
            lines = set(taken.scalars().all())
        units = [Unit(batch_id, row.line, row.custom_id, row.body, row.attempts) for row in rows if row.line in lines]
        return units, sum(1 for row in rows if row.line in lines and row.lease_owner is not None)

    async def renew(self, worker: str, keys: Iterable[Key], lease_seconds: int) -> set[Key]:
        """Extends ``worker``'s leases on these units; the keys it still held (another gateway took the others
        over: their runs here must stop)."""
        return await self._set_leases(worker, keys, self._leases, lease_expires_at=database_now() + lease_seconds)

    async def release(self, worker: str, keys: Iterable[Key], *, retry_in: int = 0) -> None:
        """Gives these units back: pending, free for the next claim — at once, or after ``retry_in`` seconds (a
        lease held by no one until then)."""
        lapse = database_now() + retry_in if retry_in else None
        await self._set_leases(worker, keys, self._database, lease_owner=None, lease_expires_at=lapse)

    @staticmethod
    async def _set_leases(worker: str, keys: Iterable[Key], database: AsyncEngine, **values: Any) -> set[Key]:
        """Sets these units' lease columns where ``worker`` holds them; the keys it held."""
        lines: dict[str, list[int]] = defaultdict(list)
        for batch_id, line in keys:
            lines[batch_id].append(line)
        held: set[Key] = set()
        async with database.begin() as connection:
            for batch_id, numbers in lines.items():
                changed = await connection.execute(
                    update(batch_requests)
                    .where(batch_requests.c.batch_id == batch_id, batch_requests.c.line.in_(numbers))
                    .where(batch_requests.c.lease_owner == worker)
                    .values(**values)
                    .returning(batch_requests.c.line)
                )
                held.update((batch_id, line) for line in changed.scalars().all())
        return held

    async def release_all(self, worker: str | None = None) -> None:
        """Frees ``worker``'s unit leases (everyone's when None: a single gateway restarting on SQLite)."""
        statement = (
            update(batch_requests)
            .where(batch_requests.c.lease_expires_at.is_not(None))
            .values(lease_owner=None, lease_expires_at=None)
        )
        if worker is not None:
            statement = statement.where(batch_requests.c.lease_owner == worker)
        async with self._database.begin() as connection:
            await connection.execute(statement)

    async def count_attempt(self, unit: Unit, change: int = 1) -> None:
        """Committed before the engine sees the request: a crash then shows as a second attempt (``change`` -1
        takes one back)."""
        async with self._database.begin() as connection:
            await connection.execute(_row(unit).values(attempts=batch_requests.c.attempts + change))

    async def record(self, unit: Unit, ok: bool, result: dict[str, Any]) -> None:
        """A request's output line; only a pending request takes one, so each line is answered once."""
        state = "completed" if ok else "failed"
        # Not once the batch was finished (a gateway that stalled past its lease answering late): its files are out.
        unfinished = exists().where(batches.c.id == unit.batch_id, batches.c.status.in_(("in_progress", "cancelling")))
        async with self._database.begin() as connection:
            answered = await connection.execute(
                _row(unit)
                .where(batch_requests.c.state == "pending", unfinished)
                .values(state=state, result=result, lease_owner=None, lease_expires_at=None)
            )
            if answered.rowcount == 1:
                counter = batches.c[f"requests_{state}"]
                await connection.execute(
                    update(batches).where(batches.c.id == unit.batch_id).values({counter: counter + 1})
                )

    async def statuses(self, batch_ids: Iterable[str]) -> dict[str, tuple[str, bool]]:
        """batch id → (status, past its window by the database's clock): whether its running units should go on."""
        expired = (batches.c.expires_at <= database_now()).label("expired")
        statement = select(batches.c.id, batches.c.status, expired).where(batches.c.id.in_(batch_ids))
        async with self._database.connect() as connection:
            return {batch_id: (status, bool(past)) for batch_id, status, past in (await connection.execute(statement))}

    async def queue_depth(self) -> int:
        """Pending requests of in-progress batches, on every gateway: the work not yet answered (from the batches'
        counters: one row per batch read, not one per request)."""
        statement = select(func.coalesce(func.sum(UNANSWERED), 0)).where(batches.c.status == "in_progress")
        async with self._database.connect() as connection:
            return int((await connection.execute(statement)).scalar_one())


def _row(unit: Unit) -> Any:
    return update(batch_requests).where(batch_requests.c.batch_id == unit.batch_id, batch_requests.c.line == unit.line)
