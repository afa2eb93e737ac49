"""Plain records exchanged with storage. Every row is keyed by its tenant.

Reprs never show secret material: hashes and encrypted keys are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

KeyStatus = Literal["active", "retired", "revoked"]


@dataclass(frozen=True, slots=True)
class TenantRecord:
    shortcode: str
    name: str
    signing_alg: str
    settings: dict[str, Any]
    access_token_lifespan: int
    session_max_lifespan: int
    not_before: int
    created_at: int
    updated_at: int
    # Optimistic concurrency: an update succeeds only against the version it read.
    version: int = 0


@dataclass(frozen=True, slots=True)
class ClientRecord:
    tenant: str
    client_id: str
    sub: str
    enabled: bool
    roles: tuple[str, ...]
    secret_hash: bytes = field(repr=False)
    created_at: int
    updated_at: int
    access_token_lifespan: int | None = None
    previous_secret_hash: bytes | None = field(default=None, repr=False)
    previous_secret_expires_at: int | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    tenant: str
    kid: str
    alg: str
    private_key_enc: bytes = field(repr=False)
    public_jwk: dict[str, Any]
    status: KeyStatus
    created_at: int
    # Set when the key stops signing: it stays in the JWKS until this time (the last
    # token it signed has expired by then).
    verify_until: int | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change, for cache invalidation on every node."""

    id: int
    tenant: str
    kind: Literal["tenant", "client", "keys"]
    key: str
