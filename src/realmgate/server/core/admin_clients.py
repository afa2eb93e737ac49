"""Admin services for clients: creation, options, secrets (rotation with overlap), not-before."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from realmgate.server.core.client_config import (
    ConfigError,
    check_audiences,
    check_claims,
    check_jwks,
    check_jwks_uri,
    check_lifespan,
    check_roles,
    check_scope_name,
)
from realmgate.server.crypto import new_client_secret
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.storage.records import (
    AuditEvent,
    AuthMethod,
    ClientRecord,
    TenantRecord,
    TokenProfile,
)
from realmgate.server.vault import Vault
from realmgate.wire.names import is_client_id, is_shortcode

audit_log = logging.getLogger("realmgate.audit")

# How long the previous secret keeps working after a rotation, unless the caller says.
DEFAULT_SECRET_GRACE = 24 * 3600
AUTH_METHODS: tuple[AuthMethod, ...] = ("client_secret", "client_secret_jwt", "private_key_jwt")


class AdminError(Exception):
    """A bad admin request: unknown tenant or client, invalid name, duplicate."""


class NotFound(AdminError):
    pass


class Conflict(AdminError):
    pass


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A client's credentials as handed out once. The secret never shows in a repr."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)


class ClientAdmin:
    """Client operations; :class:`~realmgate.server.core.admin.Admin` adds tenants and keys."""

    store: Store
    vault: Vault
    clock: Callable[[], float]
    actor: str

    def _now(self) -> int:
        return int(self.clock())

    def _audit(self, action: str, tenant: str, target: str, **details: Any) -> None:
        """Record an admin change in the audit table and as a log line. Never a secret."""
        event = AuditEvent(self._now(), self.actor, action, tenant, target, details)
        self.store.record_audit(event)
        audit_log.info(
            "%s %s/%s by %s",
            action,
            tenant,
            target,
            self.actor,
            extra={"event": action, "tenant": tenant, "target": target, "actor": self.actor},
        )

    def get_tenant(self, shortcode: str) -> TenantRecord:
        tenant = self.store.get_tenant(shortcode) if is_shortcode(shortcode) else None
        if tenant is None:
            raise NotFound(f"unknown tenant {shortcode[:70]!r}")
        return tenant

    def _check_client_id(self, client_id: str) -> None:
        if not is_client_id(client_id):
            raise AdminError(
                f"invalid client id {client_id[:70]!r}: use 1-128 letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )

    def _new_client(
        self,
        tenant: str,
        client_id: str,
        roles: tuple[str, ...],
        now: int,
        auth_method: AuthMethod = "client_secret",
    ) -> tuple[ClientRecord, str]:
        secret = new_client_secret()
        record = ClientRecord(
            tenant=tenant,
            client_id=client_id,
            sub=str(uuid.uuid4()),
            enabled=True,
            roles=roles,
            secret_hash=self.vault.hasher.hash(secret),
            created_at=now,
            updated_at=now,
            auth_method=auth_method,
            secret_enc=self.vault.encrypt_client_secret(tenant, client_id, secret)
            if auth_method == "client_secret_jwt"
            else None,
        )
        return record, secret

    def create_client(
        self,
        tenant: str,
        client_id: str,
        *,
        roles: tuple[str, ...] = (),
        auth_method: AuthMethod = "client_secret",
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
    ) -> IssuedCredentials:
        """Create a client. For ``private_key_jwt`` the returned secret is unused (no secret
        authentication is accepted); the client's JWKS or JWKS URI is required."""
        self.get_tenant(tenant)
        self._check_client_id(client_id)
        if auth_method not in AUTH_METHODS:
            raise AdminError(f"unknown auth method {auth_method!r}: use one of {AUTH_METHODS}")
        try:
            roles = check_roles(roles)
            jwks = check_jwks(jwks) if jwks is not None else None
            jwks_uri = check_jwks_uri(jwks_uri) if jwks_uri is not None else None
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        if auth_method == "private_key_jwt" and (jwks is None) == (jwks_uri is None):
            raise AdminError("a private_key_jwt client needs exactly one of a JWKS or a JWKS URI")
        record, secret = self._new_client(tenant, client_id, roles, self._now(), auth_method)
        record = replace(record, jwks=jwks, jwks_uri=jwks_uri)
        try:
            self.store.create_client(record)
        except DuplicateError:
            raise Conflict(f"client {client_id!r} exists already in tenant {tenant!r}") from None
        self._audit("client.created", tenant, client_id, authMethod=auth_method, roles=list(roles))
        # A private_key_jwt client authenticates with its key only: its secret is never shown.
        return IssuedCredentials(
            tenant, client_id, "" if auth_method == "private_key_jwt" else secret
        )

    def get_client(self, tenant: str, client_id: str) -> ClientRecord:
        self.get_tenant(tenant)
        client = self.store.get_client(tenant, client_id) if is_client_id(client_id) else None
        if client is None:
            raise NotFound(f"unknown client {client_id[:70]!r} in tenant {tenant!r}")
        return client

    def list_clients(self, tenant: str) -> list[ClientRecord]:
        self.get_tenant(tenant)
        return self.store.list_clients(tenant)

    def _update_client(
        self, tenant: str, client_id: str, change: Callable[[ClientRecord], ClientRecord]
    ) -> ClientRecord:
        """Read, change and write a client with optimistic concurrency: a concurrent change
        (another admin, another node) is never overwritten; this one is re-applied to it."""
        for _ in range(5):
            updated = replace(change(self.get_client(tenant, client_id)), updated_at=self._now())
            if self.store.update_client(updated):
                return replace(updated, version=updated.version + 1)
        raise Conflict(f"client {client_id!r} is being changed concurrently; try again")

    def set_client_enabled(self, tenant: str, client_id: str, enabled: bool) -> ClientRecord:
        client = self._update_client(tenant, client_id, lambda c: replace(c, enabled=enabled))
        self._audit("client.enabled" if enabled else "client.disabled", tenant, client_id)
        return client

    def delete_client(self, tenant: str, client_id: str) -> None:
        self.get_client(tenant, client_id)
        self.store.delete_client(tenant, client_id)
        self._audit("client.deleted", tenant, client_id)

    def rotate_secret(
        self, tenant: str, client_id: str, *, grace: int = DEFAULT_SECRET_GRACE
    ) -> IssuedCredentials:
        """A new secret; the previous one stays valid for ``grace`` seconds (0: ends now).

        At most two secrets are ever valid: a rotation during a grace period ends the older
        previous secret at once."""
        if grace < 0:
            raise AdminError("the grace period cannot be negative")
        now = self._now()
        secret = new_client_secret()

        def rotated(client: ClientRecord) -> ClientRecord:
            jwt_secret = client.auth_method == "client_secret_jwt"
            return replace(
                client,
                secret_hash=self.vault.hasher.hash(secret),
                secret_enc=self.vault.encrypt_client_secret(tenant, client_id, secret)
                if jwt_secret
                else None,
                previous_secret_hash=client.secret_hash if grace else None,
                previous_secret_enc=client.secret_enc if grace and jwt_secret else None,
                previous_secret_expires_at=now + grace if grace else None,
            )

        self._update_client(tenant, client_id, rotated)
        self._audit("client.secret_rotated", tenant, client_id, graceSeconds=grace)
        return IssuedCredentials(tenant, client_id, secret)

    def end_previous_secret(self, tenant: str, client_id: str) -> ClientRecord:
        """End the grace period of the previous secret now."""
        client = self._update_client(
            tenant,
            client_id,
            lambda c: replace(
                c,
                previous_secret_hash=None,
                previous_secret_enc=None,
                previous_secret_expires_at=None,
            ),
        )
        self._audit("client.previous_secret_ended", tenant, client_id)
        return client

    def revoke_client_tokens(self, tenant: str, client_id: str) -> int:
        """Not-before policy: every token the client got before now stops working."""
        now = self._now()
        self._update_client(tenant, client_id, lambda c: replace(c, not_before=now))
        self._audit("client.tokens_revoked", tenant, client_id, notBefore=now)
        return now

    def configure_client(
        self,
        tenant: str,
        client_id: str,
        *,
        access_token_lifespan: int | None = None,
        reset_lifespan: bool = False,
        roles: tuple[str, ...] | None = None,
        default_scopes: tuple[str, ...] | None = None,
        optional_scopes: tuple[str, ...] | None = None,
        audiences: tuple[str, ...] | None = None,
        claims: dict[str, Any] | None = None,
        token_profile: TokenProfile | None = None,
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
    ) -> ClientRecord:
        """Change a client's options; arguments left as None keep their value."""
        realm = self.get_tenant(tenant)
        self.get_client(tenant, client_id)
        changes: dict[str, Any] = {}
        try:
            if access_token_lifespan is not None:
                check_lifespan("the access token lifespan", access_token_lifespan)
                if access_token_lifespan > realm.session_max_lifespan:
                    raise ConfigError(
                        f"the lifespan cannot exceed the tenant's maximum "
                        f"({realm.session_max_lifespan} s)"
                    )
                changes["access_token_lifespan"] = access_token_lifespan
            if reset_lifespan:
                changes["access_token_lifespan"] = None
            if roles is not None:
                changes["roles"] = check_roles(roles)
            for name, scopes in (
                ("default_scopes", default_scopes),
                ("optional_scopes", optional_scopes),
            ):
                if scopes is not None:
                    unknown = [s for s in scopes if check_scope_name(s) not in realm.client_scopes]
                    if unknown:
                        raise ConfigError(f"unknown client scopes: {', '.join(unknown)}")
                    changes[name] = tuple(dict.fromkeys(scopes))
            if audiences is not None:
                changes["audiences"] = check_audiences(audiences) or None
            if claims is not None:
                changes["claims"] = check_claims(claims)
            if token_profile is not None:
                if token_profile not in ("jwt", "rfc9068"):
                    raise ConfigError("the token profile must be 'jwt' or 'rfc9068'")
                changes["token_profile"] = token_profile
            if jwks is not None:
                changes.update(jwks=check_jwks(jwks), jwks_uri=None)
            if jwks_uri is not None:
                changes.update(jwks_uri=check_jwks_uri(jwks_uri), jwks=None)
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        updated = self._update_client(tenant, client_id, lambda c: replace(c, **changes))
        self._audit("client.configured", tenant, client_id, changed=sorted(changes))
        return updated
