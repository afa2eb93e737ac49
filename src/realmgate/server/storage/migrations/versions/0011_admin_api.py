"""The admin API (Keycloak's model): realm roles, Keycloak ids of realms and clients, disabled
realms, and secrets revealable once.

- ``tenants.enabled`` (a disabled realm issues no tokens) and ``tenants.realm_id`` (Keycloak's
  realm ``id``, a UUID given to every existing realm);
- ``clients.internal_id`` (Keycloak's client ``id``, a UUID given to every existing client,
  unique in its tenant), ``reveal_enc``/``reveal_until`` (a new secret, AES-GCM under the
  master key, readable once until then), indexes to find a client by id and by ``sub``;
- ``realm_roles``, filled with the roles existing clients hold.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _backfill(conn: sa.Connection, now: int) -> None:
    tenants = sa.table("tenants", sa.column("shortcode", sa.String), sa.column("realm_id"))
    clients = sa.table(
        "clients",
        sa.column("tenant", sa.String),
        sa.column("client_id", sa.String),
        sa.column("roles", sa.JSON),
        sa.column("internal_id", sa.String),
    )
    roles = sa.table(
        "realm_roles",
        sa.column("tenant", sa.String),
        sa.column("name", sa.String),
        sa.column("id", sa.String),
        sa.column("description", sa.String),
        sa.column("created_at", sa.BigInteger),
    )
    for (shortcode,) in conn.execute(sa.select(tenants.c.shortcode)).all():
        conn.execute(
            sa.update(tenants)
            .where(tenants.c.shortcode == shortcode)
            .values(realm_id=str(uuid.uuid4()))
        )
    held: dict[str, set[str]] = {}
    rows = conn.execute(sa.select(clients.c.tenant, clients.c.client_id, clients.c.roles)).all()
    for tenant, client_id, client_roles in rows:
        conn.execute(
            sa.update(clients)
            .where(clients.c.tenant == tenant, clients.c.client_id == client_id)
            .values(internal_id=str(uuid.uuid4()))
        )
        held.setdefault(tenant, set()).update(client_roles or ())
    for tenant, names in sorted(held.items()):
        for name in sorted(names):
            conn.execute(
                sa.insert(roles).values(
                    tenant=tenant,
                    name=name,
                    id=str(uuid.uuid4()),
                    description=None,
                    created_at=now,
                )
            )


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (a batch on SQLite could copy and drop ``tenants``,
    # whose drop cascades to its keys and clients with foreign keys on).
    op.add_column(
        "tenants", sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.add_column(
        "tenants", sa.Column("realm_id", sa.String(36), nullable=False, server_default="")
    )
    op.add_column(
        "clients", sa.Column("internal_id", sa.String(36), nullable=False, server_default="")
    )
    op.add_column("clients", sa.Column("reveal_enc", sa.LargeBinary, nullable=True))
    op.add_column("clients", sa.Column("reveal_until", sa.BigInteger, nullable=True))
    op.create_table(
        "realm_roles",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
    )
    _backfill(op.get_bind(), int(time.time()))
    op.create_index(
        "uq_clients_internal_id",
        "clients",
        ["tenant", "internal_id"],
        unique=True,
        sqlite_where=sa.text("internal_id <> ''"),
        postgresql_where=sa.text("internal_id <> ''"),
    )
    op.create_index("ix_clients_sub", "clients", ["tenant", "sub"])
    op.create_index("ix_clients_reveal_until", "clients", ["reveal_until"])


def downgrade() -> None:
    op.drop_index("ix_clients_reveal_until", table_name="clients")
    op.drop_index("ix_clients_sub", table_name="clients")
    op.drop_index("uq_clients_internal_id", table_name="clients")
    op.drop_table("realm_roles")
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a copy of ``tenants`` (see upgrade)
    for table, column in (
        ("clients", "reveal_until"),
        ("clients", "reveal_enc"),
        ("clients", "internal_id"),
        ("tenants", "realm_id"),
        ("tenants", "enabled"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
