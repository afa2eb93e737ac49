"""At most one active signing key per tenant (a partial unique index).

Concurrent rotations used to be able to leave a tenant with two active keys. A database that
has such a tenant keeps the key its realm signs with (the newest; of equal ages, the first by
kid) and retires the others as a rotation would: they verify for one more maximum token
lifespan (``session_max_lifespan``) from the upgrade on.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEX = "uq_signing_keys_one_active"
ACTIVE = "status = 'active'"


def _retire_extra_active_keys(conn: sa.Connection, now: int) -> None:
    keys = sa.table(
        "signing_keys",
        sa.column("tenant", sa.String),
        sa.column("kid", sa.String),
        sa.column("status", sa.String),
        sa.column("created_at", sa.BigInteger),
        sa.column("verify_until", sa.BigInteger),
    )
    tenants = sa.table(
        "tenants",
        sa.column("shortcode", sa.String),
        sa.column("session_max_lifespan", sa.Integer),
    )
    rows = conn.execute(
        sa.select(keys.c.tenant, keys.c.kid, tenants.c.session_max_lifespan)
        .join(tenants, tenants.c.shortcode == keys.c.tenant)
        .where(keys.c.status == "active")
        .order_by(keys.c.tenant, keys.c.created_at.desc(), keys.c.kid)
    ).all()
    kept: set[str] = set()
    for tenant, kid, lifespan in rows:
        if tenant not in kept:
            kept.add(tenant)  # the realm's signing key: the first in the realm's own order
            continue
        conn.execute(
            sa.update(keys)
            .where(keys.c.tenant == tenant, keys.c.kid == kid)
            .values(status="retired", verify_until=now + int(lifespan))
        )


def upgrade() -> None:
    _retire_extra_active_keys(op.get_bind(), int(time.time()))
    op.create_index(
        INDEX,
        "signing_keys",
        ["tenant"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="signing_keys")
