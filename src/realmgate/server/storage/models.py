"""SQLAlchemy table definitions. Alembic migrations (``migrations/``) create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
    true,
)

metadata = MetaData()

# Integer that is BIGINT on PostgreSQL but still an auto-increment rowid alias on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

meta = Table(
    "meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("shortcode", String(63), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("signing_alg", String(16), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("access_token_lifespan", Integer, nullable=False),
    Column("session_max_lifespan", Integer, nullable=False),
    Column("not_before", BigInteger, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Column("options", JSON, nullable=False, server_default="{}"),
    # revision 0011: Keycloak's realm id, and whether the realm issues tokens
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("realm_id", String(36), nullable=False, server_default=""),
    # revision 0013: every client must send a DPoP proof (RFC 9449)
    Column("dpop_required", Boolean, nullable=False, server_default=false()),
)

clients = Table(
    "clients",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("client_id", String(128), primary_key=True),
    Column("sub", String(36), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("roles", JSON, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("previous_secret_hash", LargeBinary, nullable=True),
    Column("previous_secret_expires_at", BigInteger, nullable=True),
    Column("access_token_lifespan", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("auth_method", String(32), nullable=False, server_default="client_secret"),
    Column("secret_enc", LargeBinary, nullable=True),
    Column("previous_secret_enc", LargeBinary, nullable=True),
    Column("not_before", BigInteger, nullable=False, server_default="0"),
    Column("options", JSON, nullable=False, server_default="{}"),
    Column("version", Integer, nullable=False, server_default="0"),
    # revision 0011: Keycloak's client id, and a new secret revealable once until reveal_until
    Column("internal_id", String(36), nullable=False, server_default=""),
    Column("reveal_enc", LargeBinary, nullable=True),
    Column("reveal_until", BigInteger, nullable=True),
    # revision 0013: sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS) and the subject
    # that tls_client_auth matches
    Column("dpop_bound", Boolean, nullable=False, server_default=false()),
    Column("cert_bound", Boolean, nullable=False, server_default=false()),
    Column("tls_subject_dn", Text, nullable=True),
    Column("tls_san", Text, nullable=True),
    ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
    # unique where given (rows written without one, e.g. by bench/seed.py, have '')
    Index(
        "uq_clients_internal_id",
        "tenant",
        "internal_id",
        unique=True,
        sqlite_where=text("internal_id <> ''"),
        postgresql_where=text("internal_id <> ''"),
    ),
    Index("ix_clients_sub", "tenant", "sub"),
    Index("ix_clients_reveal_until", "reveal_until"),
)

# Realm roles (revision 0011); clients hold them by name (clients.roles).
realm_roles = Table(
    "realm_roles",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("description", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_key_enc", LargeBinary, nullable=False),
    Column("public_jwk", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("verify_until", BigInteger, nullable=True),
    ForeignKeyConstraint(["tenant"], ["tenants.shortcode"], ondelete="CASCADE"),
    Index("ix_signing_keys_status_created_at", "status", "created_at"),
    # at most one active key per tenant (migration 0007)
    Index(
        "uq_signing_keys_one_active",
        "tenant",
        unique=True,
        sqlite_where=text("status = 'active'"),
        postgresql_where=text("status = 'active'"),
    ),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tenant", String(63), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key", String(128), nullable=False),
    Column("at", BigInteger, nullable=False),
    Index("ix_changes_at", "at"),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("jti", String(128), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=False),
    Index("ix_revoked_tokens_expires_at", "expires_at"),
)

used_assertions = Table(
    "used_assertions",
    metadata,
    Column("tenant", String(63), primary_key=True),
    Column("client_id", String(128), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_used_assertions_expires_at", "expires_at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(64), nullable=False),
    Column("tenant", String(63), nullable=False),
    Column("target", String(128), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_events_tenant_at", "tenant", "at"),
)

# The throttle's shared state: per key, the failures of the current and of the previous
# window-long bucket (storage/sliding.py), and a mark (a block, or a known good source of a
# client) that ends at blocked_until, raised at marked_at (revision 0010).
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(320), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("blocked_until", Float, nullable=False),
    Column("previous", Integer, nullable=False, server_default="0"),
    Column("marked_at", Float, nullable=False, server_default="0"),
    Index("ix_auth_failures_marked_at", "marked_at"),
)

# revision 0012: the admin console's operators, their sessions, and traffic per minute
operators = Table(
    "operators",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("totp_enabled", Boolean, nullable=False, server_default=false()),
    Column("totp_secret_enc", LargeBinary, nullable=True),
    Column("totp_last_step", BigInteger, nullable=False, server_default="0"),
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("last_signin_at", BigInteger, nullable=True),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("stage", String(8), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("source", String(64), nullable=True),
    ForeignKeyConstraint(["username"], ["operators.username"], ondelete="CASCADE"),
    Index("ix_console_sessions_username", "username"),
    Index("ix_console_sessions_last_seen", "last_seen"),
    Index("ix_console_sessions_created_at", "created_at"),
)

traffic = Table(
    "traffic",
    metadata,
    Column("minute", BigInteger, primary_key=True),
    Column("tenant", String(63), primary_key=True),
    Column("tokens", BigInteger, nullable=False, server_default="0"),
    Column("failures", BigInteger, nullable=False, server_default="0"),
)
