"""Plain records exchanged with storage. Every row is keyed by its tenant.

Reprs never show secret material: hashes and encrypted keys are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

KeyStatus = Literal["active", "retired", "revoked"]
AuthMethod = Literal[
    "client_secret",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",  # RFC 8705 §2.1: a CA-issued certificate with the registered subject
    "self_signed_tls_client_auth",  # RFC 8705 §2.2: a certificate in the client's JWKS
]
TokenProfile = Literal["jwt", "rfc9068"]
DEFAULT_CLIENT_SCOPES: dict[str, str] = {
    "email": "default",
    "profile": "default",
    "openid": "optional",
}


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
    # Client scopes of the realm: name -> "default" (always granted) or "optional" (on request).
    client_scopes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLIENT_SCOPES))
    # A disabled realm issues no tokens and its tokens are refused; the admin API manages it.
    enabled: bool = True
    # Keycloak's realm ``id`` (a UUID given at creation).
    realm_id: str = ""
    # Keycloak realm fields kept and echoed, not acted on (defaultLocale, attributes, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    # Seconds between scheduled key rotations of this tenant (0: never); None: the server's
    # key_rotation_period (admin API ``key-policy``, honoured by the maintenance task).
    key_rotation_period: int | None = None
    # Every client of the tenant must send a DPoP proof (RFC 9449) and gets DPoP-bound tokens.
    dpop_required: bool = False


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
    # "client_secret" (post or basic), "client_secret_jwt" or "private_key_jwt".
    auth_method: AuthMethod = "client_secret"
    # client_secret_jwt needs the secret itself as an HMAC key: kept AES-GCM encrypted.
    secret_enc: bytes | None = field(default=None, repr=False)
    previous_secret_enc: bytes | None = field(default=None, repr=False)
    not_before: int = 0
    # None: the realm's default (resp. optional) client scopes.
    default_scopes: tuple[str, ...] | None = None
    optional_scopes: tuple[str, ...] | None = None
    # Audiences the client may get tokens for; None: the server's API audience only.
    audiences: tuple[str, ...] | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    # "jwt" (Keycloak-style) or "rfc9068" (header typ at+jwt, RFC 9068 claim set).
    token_profile: TokenProfile = "jwt"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    # Optimistic concurrency, as for tenants.
    version: int = 0
    # Keycloak's client ``id`` (a UUID given at creation), its name and description.
    internal_id: str = ""
    name: str | None = None
    description: str | None = None
    # Keycloak ClientRepresentation fields kept and echoed, not acted on (redirectUris, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    # Client roles of the realm's ``realm-management`` client held by this client.
    admin_roles: tuple[str, ...] = ()
    # A new secret readable once through the admin API until ``reveal_until``: AES-GCM under
    # the master key, destroyed on its first read or when the window ends.
    reveal_enc: bytes | None = field(default=None, repr=False)
    reveal_until: int | None = None
    # Sender-constrained tokens. ``dpop_bound`` (Keycloak's ``dpop.bound.access.tokens``): every
    # token request must carry a DPoP proof (RFC 9449), the token gets ``cnf.jkt``.
    # ``cert_bound`` (``tls.client.certificate.bound.access.tokens``): every token request must
    # come with a client certificate (RFC 8705 §3), the token gets ``cnf.x5t#S256``.
    dpop_bound: bool = False
    cert_bound: bool = False
    # tls_client_auth (RFC 8705 §2.1.2): exactly one of the subject DN (RFC 4514 string,
    # Keycloak's ``tls.client.auth.subject.dn``) or a subject alternative name written
    # "dns:<name>", "uri:<uri>", "ip:<address>" or "email:<address>".
    tls_subject_dn: str | None = None
    tls_san: str | None = None


@dataclass(frozen=True, slots=True)
class RoleRecord:
    """A realm role (Keycloak's): clients hold realm roles by name (``ClientRecord.roles``)."""

    tenant: str
    name: str
    id: str
    description: str | None
    created_at: int


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
    kind: Literal["tenant", "client", "keys", "revoked", "throttle"]
    key: str


@dataclass(frozen=True, slots=True)
class RevokedToken:
    tenant: str
    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An admin change: who did what to which tenant and object, when. Never a secret."""

    at: int
    actor: str
    action: str
    tenant: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True, slots=True)
class EncryptedSecrets:
    """A client's encrypted secrets (client_secret_jwt), as ``keys rewrap`` moves them."""

    tenant: str
    client_id: str
    secret_enc: bytes | None = field(repr=False)
    previous_secret_enc: bytes | None = field(repr=False)


ConsoleStage = Literal["ok", "totp", "enroll"]


@dataclass(frozen=True, slots=True)
class OperatorRecord:
    """A console operator. The password hash (Argon2id) and the TOTP secret (AES-GCM under the
    master key) never show in a repr."""

    username: str
    role: str
    password_hash: str = field(repr=False)
    totp_enabled: bool
    totp_secret_enc: bytes | None = field(repr=False)
    # The last TOTP time step accepted: a code of this step or earlier is refused (replay).
    totp_last_step: int
    enabled: bool
    created_at: int
    updated_at: int
    last_signin_at: int | None = None


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A console session. Only the SHA-256 of the cookie value is kept (``id_hash``); the CSRF
    token is per session and never shows in a repr."""

    id_hash: str
    username: str
    stage: ConsoleStage
    csrf: str = field(repr=False)
    created_at: int
    last_seen: int
    source: str | None = None


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """Tokens issued and failed client authentications of a tenant during one minute
    (``minute``: Unix time // 60)."""

    minute: int
    tenant: str
    tokens: int = 0
    failures: int = 0
