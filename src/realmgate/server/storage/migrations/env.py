"""Alembic environment: realmgate runs migrations programmatically on a given connection."""

from __future__ import annotations

from alembic import context

from realmgate.server.storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - realmgate always passes a connection
    raise RuntimeError("run migrations through 'realmgate db upgrade'")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
