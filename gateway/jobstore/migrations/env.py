"""Alembic environment: runs on the connection the gateway hands over (see ``gateway.jobstore.database``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from gateway.jobstore.tables import metadata

connection = context.config.attributes["connection"]
if connection.dialect.name == "postgresql":
    # Gateways starting together on one database migrate one after another.
    connection.execute(text("SELECT pg_advisory_xact_lock(7261034)"))
context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
