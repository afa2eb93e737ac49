"""Realm imports (Keycloak's realm exports and ``partialImport``): each in one transaction, so
a realm is imported whole or not at all, and the change feed tells every node at once."""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage.models import changes, clients, realm_roles, signing_keys, tenants
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import ClientRecord, KeyRecord, RoleRecord, TenantRecord
from realmgate.server.storage.rows import client_values, key_values, role_values, tenant_values
from realmgate.server.storage.sql_admin import ensure_roles
from realmgate.server.storage.sql_feed import NOTIFY_CHANNEL, record_change


def _lock(conn: Connection, shortcode: str) -> bool:
    """Lock the tenant's row (PostgreSQL; SQLite has one writer); whether it exists."""
    return (
        conn.execute(
            select(tenants.c.shortcode).where(tenants.c.shortcode == shortcode).with_for_update()
        ).first()
        is not None
    )


def _upsert_roles(conn: Connection, roles: Sequence[RoleRecord]) -> None:
    for role in roles:
        done = conn.execute(
            update(realm_roles)
            .where(realm_roles.c.tenant == role.tenant, realm_roles.c.name == role.name)
            .values(description=role.description)
        )
        if not done.rowcount:
            conn.execute(insert(realm_roles).values(**role_values(role)))


def _record_changes(conn: Connection, tenant: str, kind: str, keys: Sequence[str]) -> None:
    """Change rows of many keys at once (one NOTIFY), as :func:`record_change` writes one."""
    if not keys:
        return
    now = int(time.time())
    conn.execute(
        insert(changes), [{"tenant": tenant, "kind": kind, "key": k, "at": now} for k in keys]
    )
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})


def _insert_clients(conn: Connection, tenant: str, client_list: Sequence[ClientRecord]) -> None:
    """Insert many clients at once (one statement), their realm roles created first."""
    if not client_list:
        return
    roles = [r for c in client_list for r in c.roles]
    ensure_roles(conn, tenant, roles, min(c.created_at for c in client_list))
    conn.execute(insert(clients), [client_values(c) for c in client_list])
    _record_changes(conn, tenant, "client", [c.client_id for c in client_list])


class ImportStoreMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    def import_realm(
        self,
        tenant: TenantRecord,
        roles: Sequence[RoleRecord],
        client_list: Sequence[ClientRecord],
        keys: Sequence[KeyRecord],
        *,
        overwrite: bool = False,
    ) -> bool:
        """Write a whole realm in one transaction; whether it replaced an existing one.

        Without ``overwrite`` an existing realm is a DuplicateError. With it, the realm's
        clients, roles and keys are replaced and its row updated (its other rows, such as
        revoked tokens and audit events, stay). A conflicting id (a role id another realm
        holds) is a DuplicateError too; nothing is written then."""
        shortcode = tenant.shortcode
        try:
            with self.engine.begin() as conn:
                existed = _lock(conn, shortcode)
                if existed and not overwrite:
                    raise DuplicateError(f"tenant {shortcode!r} exists already")
                if existed:
                    old = conn.execute(
                        select(clients.c.client_id).where(clients.c.tenant == shortcode)
                    ).scalars()
                    _record_changes(conn, shortcode, "client", list(old))
                    conn.execute(delete(clients).where(clients.c.tenant == shortcode))
                    conn.execute(delete(signing_keys).where(signing_keys.c.tenant == shortcode))
                    conn.execute(delete(realm_roles).where(realm_roles.c.tenant == shortcode))
                    values = tenant_values(tenant)
                    del values["shortcode"], values["created_at"]
                    values["version"] = tenants.c.version + 1
                    conn.execute(
                        update(tenants).where(tenants.c.shortcode == shortcode).values(**values)
                    )
                else:
                    conn.execute(insert(tenants).values(**tenant_values(tenant)))
                if roles:
                    conn.execute(insert(realm_roles), [role_values(r) for r in roles])
                _insert_clients(conn, shortcode, client_list)
                if keys:
                    conn.execute(insert(signing_keys), [key_values(k) for k in keys])
                _record_changes(conn, shortcode, "keys", [k.kid for k in keys])
                record_change(conn, shortcode, "tenant", shortcode)
                return existed
        except IntegrityError as exc:
            raise DuplicateError(
                f"the import of {shortcode!r} conflicts with existing rows (an id of the file "
                f"is used by another realm): {type(exc.orig).__name__}"
            ) from None

    def import_into_realm(
        self,
        tenant: str,
        roles: Sequence[RoleRecord],
        client_list: Sequence[ClientRecord],
        *,
        replace_clients: Sequence[str] = (),
    ) -> None:
        """Keycloak's ``partialImport`` into an existing realm, in one transaction: roles
        created or their description updated, the clients in ``replace_clients`` deleted and
        every client of ``client_list`` inserted. KeyError: no such tenant; DuplicateError:
        a client exists (nothing written)."""
        try:
            with self.engine.begin() as conn:
                if not _lock(conn, tenant):
                    raise KeyError(tenant)
                _upsert_roles(conn, roles)
                for client_id in replace_clients:
                    conn.execute(
                        delete(clients).where(
                            clients.c.tenant == tenant, clients.c.client_id == client_id
                        )
                    )
                _insert_clients(conn, tenant, client_list)
        except IntegrityError as exc:
            raise DuplicateError(
                f"the import into {tenant!r} conflicts with existing rows: "
                f"{type(exc.orig).__name__}"
            ) from None


__all__ = ["ImportStoreMixin"]
