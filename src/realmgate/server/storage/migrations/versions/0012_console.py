"""The admin console: operator accounts, their sessions, and traffic per tenant and minute.

- ``operators``: username, role, Argon2id password hash, TOTP (secret AES-GCM under the master
  key, last step used: replays refused on every node);
- ``console_sessions``: only the SHA-256 of the cookie value is kept, with the session's CSRF
  token, stage (``ok``, ``totp``, ``enroll``) and times (idle and absolute timeouts);
- ``traffic``: tokens issued and failed client authentications per (minute, tenant), added to
  by every worker and read by the dashboard.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("totp_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("totp_secret_enc", sa.LargeBinary, nullable=True),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("last_signin_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(8), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["username"], ["operators.username"], ondelete="CASCADE"),
    )
    op.create_index("ix_console_sessions_username", "console_sessions", ["username"])
    op.create_index("ix_console_sessions_last_seen", "console_sessions", ["last_seen"])
    op.create_index("ix_console_sessions_created_at", "console_sessions", ["created_at"])
    op.create_table(
        "traffic",
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("tenant", sa.String(63), primary_key=True),
        sa.Column("tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("failures", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("traffic")
    op.drop_index("ix_console_sessions_created_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_last_seen", table_name="console_sessions")
    op.drop_index("ix_console_sessions_username", table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("operators")
