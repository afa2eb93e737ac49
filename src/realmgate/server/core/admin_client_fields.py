"""Admin services for what Keycloak's admin API does with clients beyond realmgate's own:
clients by their Keycloak ids, Keycloak fields, secrets readable once, admin roles.

realmgate keeps only a keyed hash of a client secret. A secret made by the admin API (created
with a client, or regenerated) is also kept AES-GCM encrypted under the master key for
``admin_secret_reveal_window`` seconds, so that a script's "create, then read the secret" works;
the first read destroys it, and so does the end of the window (at the next read, or by the
maintenance task, ``Store.clear_expired_reveals``). Then it cannot be read any more.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from realmgate.server.core.admin_clients import AdminError, ClientAdmin, Conflict, NotFound
from realmgate.server.core.client_config import ConfigError, check_admin_roles
from realmgate.server.crypto import MasterKeyError
from realmgate.server.storage.records import ClientRecord

CLIENT_NOT_FOUND = "Could not find client"  # Keycloak's texts
USER_NOT_FOUND = "User not found"


class ClientFieldsAdmin(ClientAdmin):
    """Mixed into :class:`~realmgate.server.core.admin.Admin`."""

    def get_client_by_internal_id(self, tenant: str, internal_id: str) -> ClientRecord:
        self.get_tenant(tenant)
        found = self.store.find_client(tenant, internal_id=internal_id) if internal_id else None
        if found is None:
            raise NotFound(CLIENT_NOT_FOUND)
        return found

    def get_client_by_sub(self, tenant: str, sub: str) -> ClientRecord:
        self.get_tenant(tenant)
        found = self.store.find_client(tenant, sub=sub) if sub else None
        if found is None:
            raise NotFound(USER_NOT_FOUND)
        return found

    def update_client_fields(
        self,
        tenant: str,
        client_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        access_token_lifespan: int | None = None,
        default_scopes: tuple[str, ...] | None = None,
        optional_scopes: tuple[str, ...] | None = None,
        extra: dict[str, Any] | None = None,
        new_client_id: str | None = None,
    ) -> ClientRecord:
        """Keycloak's partial update of a client: None keeps a value; ``extra`` is merged
        into the kept fields (a key set to None is removed); ``access_token_lifespan`` 0:
        the realm's default. The clientId cannot change (it keys the client's rows, its
        encrypted secrets and every cache)."""
        realm = self.get_tenant(tenant)
        self.get_client(tenant, client_id)
        if new_client_id is not None and new_client_id != client_id:
            raise AdminError("realmgate cannot change a client's clientId")
        try:
            changes = self.check_client_fields(
                realm,
                name=name,
                description=description,
                access_token_lifespan=access_token_lifespan,
                default_scopes=default_scopes,
                optional_scopes=optional_scopes,
            )  # extra: checked once merged, below
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        if enabled is not None:
            changes["enabled"] = enabled

        def change(client: ClientRecord) -> ClientRecord:
            if extra is None:
                return replace(client, **changes)
            merged = {k: v for k, v in {**client.extra, **extra}.items() if v is not None}
            try:
                self.check_client_fields(realm, extra=merged)
            except ConfigError as exc:
                raise AdminError(str(exc)) from None
            return replace(client, **changes, extra=merged)

        updated = self._update_client(tenant, client_id, change)
        changed = sorted([*changes, *(["extra"] if extra is not None else [])])
        self.audit("client.updated", tenant, client_id, changed=changed)
        return updated

    def reveal_secret(self, tenant: str, client_id: str) -> str | None:
        """The client's revealable secret, destroyed by this read; None when there is none
        (never made revealable, read already, or its window has ended: then destroyed too)."""
        for _ in range(5):
            client = self.get_client(tenant, client_id)
            if client.reveal_enc is None:
                return None
            now = self._now()
            secret: str | None = None
            if client.reveal_until is not None and now < client.reveal_until:
                try:
                    secret = self.vault.decrypt_revealable(
                        client, client.reveal_enc, client.reveal_until
                    )
                except MasterKeyError:  # not under this master key: unreadable, destroyed
                    secret = None
            destroyed = replace(client, reveal_enc=None, reveal_until=None)
            if self.store.update_client(destroyed):  # only one reader wins it
                if secret is not None:
                    self.audit("client.secret_revealed", tenant, client_id)
                return secret
        raise Conflict(f"client {client_id!r} is being changed concurrently; try again")

    def regenerate_secret(self, tenant: str, client_id: str) -> str:
        """A new secret at once: the previous one is refused from now on (Keycloak's
        regenerate). The new one is revealable for the reveal window."""
        secret = self._new_secret(tenant, client_id, 0, reveal=True)
        self.audit("client.secret_regenerated", tenant, client_id)
        return secret

    def set_admin_roles(
        self, tenant: str, client_id: str, roles: tuple[str, ...] | list[str]
    ) -> ClientRecord:
        """The client's roles of the realm's ``realm-management`` client (replaced)."""
        try:
            checked = check_admin_roles(tuple(roles))
        except ConfigError as exc:
            raise AdminError(str(exc)) from None
        updated = self._update_client(tenant, client_id, lambda c: replace(c, admin_roles=checked))
        self.audit("client.admin_roles_set", tenant, client_id, adminRoles=list(checked))
        return updated


__all__ = ["CLIENT_NOT_FOUND", "USER_NOT_FOUND", "ClientFieldsAdmin"]
