"""Admin services: onboarding, clients, secrets, signing keys. Used by the CLI and bootstrap.

Every secret is returned once, to the caller that created it, and never stored in clear.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from realmgate.server.core.admin_clients import (
    AdminError,
    Conflict,
    IssuedCredentials,
    NotFound,
)
from realmgate.server.core.admin_realms import (
    ADMIN_CLIENT_ID,
    ADMIN_ROLE_NAMES,
    DEFAULT_SETTINGS,
    MASTER,
    MASTER_ROLES,
    RealmAdmin,
)
from realmgate.server.core.client_config import (
    ConfigError,
    check_lifespan,
    check_scope_name,
)
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.storage.records import (
    KeyRecord,
    TenantRecord,
)
from realmgate.server.vault import Vault

TENANT_ADMIN_ROLE = "tenant-admin"


class Admin(RealmAdmin):
    """Onboarding, tenants and signing keys; client operations come from
    :class:`~realmgate.server.core.admin_clients.ClientAdmin` and
    :class:`~realmgate.server.core.admin_client_fields.ClientFieldsAdmin`, Keycloak's realms,
    roles and role mappings from :class:`~realmgate.server.core.admin_realms.RealmAdmin`.

    ``actor`` (who acts: ``cli:<user>``, ``admin:<realm>/<clientId>``) and ``source`` (the
    caller's address, when known) go into every audit event."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        *,
        actor: str = "system",
        source: str | None = None,
    ):
        self.store = store
        self.vault = vault
        self.settings = settings
        self.clock = clock
        self.actor = actor
        self.source = source

    # tenants ----------------------------------------------------------------
    def create_tenant(
        self,
        shortcode: str,
        *,
        name: str | None = None,
        signing_alg: str | None = None,
        client_id: str | None = None,
    ) -> IssuedCredentials:
        """Onboard a tenant: its realm, a signing key and a ``tenant-admin`` client."""
        self.check_shortcode(shortcode)
        if name is not None:
            self.check_tenant_name(name)
        alg = self._check_alg(signing_alg)
        client_id = client_id or f"{shortcode}-admin"
        self.check_client_id(client_id)
        now = self._now()
        tenant = self._new_tenant(shortcode, name, alg, now)
        client, secret = self._new_client(shortcode, client_id, (TENANT_ADMIN_ROLE,), now)
        try:
            self.store.create_tenant(tenant, [client], [self._new_key(shortcode, alg, now)])
        except DuplicateError:
            raise Conflict(f"tenant {shortcode!r} exists already") from None
        self.audit("tenant.created", shortcode, shortcode, algorithm=alg, client=client_id)
        return IssuedCredentials(shortcode, client_id, secret, client.internal_id, client.sub)

    def list_tenants(self) -> list[TenantRecord]:
        return self.store.list_tenants()

    def configure_tenant(
        self,
        shortcode: str,
        *,
        access_token_lifespan: int | None = None,
        session_max_lifespan: int | None = None,
        scopes: dict[str, str] | None = None,
        remove_scopes: tuple[str, ...] = (),
        dpop_required: bool | None = None,
    ) -> TenantRecord:
        """Lifespans and client scopes (name -> "default" or "optional") of a realm, and
        whether every client must send DPoP proofs (None: unchanged)."""
        for _ in range(5):
            tenant = self.get_tenant(shortcode)
            try:
                updated = self._configured(
                    tenant, access_token_lifespan, session_max_lifespan, scopes, remove_scopes
                )
            except ConfigError as exc:
                raise AdminError(str(exc)) from None
            if dpop_required is not None:
                updated = replace(updated, dpop_required=dpop_required)
            if self.store.update_tenant(updated):
                self.audit(
                    "tenant.configured",
                    shortcode,
                    shortcode,
                    accessTokenLifespan=updated.access_token_lifespan,
                    sessionMaxLifespan=updated.session_max_lifespan,
                    clientScopes=updated.client_scopes,
                    dpopRequired=updated.dpop_required,
                )
                return updated
        raise Conflict(f"tenant {shortcode!r} is being changed concurrently; try again")

    def _configured(
        self,
        tenant: TenantRecord,
        lifespan: int | None,
        max_lifespan: int | None,
        scopes: dict[str, str] | None,
        remove_scopes: tuple[str, ...],
    ) -> TenantRecord:
        max_life = check_lifespan(
            "the maximum lifespan", max_lifespan or tenant.session_max_lifespan
        )
        life = check_lifespan("the access token lifespan", lifespan or tenant.access_token_lifespan)
        if life > max_life:
            raise ConfigError(f"the access token lifespan cannot exceed the maximum ({max_life} s)")
        client_scopes = dict(tenant.client_scopes)
        for name, kind in (scopes or {}).items():
            if kind not in ("default", "optional"):
                raise ConfigError(f"scope {name!r}: the type must be 'default' or 'optional'")
            client_scopes[check_scope_name(name)] = kind
        for name in remove_scopes:
            client_scopes.pop(name, None)
        return replace(
            tenant,
            access_token_lifespan=life,
            session_max_lifespan=max_life,
            client_scopes=client_scopes,
            updated_at=self._now(),
        )

    def revoke_tenant_tokens(self, shortcode: str) -> int:
        """Not-before policy: every token of the tenant issued before now stops working."""
        for _ in range(5):
            now = self._now()
            tenant = replace(self.get_tenant(shortcode), not_before=now, updated_at=now)
            if self.store.update_tenant(tenant):
                self.audit("tenant.tokens_revoked", shortcode, shortcode, notBefore=now)
                return now
        raise Conflict(f"tenant {shortcode!r} is being changed concurrently; try again")

    def delete_tenant(self, shortcode: str) -> None:
        self.get_tenant(shortcode)
        if shortcode == MASTER:
            raise AdminError("The realm master cannot be deleted")
        if not self.store.delete_tenant(shortcode):
            raise NotFound(f"unknown tenant {shortcode!r}")
        self.audit("tenant.deleted", shortcode, shortcode)

    # keys -------------------------------------------------------------------
    def list_keys(self, tenant: str) -> list[KeyRecord]:
        self.get_tenant(tenant)
        return self.store.list_keys(tenant)

    def rotate_key(
        self, tenant: str, *, signing_alg: str | None = None, emergency: bool = False
    ) -> KeyRecord:
        """Sign with a new key. The old one stays in the JWKS until its last token expires;
        in an emergency (a compromised key) it is removed at once and every token issued
        before now stops working (the tenant's not-before time). A new ``signing_alg``
        becomes the tenant's in the rotation's own transaction, so no concurrent change of
        the tenant can undo it."""
        record = self.get_tenant(tenant)
        alg = self._check_alg(signing_alg or record.signing_alg)
        now = self._now()
        key = self._new_key(tenant, alg, now)
        if emergency:
            self.store.emergency_rotate(tenant, key, not_before=now)
        else:
            self.store.rotate_keys(tenant, key, retire_until=now + record.session_max_lifespan)
        action = "key.emergency_rotated" if emergency else "key.rotated"
        self.audit(action, tenant, key.kid, algorithm=alg)
        return key

    def rotate_due_keys(self, period: int, limit: int = 100) -> list[str]:
        """Scheduled rotation: new keys for tenants whose active key is older than ``period``.

        Safe on many nodes at once and beside rotations by hand: each rotation is a conditional
        update under the tenant's lock, which one of them wins."""
        now = self._now()
        rotated = []
        for shortcode in self.store.tenants_with_keys_older_than(now - period, limit):
            tenant = self.store.get_tenant(shortcode)
            if tenant is None:
                continue
            key = self._new_key(shortcode, tenant.signing_alg, now)
            retire_until = now + tenant.session_max_lifespan
            if self.store.rotate_keys_if_older(shortcode, key, now - period, retire_until):
                rotated.append(shortcode)
                self.audit("key.rotated", shortcode, key.kid, scheduled=True)
        return rotated


__all__ = [
    "ADMIN_CLIENT_ID",
    "ADMIN_ROLE_NAMES",
    "DEFAULT_SETTINGS",
    "MASTER",
    "MASTER_ROLES",
    "TENANT_ADMIN_ROLE",
    "Admin",
    "AdminError",
    "Conflict",
    "IssuedCredentials",
    "NotFound",
    "Store",
    "Vault",
]
