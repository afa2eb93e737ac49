"""Initial schema: meta, tenants, clients, signing keys, change feed.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "tenants",
        sa.Column("shortcode", sa.String(63), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("signing_alg", sa.String(16), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("access_token_lifespan", sa.Integer, nullable=False),
        sa.Column("session_max_lifespan", sa.Integer, nullable=False),
        sa.Column("not_before", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("client_id", sa.String(128), primary_key=True),
        sa.Column("sub", sa.String(36), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("secret_hash", sa.LargeBinary, nullable=False),
        sa.Column("previous_secret_hash", sa.LargeBinary, nullable=True),
        sa.Column("previous_secret_expires_at", sa.BigInteger, nullable=True),
        sa.Column("access_token_lifespan", sa.Integer, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
    )
    op.create_table(
        "signing_keys",
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("verify_until", sa.BigInteger, nullable=True),
        sa.ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
    )
    op.create_table(
        "changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_changes_at", "changes", ["at"])


def downgrade() -> None:
    op.drop_index("ix_changes_at", table_name="changes")
    for table in ("changes", "signing_keys", "clients", "tenants", "meta"):
        op.drop_table(table)
