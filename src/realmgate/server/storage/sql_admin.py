"""What the admin services need beyond the token path: realm roles, clients by their Keycloak
ids, revealable secrets, and ``keys rewrap``'s swap of every ciphertext.

A client's realm roles (``clients.roles``) are always rows of ``realm_roles``: every write of a
client creates the roles it names that do not exist yet (:func:`ensure_roles`), and deleting a
role removes it from every client in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, String, cast, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from realmgate.server.storage.models import (
    clients,
    meta,
    operators,
    realm_roles,
    signing_keys,
)
from realmgate.server.storage.protocols import DuplicateError
from realmgate.server.storage.records import (
    ClientRecord,
    EncryptedSecrets,
    KeyRecord,
    RoleRecord,
)
from realmgate.server.storage.rows import client_from_row, role_from_row, role_values
from realmgate.server.storage.sql_feed import record_change


def _insert_missing(conn: Connection) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` of a realm role, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(realm_roles).on_conflict_do_nothing()
    return sqlite.insert(realm_roles).on_conflict_do_nothing()


def ensure_roles(conn: Connection, tenant: str, names: Iterable[str], now: int) -> None:
    """Create the realm roles among ``names`` that the tenant lacks (a client's roles are
    always realm roles). Concurrent writers creating the same role do not conflict."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    existing = set(
        conn.execute(
            select(realm_roles.c.name).where(
                realm_roles.c.tenant == tenant, realm_roles.c.name.in_(wanted)
            )
        ).scalars()
    )
    for name in wanted:
        if name not in existing:
            role = RoleRecord(tenant=tenant, name=name, id="", description=None, created_at=now)
            conn.execute(_insert_missing(conn).values(**role_values(role)))


def clear_reveals(conn: Connection, now: int) -> int:
    """Destroy the revealable secrets whose window ended by ``now`` (a new version and a
    change row for each client, so no stale copy of its row writes one back)."""
    expired = conn.execute(
        select(clients.c.tenant, clients.c.client_id).where(
            clients.c.reveal_until.is_not(None), clients.c.reveal_until <= now
        )
    ).all()
    for row in expired:
        done = conn.execute(
            update(clients)
            .where(
                clients.c.tenant == row.tenant,
                clients.c.client_id == row.client_id,
                clients.c.reveal_until <= now,
            )
            .values(reveal_enc=None, reveal_until=None, version=clients.c.version + 1)
        )
        if done.rowcount:
            record_change(conn, row.tenant, "client", row.client_id)
    return len(expired)


def _opt_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


class AdminStoreMixin:
    """Mixed into :class:`~realmgate.server.storage.sql.SqlStore`."""

    engine: Engine

    # realm roles ------------------------------------------------------------
    def list_roles(self, tenant: str) -> list[RoleRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(realm_roles)
                .where(realm_roles.c.tenant == tenant)
                .order_by(realm_roles.c.name)
            ).all()
        return [role_from_row(r) for r in rows]

    def get_role(self, tenant: str, name: str) -> RoleRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(realm_roles).where(
                    realm_roles.c.tenant == tenant, realm_roles.c.name == name
                )
            ).first()
        return None if row is None else role_from_row(row)

    def create_role(self, role: RoleRecord) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(realm_roles).values(**role_values(role)))
        except IntegrityError:
            raise DuplicateError(
                f"role {role.name!r} exists already in tenant {role.tenant!r}"
            ) from None

    def delete_role(self, tenant: str, name: str) -> bool:
        """Delete a realm role and take it from every client that holds it, at once."""
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(realm_roles).where(
                    realm_roles.c.tenant == tenant, realm_roles.c.name == name
                )
            )
            if not done.rowcount:
                return False
            # A superset of the holders (``_`` matches any character); checked exactly below.
            holders = conn.execute(
                select(clients.c.client_id, clients.c.roles).where(
                    clients.c.tenant == tenant,
                    cast(clients.c.roles, String).like(f'%"{name}"%'),
                )
            ).all()
            for row in holders:
                if name not in row.roles:
                    continue
                conn.execute(
                    update(clients)
                    .where(clients.c.tenant == tenant, clients.c.client_id == row.client_id)
                    .values(
                        roles=[r for r in row.roles if r != name],
                        version=clients.c.version + 1,
                    )
                )
                record_change(conn, tenant, "client", row.client_id)
            return True

    # clients by their Keycloak ids -----------------------------------------
    def find_client(
        self, tenant: str, *, internal_id: str | None = None, sub: str | None = None
    ) -> ClientRecord | None:
        """A client by its Keycloak ``id`` or by its service account's id (``sub``)."""
        if (internal_id is None) == (sub is None):
            raise ValueError("find_client takes exactly one of internal_id and sub")
        column = clients.c.internal_id if internal_id is not None else clients.c.sub
        with self.engine.connect() as conn:
            row = conn.execute(
                select(clients).where(clients.c.tenant == tenant, column == (internal_id or sub))
            ).first()
        return None if row is None else client_from_row(row)

    # revealable secrets -----------------------------------------------------
    def clear_expired_reveals(self, now: int) -> int:
        """Destroy the revealable secrets whose window has ended; how many."""
        with self.engine.begin() as conn:
            return clear_reveals(conn, now)

    # keys rewrap ------------------------------------------------------------
    def list_encrypted_secrets(self) -> list[EncryptedSecrets]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    clients.c.tenant,
                    clients.c.client_id,
                    clients.c.secret_enc,
                    clients.c.previous_secret_enc,
                ).where(
                    (clients.c.secret_enc.is_not(None))
                    | (clients.c.previous_secret_enc.is_not(None))
                )
            ).all()
        return [
            EncryptedSecrets(
                r.tenant, r.client_id, _opt_bytes(r.secret_enc), _opt_bytes(r.previous_secret_enc)
            )
            for r in rows
        ]

    def replace_encrypted_material(
        self,
        keys: list[KeyRecord],
        secrets: list[EncryptedSecrets],
        meta_values: dict[str, bytes],
        totp_secrets: Mapping[str, bytes] | None = None,
    ) -> None:
        """Swap every ciphertext at once (``keys rewrap``): all of it or nothing. Secrets still
        revealable are destroyed (short-lived; the old master key could no longer open them).
        ``totp_secrets``: console operator -> its re-encrypted TOTP secret."""
        with self.engine.begin() as conn:
            for username, blob in (totp_secrets or {}).items():
                conn.execute(
                    update(operators)
                    .where(operators.c.username == username)
                    .values(totp_secret_enc=blob)
                )
            for k in keys:
                conn.execute(
                    update(signing_keys)
                    .where(signing_keys.c.tenant == k.tenant, signing_keys.c.kid == k.kid)
                    .values(private_key_enc=k.private_key_enc)
                )
            for c in secrets:
                conn.execute(
                    update(clients)
                    .where(clients.c.tenant == c.tenant, clients.c.client_id == c.client_id)
                    .values(secret_enc=c.secret_enc, previous_secret_enc=c.previous_secret_enc)
                )
            conn.execute(
                update(clients)
                .where(clients.c.reveal_enc.is_not(None))
                .values(reveal_enc=None, reveal_until=None)
            )
            for name, value in meta_values.items():
                conn.execute(update(meta).where(meta.c.name == name).values(value=value))


__all__ = ["AdminStoreMixin", "clear_reveals", "ensure_roles"]
