"""Reading an owner's rows (files, batches): one by id, or a page in creation order after a given object."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, Select, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.errors import NotFound
from gateway.jobstore.wire import is_id


async def owned_row(connection: AsyncConnection, table: Table, owner: str, object_id: str) -> RowMapping | None:
    """The owner's row with this id; None for another owner's, a missing one, or text that is no id at all."""
    if not is_id(object_id):
        return None
    statement = select(table).where(table.c.owner == owner, table.c.id == object_id)
    return (await connection.execute(statement)).mappings().first()


async def owned_page(
    connection: AsyncConnection,
    statement: Select[tuple],
    table: Table,
    *,
    owner: str,
    after: str | None,
    limit: int,
    ascending: bool,
    kind: str,
) -> Sequence[RowMapping]:
    """Up to ``limit`` + 1 rows of ``statement`` (one more than asked says there are more), in creation order,
    after the owner's object ``after``; 404 naming ``after`` when the owner has no such ``kind`` object."""
    if after:
        cursor = await owned_row(connection, table, owner, after)
        if cursor is None:
            raise NotFound(f"No such {kind} object: {after}", param="after")
        statement = statement.where(table.c.seq > cursor["seq"] if ascending else table.c.seq < cursor["seq"])
    statement = statement.order_by(table.c.seq if ascending else table.c.seq.desc()).limit(limit + 1)
    return (await connection.execute(statement)).mappings().all()
