"""Sender-constrained tokens (DPoP, RFC 9449; mutual TLS, RFC 8705).

- ``clients.dpop_bound`` (Keycloak's ``dpop.bound.access.tokens``) and ``clients.cert_bound``
  (``tls.client.certificate.bound.access.tokens``), false for every existing client;
- ``clients.tls_subject_dn`` (RFC 4514 string) and ``clients.tls_san`` (``dns:``, ``uri:``,
  ``ip:`` or ``email:`` and the name), what ``tls_client_auth`` matches the certificate with;
- ``tenants.dpop_required``: every client of the tenant must send a DPoP proof.

``clients.auth_method`` (a plain ``VARCHAR(32)``) takes the two new values ``tls_client_auth``
and ``self_signed_tls_client_auth`` without a change.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ... ADD COLUMN (a batch on SQLite could copy and drop ``tenants``,
    # whose drop cascades to its keys and clients with foreign keys on), as in 0011.
    op.add_column(
        "clients", sa.Column("dpop_bound", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column(
        "clients", sa.Column("cert_bound", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("clients", sa.Column("tls_subject_dn", sa.Text, nullable=True))
    op.add_column("clients", sa.Column("tls_san", sa.Text, nullable=True))
    op.add_column(
        "tenants",
        sa.Column("dpop_required", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), never a copy of ``tenants`` (see upgrade)
    for table, column in (
        ("tenants", "dpop_required"),
        ("clients", "tls_san"),
        ("clients", "tls_subject_dn"),
        ("clients", "cert_bound"),
        ("clients", "dpop_bound"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
