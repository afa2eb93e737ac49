"""Full M2M OAuth surface: client options, not-before, revocation list, used assertions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("options", sa.JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("auth_method", sa.String(32), nullable=False, server_default="client_secret")
        )
        batch.add_column(sa.Column("secret_enc", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("previous_secret_enc", sa.LargeBinary, nullable=True))
        batch.add_column(sa.Column("not_before", sa.BigInteger, nullable=False, server_default="0"))
        batch.add_column(sa.Column("options", sa.JSON, nullable=False, server_default="{}"))
    op.create_table(
        "revoked_tokens",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("jti", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])
    op.create_table(
        "used_assertions",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_used_assertions_expires_at", "used_assertions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_assertions_expires_at", table_name="used_assertions")
    op.drop_table("used_assertions")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    with op.batch_alter_table("clients") as batch:
        for column in ("options", "not_before", "previous_secret_enc", "secret_enc", "auth_method"):
            batch.drop_column(column)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("options")
