"""Admin services for clients: creation, options, secrets (rotation with overlap), not-before."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from realmgate.server.core.admin_errors import (
    DEFAULT_SECRET_GRACE,
    AdminError,
    Conflict,
    IssuedCredentials,
    NotFound,
)
from realmgate.server.core.admin_secrets import ClientSecrets
from realmgate.server.core.client_config import (
    AUTH_METHODS,
    KEY_METHODS,
    ConfigError,
    changed_client,
    check_admin_roles,
    check_audiences,
    check_claims,
    check_client_auth,
    check_extra,
    check_jwks,
    check_jwks_uri,
    check_lifespan,
    check_roles,
    check_scope_name,
    check_secret,
    check_subject_dn,
    check_text,
    check_tls_san,
    sender_changes,
)
from realmgate.server.crypto import new_client_secret
from realmgate.server.settings import Settings

__all__ = [
    "DEFAULT_SECRET_GRACE",
    "AdminError",
    "ClientAdmin",
    "Conflict",
    "IssuedCredentials",
    "NotFound",
]
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

INTERNAL_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class ClientAdmin(ClientSecrets):
    """Client operations; :class:`~realmgate.server.core.admin.Admin` adds tenants and keys."""

    store: Store
    vault: Vault
    settings: Settings
    clock: Callable[[], float]
    actor: str
    source: str | None

    def _now(self) -> int:
        return int(self.clock())

    def audit(self, action: str, tenant: str, target: str, **details: Any) -> None:
        """Record an admin change in the audit table and as a log line. Never a secret."""
        if self.source is not None:
            details["source"] = self.source
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

    def check_client_id(self, client_id: str) -> None:
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
        secret: str | None = None,
    ) -> tuple[ClientRecord, str]:
        secret = secret or new_client_secret()
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
            internal_id=str(uuid.uuid4()),
        )
        return record, secret

    def check_client_fields(
        self,
        realm: TenantRecord,
        *,
        name: str | None = None,
        description: str | None = None,
        access_token_lifespan: int | None = None,
        default_scopes: tuple[str, ...] | None = None,
        optional_scopes: tuple[str, ...] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Checked values of the given fields (None: not given) as ClientRecord fields.
        ``access_token_lifespan`` 0: the realm's default. Raises ConfigError."""
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = check_text("the name", name, 255)
        if description is not None:
            fields["description"] = check_text("the description", description, 2048)
        if access_token_lifespan is not None:
            if access_token_lifespan:
                check_lifespan("the access token lifespan", access_token_lifespan)
                if access_token_lifespan > realm.session_max_lifespan:
                    raise ConfigError(
                        f"the lifespan cannot exceed the tenant's maximum "
                        f"({realm.session_max_lifespan} s)"
                    )
            fields["access_token_lifespan"] = access_token_lifespan or None
        for field_name, scopes in (
            ("default_scopes", default_scopes),
            ("optional_scopes", optional_scopes),
        ):
            if scopes is not None:
                unknown = [s for s in scopes if check_scope_name(s) not in realm.client_scopes]
                if unknown:
                    raise ConfigError(f"unknown client scopes: {', '.join(unknown)}")
                fields[field_name] = tuple(dict.fromkeys(scopes))
        if extra is not None:
            fields["extra"] = check_extra(extra)
        return fields

    def _revealable(self, tenant: str, client_id: str, secret: str, now: int) -> dict[str, Any]:
        """The fields that keep ``secret`` readable once for the reveal window (none when the
        window is 0)."""
        window = self.settings.admin_secret_reveal_window
        if window <= 0:
            return {"reveal_enc": None, "reveal_until": None}
        until = now + window
        blob = self.vault.encrypt_revealable(tenant, client_id, secret, until)
        return {"reveal_enc": blob, "reveal_until": until}

    def create_client(
        self,
        tenant: str,
        client_id: str,
        *,
        roles: tuple[str, ...] = (),
        auth_method: AuthMethod = "client_secret",
        jwks: dict[str, Any] | None = None,
        jwks_uri: str | None = None,
        internal_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        enabled: bool = True,
        secret: str | None = None,
        access_token_lifespan: int | None = None,
        default_scopes: tuple[str, ...] | None = None,
        optional_scopes: tuple[str, ...] | None = None,
        extra: dict[str, Any] | None = None,
        admin_roles: tuple[str, ...] = (),
        reveal: bool = False,
        dpop_bound: bool = False,
        cert_bound: bool = False,
        tls_subject_dn: str | None = None,
        tls_san: str | None = None,
    ) -> IssuedCredentials:
        """Create a client. For ``private_key_jwt`` and the TLS methods the returned secret is
        empty (no secret authentication is accepted); ``private_key_jwt`` needs the client's
        JWKS or JWKS URI, ``self_signed_tls_client_auth`` its JWKS, ``tls_client_auth`` one of
        ``tls_subject_dn`` (RFC 4514) or ``tls_san`` (``dns:``, ``uri:``, ``ip:``, ``email:``).
        ``dpop_bound``/``cert_bound``: its tokens are DPoP- or certificate-bound.

        ``secret``: the caller's (hashed like a generated one); ``reveal``: the secret can
        also be read once through :meth:`reveal_secret` within the reveal window. Roles the
        realm lacks are created as realm roles."""
        realm = self.get_tenant(tenant)
        self.check_client_id(client_id)
        if auth_method not in AUTH_METHODS:
            raise AdminError(f"unknown auth method {auth_method!r}: use one of {AUTH_METHODS}")
        if internal_id is not None and not (
            0 < len(internal_id) <= 36 and set(internal_id) <= INTERNAL_ID_CHARS
        ):
            raise AdminError("a client id (Keycloak's id) must be 1 to 36 letters, digits or '-'")
        try:
            roles = check_roles(tuple(roles))
            admin_roles = check_admin_roles(tuple(admin_roles))
            jwks = check_jwks(jwks) if jwks is not None else None
            jwks_uri = check_jwks_uri(jwks_uri) if jwks_uri is not None else None
            secret = check_secret(secret) if secret is not None else None
            tls_subject_dn = check_subject_dn(tls_subject_dn) if tls_subject_dn else None
            tls_san = check_tls_san(tls_san) if tls_san else None
            check_client_auth(
                auth_method,
                jwks=jwks,
                jwks_uri=jwks_uri,
                tls_subject_dn=tls_subject_dn,
                tls_san=tls_san,
            )
            fields = self.check_client_fields(
                realm,
                name=name,
                description=description,
                access_token_lifespan=access_token_lifespan,
                default_scopes=default_scopes,
                optional_scopes=optional_scopes,
                extra=extra,
            )
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        fields.update(
            dpop_bound=dpop_bound,
            cert_bound=cert_bound,
            tls_subject_dn=tls_subject_dn,
            tls_san=tls_san,
        )
        now = self._now()
        record, secret = self._new_client(tenant, client_id, roles, now, auth_method, secret)
        if internal_id is not None:
            fields["internal_id"] = internal_id
        if reveal and auth_method not in KEY_METHODS:
            fields.update(self._revealable(tenant, client_id, secret, now))
        record = replace(
            record, jwks=jwks, jwks_uri=jwks_uri, enabled=enabled, admin_roles=admin_roles, **fields
        )
        try:
            self.store.create_client(record)
        except DuplicateError:
            raise Conflict(f"Client {client_id} already exists") from None
        self.audit(
            "client.created",
            tenant,
            client_id,
            authMethod=auth_method,
            roles=list(roles),
            **({"adminRoles": list(admin_roles)} if admin_roles else {}),
            **({"dpopBound": True} if dpop_bound else {}),
            **({"certBound": True} if cert_bound else {}),
        )
        # A client of a key or certificate method authenticates with it only: its secret is
        # never shown.
        shown = "" if auth_method in KEY_METHODS else secret
        return IssuedCredentials(tenant, client_id, shown, record.internal_id, record.sub)

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
        self.audit("client.enabled" if enabled else "client.disabled", tenant, client_id)
        return client

    def delete_client(self, tenant: str, client_id: str) -> None:
        self.get_client(tenant, client_id)
        self.store.delete_client(tenant, client_id)
        self.audit("client.deleted", tenant, client_id)

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
        auth_method: AuthMethod | None = None,
        dpop_bound: bool | None = None,
        cert_bound: bool | None = None,
        tls_subject_dn: str | None = None,
        tls_san: str | None = None,
    ) -> ClientRecord:
        """Change a client's options; arguments left as None keep their value (``""``
        removes a subject DN or alternative name). A client leaving ``tls_client_auth`` loses
        its subject; one of a secret method keeps its secret hash (``rotate_secret`` gives a
        new secret)."""
        realm = self.get_tenant(tenant)
        self.get_client(tenant, client_id)
        try:
            if access_token_lifespan is not None:  # 0 is refused here (--reset-lifespan)
                check_lifespan("the access token lifespan", access_token_lifespan)
            changes = self.check_client_fields(
                realm,
                access_token_lifespan=access_token_lifespan,
                default_scopes=default_scopes,
                optional_scopes=optional_scopes,
            )
            if reset_lifespan:
                changes["access_token_lifespan"] = None
            if roles is not None:
                changes["roles"] = check_roles(roles)
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
            changes.update(
                sender_changes(auth_method, dpop_bound, cert_bound, tls_subject_dn, tls_san)
            )
        except ConfigError as exc:
            raise AdminError(str(exc)) from None

        def change(client: ClientRecord) -> ClientRecord:
            try:
                return changed_client(client, changes)
            except ConfigError as exc:
                raise AdminError(str(exc)) from None

        updated = self._update_client(tenant, client_id, change)
        self.audit("client.configured", tenant, client_id, changed=sorted(changes))
        return updated
