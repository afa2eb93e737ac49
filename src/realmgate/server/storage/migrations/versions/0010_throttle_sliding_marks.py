"""Throttle: sliding windows and marks that every node reads.

``previous`` keeps the previous window-long bucket's failures (the sliding window counter),
``marked_at`` when a key's mark (a block, or a known good source of a client) was last raised,
so that each worker reads the marks the others raised; ``key`` is wider for the known good
sources' keys (tenant, client id and source address).

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "auth_failures", sa.Column("previous", sa.Integer, nullable=False, server_default="0")
    )
    op.add_column(
        "auth_failures", sa.Column("marked_at", sa.Float, nullable=False, server_default="0")
    )
    op.create_index("ix_auth_failures_marked_at", "auth_failures", ["marked_at"])
    if op.get_bind().dialect.name != "sqlite":  # SQLite does not enforce a VARCHAR's length
        op.alter_column("auth_failures", "key", type_=sa.String(320), existing_type=sa.String(256))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DELETE FROM auth_failures WHERE length(key) > 256")
        op.alter_column("auth_failures", "key", type_=sa.String(256), existing_type=sa.String(320))
    op.drop_index("ix_auth_failures_marked_at", table_name="auth_failures")
    with op.batch_alter_table("auth_failures") as batch:
        batch.drop_column("marked_at")
        batch.drop_column("previous")
