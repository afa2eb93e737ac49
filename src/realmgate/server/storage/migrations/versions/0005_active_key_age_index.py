"""Index of signing keys by status and age: the scheduled rotation's query on every node.

Without it, finding the tenants whose active key is due reads every key (tens of
milliseconds per node and minute at 100,000 tenants, growing with them).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_signing_keys_status_created_at", "signing_keys", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_signing_keys_status_created_at", table_name="signing_keys")
