"""Admin services in Keycloak's model: realms as Keycloak creates them, realm roles and the
service accounts' role mappings, and the administrative realm ``master``.

Admin identities are ordinary service-account clients. In ``master``, the realm role ``admin``
administers every realm and ``create-realm`` creates realms; in any realm, a client's roles of
the realm's ``realm-management`` client (:data:`ADMIN_ROLE_NAMES`, ``ClientRecord.admin_roles``)
administer that realm only. Both reach the admin API in the client's tokens
(``realm_access.roles``, ``resource_access.realm-management.roles``).

Messages of :class:`NotFound` and :class:`Conflict` are Keycloak's texts where it has one: the
admin API answers them verbatim.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from realmgate.jose import SUPPORTED_ALGORITHMS, generate_key
from realmgate.server.core.admin_client_fields import ClientFieldsAdmin
from realmgate.server.core.admin_clients import AdminError, Conflict, IssuedCredentials, NotFound
from realmgate.server.core.client_config import (
    ADMIN_ROLE_NAMES,
    ConfigError,
    check_extra,
    check_lifespan,
    check_text,
)
from realmgate.server.core.tenant_settings import name_problem
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import KeyRecord, RoleRecord, TenantRecord
from realmgate.wire.names import is_role, is_shortcode

MASTER = "master"
MASTER_ROLES: tuple[str, ...] = ("admin", "create-realm")
ADMIN_CLIENT_ID = "realmgate-admin"
ROLE_NOT_FOUND = "Could not find role"  # Keycloak's texts
MAPPED_ROLE_NOT_FOUND = "Role not found"

DEFAULT_SETTINGS: dict[str, object] = {
    "locale": "en-US",
    "timezone": "UTC",
    "defaultTranscriptionLanguage": "en",
    "transcriptionLanguages": ["en"],
    "duplicateCheck": False,
    "maxActiveWebhooksPerUser": 10,
}


class RealmAdmin(ClientFieldsAdmin):
    """Mixed into :class:`~realmgate.server.core.admin.Admin`."""

    if TYPE_CHECKING:

        def rotate_key(
            self, tenant: str, *, signing_alg: str | None = None, emergency: bool = False
        ) -> KeyRecord: ...

    # building blocks shared with Admin.create_tenant -------------------------
    def check_shortcode(self, shortcode: str) -> None:
        if not is_shortcode(shortcode):
            raise AdminError(
                f"invalid tenant shortcode {shortcode[:70]!r}: use 1-63 letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )

    def check_tenant_name(self, name: str) -> None:
        """A display name as the tenant settings accept it (1-200 printable characters)."""
        problem = name_problem(name)
        if problem is not None:
            raise AdminError(f"the display name {problem}")

    def _check_alg(self, alg: str | None) -> str:
        alg = alg or self.settings.default_signing_alg
        if alg not in SUPPORTED_ALGORITHMS:
            raise AdminError(f"unsupported algorithm {alg!r}: use one of {SUPPORTED_ALGORITHMS}")
        return alg

    def _new_tenant(self, shortcode: str, name: str | None, alg: str, now: int) -> TenantRecord:
        return TenantRecord(
            shortcode=shortcode,
            name=(name or shortcode).strip()[:200] or shortcode,
            signing_alg=alg,
            settings=dict(DEFAULT_SETTINGS),
            access_token_lifespan=min(
                self.settings.access_token_lifespan, self.settings.session_max_lifespan
            ),
            session_max_lifespan=self.settings.session_max_lifespan,
            not_before=0,
            created_at=now,
            updated_at=now,
            realm_id=str(uuid.uuid4()),
        )

    def _new_key(self, tenant: str, alg: str, now: int) -> KeyRecord:
        pair = generate_key(alg)
        return KeyRecord(
            tenant=tenant,
            kid=pair.kid,
            alg=alg,
            private_key_enc=self.vault.encrypt_signing_key(tenant, pair.kid, pair.private_pem()),
            public_jwk=pair.public_jwk(),
            status="active",
            created_at=now,
        )

    def _realm_fields(
        self,
        tenant: TenantRecord,
        *,
        display_name: str | None,
        enabled: bool | None,
        access_token_lifespan: int | None,
        not_before: int | None,
        extra: dict[str, Any] | None,
    ) -> dict[str, Any]:
        """Checked TenantRecord fields of what is given; ``extra`` merged (None removes)."""
        fields: dict[str, Any] = {}
        try:
            if display_name is not None:
                fields["name"] = display_name.strip()[:200] or tenant.shortcode
            if enabled is not None:
                fields["enabled"] = bool(enabled)
            if access_token_lifespan is not None:
                life = check_lifespan("the access token lifespan", access_token_lifespan)
                if life > tenant.session_max_lifespan:
                    raise ConfigError(
                        f"the access token lifespan cannot exceed the maximum "
                        f"({tenant.session_max_lifespan} s)"
                    )
                fields["access_token_lifespan"] = life
            if not_before is not None:
                if not_before < 0:
                    raise ConfigError("notBefore cannot be negative")
                fields["not_before"] = not_before
            if extra is not None:
                merged = {k: v for k, v in {**tenant.extra, **extra}.items() if v is not None}
                fields["extra"] = check_extra(merged)
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        return fields

    # realms ---------------------------------------------------------------
    def create_realm(
        self,
        shortcode: str,
        *,
        display_name: str | None = None,
        enabled: bool = True,
        access_token_lifespan: int | None = None,
        not_before: int = 0,
        signing_alg: str | None = None,
        extra: dict[str, Any] | None = None,
        dpop_required: bool = False,
    ) -> TenantRecord:
        """A realm as Keycloak's ``POST /admin/realms`` makes it: the tenant and its signing
        key, no client (``master`` also gets its realm roles ``admin`` and ``create-realm``)."""
        if not shortcode:
            raise AdminError("Realm name cannot be empty")
        self.check_shortcode(shortcode)
        alg = self._check_alg(signing_alg)
        now = self._now()
        tenant = self._new_tenant(shortcode, None, alg, now)
        fields = self._realm_fields(
            tenant,
            display_name=display_name,
            enabled=enabled,
            access_token_lifespan=access_token_lifespan,
            not_before=not_before,
            extra=extra,
        )
        tenant = replace(tenant, **fields, dpop_required=dpop_required)
        roles = [self._new_role(shortcode, name, None, now) for name in MASTER_ROLES]
        try:
            self.store.create_tenant(
                tenant,
                [],
                [self._new_key(shortcode, alg, now)],
                roles if shortcode == MASTER else [],
            )
        except DuplicateError:
            raise Conflict(f"Realm {shortcode} already exists") from None
        self.audit("tenant.created", shortcode, shortcode, algorithm=alg, enabled=tenant.enabled)
        return tenant

    def update_realm(
        self,
        shortcode: str,
        *,
        display_name: str | None = None,
        enabled: bool | None = None,
        access_token_lifespan: int | None = None,
        not_before: int | None = None,
        signing_alg: str | None = None,
        extra: dict[str, Any] | None = None,
        dpop_required: bool | None = None,
    ) -> TenantRecord:
        """Keycloak's partial update of a realm: None keeps a value, ``extra`` is merged. A
        new ``signing_alg`` is a key rotation to a key of that algorithm."""
        if enabled is False and shortcode == MASTER:
            raise AdminError("The realm master cannot be disabled")
        new_alg = self._check_alg(signing_alg) if signing_alg is not None else None
        for _ in range(5):
            tenant = self.get_tenant(shortcode)
            fields = self._realm_fields(
                tenant,
                display_name=display_name,
                enabled=enabled,
                access_token_lifespan=access_token_lifespan,
                not_before=not_before,
                extra=extra,
            )
            if dpop_required is not None and dpop_required != tenant.dpop_required:
                fields["dpop_required"] = dpop_required
            if not fields or self.store.update_tenant(
                replace(tenant, **fields, updated_at=self._now())
            ):
                break
        else:
            raise Conflict(f"tenant {shortcode!r} is being changed concurrently; try again")
        if fields:
            self.audit("tenant.updated", shortcode, shortcode, changed=sorted(fields))
        if new_alg is not None and new_alg != tenant.signing_alg:
            self.rotate_key(shortcode, signing_alg=new_alg)
        return self.get_tenant(shortcode)

    # the administrative realm ---------------------------------------------
    def create_admin_client(self, client_id: str = ADMIN_CLIENT_ID) -> IssuedCredentials:
        """A client of ``master`` with the realm role ``admin`` (every realm), creating
        ``master`` and its roles first when they are missing."""
        if self.store.get_tenant(MASTER) is None:
            with contextlib.suppress(Conflict):  # created concurrently
                self.create_realm(MASTER, display_name="Master")
        for name in MASTER_ROLES:
            if self.store.get_role(MASTER, name) is None:
                with contextlib.suppress(DuplicateError):
                    self.store.create_role(self._new_role(MASTER, name, None, self._now()))
        return self.create_client(MASTER, client_id, roles=("admin",))

    # realm roles ----------------------------------------------------------
    def _new_role(self, tenant: str, name: str, description: str | None, now: int) -> RoleRecord:
        return RoleRecord(tenant, name, str(uuid.uuid4()), description, now)

    def list_roles(
        self,
        tenant: str,
        *,
        first: int = 0,
        max: int | None = None,  # Keycloak's parameter name
        search: str | None = None,
    ) -> list[RoleRecord]:
        """Realm roles sorted by name; ``search``: a part of the name, any case; paged by
        ``first`` and ``max`` (None or negative: all)."""
        self.get_tenant(tenant)
        roles = self.store.list_roles(tenant)
        if search:
            wanted = search.lower()
            roles = [r for r in roles if wanted in r.name.lower()]
        start = first if first > 0 else 0
        end = None if max is None or max < 0 else start + max
        return roles[start:end]

    def create_role(self, tenant: str, name: str, description: str | None = None) -> RoleRecord:
        self.get_tenant(tenant)
        if not is_role(name):
            raise AdminError(
                f"invalid role name {name[:70]!r}: use 1-64 letters, digits, '.', '_', ':' and "
                "'-', starting with a letter or digit"
            )
        try:
            if description is not None:
                check_text("the description", description, 255)
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        role = self._new_role(tenant, name, description, self._now())
        try:
            self.store.create_role(role)
        except DuplicateError:
            raise Conflict(f"Role with name {name} already exists") from None
        self.audit("role.created", tenant, name)
        return role

    def get_role(self, tenant: str, name: str) -> RoleRecord:
        self.get_tenant(tenant)
        role = self.store.get_role(tenant, name) if is_role(name) else None
        if role is None:
            raise NotFound(ROLE_NOT_FOUND)
        return role

    def delete_role(self, tenant: str, name: str) -> None:
        """Delete a realm role; every client holding it loses it at once."""
        self.get_role(tenant, name)
        if tenant == MASTER and name == "admin":
            raise AdminError("The role admin of the realm master cannot be deleted")
        if not self.store.delete_role(tenant, name):
            raise NotFound(ROLE_NOT_FOUND)
        self.audit("role.deleted", tenant, name)

    # role mappings of service accounts ------------------------------------
    def role_mappings(self, tenant: str, sub: str) -> list[RoleRecord]:
        """The realm roles of the service account ``sub`` (a client's), sorted by name."""
        client = self.get_client_by_sub(tenant, sub)
        held = set(client.roles)
        return [r for r in self.store.list_roles(tenant) if r.name in held]

    def _mapped(self, tenant: str, roles: Sequence[tuple[str | None, str]]) -> list[str]:
        """Names of the roles given as (id, name): each must exist, and its id match when
        one is given (Keycloak's check); found by id when the name is empty."""
        known = self.store.list_roles(tenant)
        by_name = {r.name: r for r in known}
        by_id = {r.id: r for r in known}
        names = []
        for role_id, name in roles:
            role = by_name.get(name) if name else by_id.get(role_id or "")
            if role is None or (role_id is not None and role_id != role.id):
                raise NotFound(MAPPED_ROLE_NOT_FOUND)
            names.append(role.name)
        return list(dict.fromkeys(names))

    def add_role_mappings(
        self, tenant: str, sub: str, roles: Sequence[tuple[str | None, str]]
    ) -> None:
        client = self.get_client_by_sub(tenant, sub)
        names = self._mapped(tenant, roles)
        self._update_client(
            tenant,
            client.client_id,
            lambda c: replace(c, roles=tuple(dict.fromkeys((*c.roles, *names)))),
        )
        self.audit("client.roles_added", tenant, client.client_id, roles=names)

    def remove_role_mappings(
        self, tenant: str, sub: str, roles: Sequence[tuple[str | None, str]]
    ) -> None:
        client = self.get_client_by_sub(tenant, sub)
        names = set(self._mapped(tenant, roles))
        self._update_client(
            tenant,
            client.client_id,
            lambda c: replace(c, roles=tuple(r for r in c.roles if r not in names)),
        )
        self.audit("client.roles_removed", tenant, client.client_id, roles=sorted(names))


__all__ = [
    "ADMIN_CLIENT_ID",
    "ADMIN_ROLE_NAMES",
    "DEFAULT_SETTINGS",
    "MASTER",
    "MASTER_ROLES",
    "RealmAdmin",
]
