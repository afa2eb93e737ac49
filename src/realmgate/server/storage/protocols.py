"""The storage contract: exactly what the core and the admin services need, nothing more.

Every write appends a :class:`Change` in the same transaction, so that every node can
evict what changed (see :mod:`realmgate.server.core.cache`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from realmgate.server.storage.records import (
    AuditEvent,
    Change,
    ClientRecord,
    ConsoleSession,
    EncryptedSecrets,
    KeyRecord,
    OperatorRecord,
    RevokedToken,
    RoleRecord,
    TenantRecord,
    TrafficRow,
)


class DuplicateError(Exception):
    """A row with that key exists already."""


class Store(Protocol):
    # install-wide metadata (encrypted pepper, master-key check value)
    def get_meta(self, name: str) -> bytes | None: ...
    def put_meta(self, name: str, value: bytes) -> None: ...

    # tenants
    def create_tenant(
        self,
        tenant: TenantRecord,
        client_list: list[ClientRecord],
        keys: list[KeyRecord],
        roles: Sequence[RoleRecord] = (),
    ) -> None:
        """The tenant with its realm roles, clients and keys, in one transaction. The clients'
        roles that ``roles`` lacks are created as realm roles too."""
        ...

    def get_tenant(self, shortcode: str) -> TenantRecord | None: ...
    def get_tenants_and_keys(
        self, shortcodes: Sequence[str]
    ) -> dict[str, tuple[TenantRecord, list[KeyRecord]]]:
        """Tenants with their keys that are not revoked (newest first), each read at once:
        what realms are built from. Unknown shortcodes are left out."""
        ...

    def list_tenants(self) -> list[TenantRecord]: ...
    def count_tenants(self) -> int: ...
    def update_tenant(self, tenant: TenantRecord) -> bool:
        """Write ``tenant`` if its row is still at ``tenant.version``; False on a conflict."""
        ...

    def delete_tenant(self, shortcode: str) -> bool: ...

    # clients (every write creates the realm roles the client names that do not exist yet)
    def create_client(self, client: ClientRecord) -> None: ...
    def get_client(self, tenant: str, client_id: str) -> ClientRecord | None: ...
    def get_clients(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ClientRecord]:
        """Clients by (tenant, client id), for the cache's misses; unknown ones are left out."""
        ...

    def client_stamps(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, int]]:
        """``(sub, version)`` by (tenant, client id), unknown ones left out: whether a cached
        client is current, without reading the record (see ``core.client_auth``)."""
        ...

    def list_clients(self, tenant: str) -> list[ClientRecord]: ...
    def update_client(self, client: ClientRecord) -> bool:
        """Write ``client`` if its row is still at ``client.version``; False otherwise."""
        ...

    def delete_client(self, tenant: str, client_id: str) -> bool: ...
    def find_client(
        self, tenant: str, *, internal_id: str | None = None, sub: str | None = None
    ) -> ClientRecord | None:
        """A client by its Keycloak ``id`` or its service account's id; exactly one given."""
        ...

    def clear_expired_reveals(self, now: int) -> int:
        """Destroy the revealable secrets whose window ended by ``now``; how many."""
        ...

    # realm roles
    def list_roles(self, tenant: str) -> list[RoleRecord]:
        """Sorted by name."""
        ...

    def get_role(self, tenant: str, name: str) -> RoleRecord | None: ...
    def create_role(self, role: RoleRecord) -> None:
        """Raises :class:`DuplicateError` when the tenant has a role of that name."""
        ...

    def delete_role(self, tenant: str, name: str) -> bool:
        """Delete a role and take it from every client holding it (a change row each)."""
        ...

    # realm imports (Keycloak exports, partialImport): one transaction each
    def import_realm(
        self,
        tenant: TenantRecord,
        roles: Sequence[RoleRecord],
        client_list: Sequence[ClientRecord],
        keys: Sequence[KeyRecord],
        *,
        overwrite: bool = False,
    ) -> bool:
        """Write a whole realm; True when it replaced one (``overwrite``), DuplicateError when
        it exists and ``overwrite`` is false or an id conflicts (nothing written)."""
        ...

    def import_into_realm(
        self,
        tenant: str,
        roles: Sequence[RoleRecord],
        client_list: Sequence[ClientRecord],
        *,
        replace_clients: Sequence[str] = (),
    ) -> None:
        """Roles upserted, ``replace_clients`` deleted, ``client_list`` inserted, at once.
        KeyError: no such tenant; DuplicateError: a client exists (nothing written)."""
        ...

    # signing keys
    def list_keys(self, tenant: str) -> list[KeyRecord]: ...
    def rotate_keys(self, tenant: str, new: KeyRecord, retire_until: int) -> None:
        """Make ``new`` the active key; the previous active key verifies until ``retire_until``.

        Every rotation (this one, scheduled, emergency) serialises on the tenant and makes
        ``new.alg`` the tenant's signing algorithm in the same transaction; a tenant never has
        two active keys (the schema refuses it)."""
        ...

    def list_all_keys(self) -> list[KeyRecord]: ...
    def list_encrypted_secrets(self) -> list[EncryptedSecrets]: ...
    def replace_encrypted_material(
        self,
        keys: list[KeyRecord],
        secrets: list[EncryptedSecrets],
        meta_values: dict[str, bytes],
        totp_secrets: Mapping[str, bytes] | None = None,
    ) -> None:
        """``totp_secrets``: operator username -> its re-encrypted TOTP secret."""
        ...

    def tenants_with_keys_older_than(self, older_than: int, limit: int) -> list[str]: ...
    def rotate_keys_if_older(
        self, tenant: str, new: KeyRecord, older_than: int, retire_until: int
    ) -> bool: ...
    def emergency_rotate(self, tenant: str, new: KeyRecord, not_before: int) -> list[str]: ...

    # revocation (shared by all nodes) and client-assertion replay
    def revoke_token(self, tenant: str, jti: str, expires_at: int) -> None: ...
    def get_revoked(self, tenant: str, jti: str) -> RevokedToken | None: ...
    def list_revoked(self, now: int) -> list[RevokedToken]: ...
    def use_assertion(self, tenant: str, client_id: str, jti: str, expires_at: int) -> bool: ...
    def use_assertions(self, rows: Sequence[tuple[str, str, str, int]]) -> list[bool]:
        """Many ``use_assertion`` in one transaction; per row, False if used before."""
        ...

    def prune_expired(self, now: int) -> int: ...

    # audit trail of admin changes
    def record_audit(self, event: AuditEvent) -> None: ...
    def list_audit(
        self,
        tenant: str | None = None,
        limit: int = 100,
        *,
        first: int = 0,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; ``action`` ending in ``*`` is a prefix; ``since``/``until`` inclusive."""
        ...

    # shared counters of the authentication throttle
    def count_auth_failure(self, key: str, now: float, window: int) -> int: ...
    def raise_marks(self, marks: Mapping[str, float], now: float) -> None: ...
    def marks_since(self, since: float, now: float) -> dict[str, float]: ...
    def prune_auth_failures(self, older_than: int) -> int: ...
    def marks_with_prefix(self, prefix: str, now: float, limit: int) -> dict[str, float]: ...
    def clear_marks(self, keys: Sequence[str]) -> None: ...
    def record_unblocks(self, tenant: str, keys: Sequence[str]) -> None:
        """A ``throttle`` change row per key: every node drops those blocks from memory."""
        ...

    # scheduled key rotation, with the tenants' own periods
    def tenants_due_for_rotation(
        self, now: int, default_period: int, limit: int
    ) -> list[tuple[str, int]]: ...

    # change feed
    def latest_change_id(self) -> int: ...
    def changes_since(self, change_id: int, limit: int = 1000) -> list[Change]: ...
    def changes_by_ids(self, ids: list[int]) -> list[Change]: ...

    # console operators and their sessions
    def create_operator(self, operator: OperatorRecord) -> None:
        """DuplicateError when the username is taken."""
        ...

    def get_operator(self, username: str) -> OperatorRecord | None: ...
    def list_operators(self) -> list[OperatorRecord]: ...
    def update_operator(self, operator: OperatorRecord) -> bool:
        """Overwrite every field but ``totp_last_step`` and ``created_at``; False: no such
        operator."""
        ...

    def use_totp_step(self, username: str, step: int) -> bool:
        """Raise ``totp_last_step`` to ``step`` if it is lower, atomically; False: the step
        (or a later one) was used already, a replay."""
        ...

    def delete_operator(self, username: str) -> bool:
        """Also deletes the operator's sessions."""
        ...

    def create_console_session(self, session: ConsoleSession) -> None: ...
    def get_console_session(self, id_hash: str) -> ConsoleSession | None: ...
    def touch_console_session(self, id_hash: str, last_seen: int) -> None: ...
    def delete_console_session(self, id_hash: str) -> bool: ...
    def delete_console_sessions(self, username: str) -> int: ...
    def prune_console_sessions(self, idle_before: int, created_before: int) -> int:
        """Delete sessions last seen before ``idle_before`` or created before
        ``created_before``."""
        ...

    # traffic per tenant and minute (the console's dashboard)
    def add_traffic(self, rows: Sequence[TrafficRow]) -> None:
        """Add the counts to the rows of the same (minute, tenant), creating them."""
        ...

    def traffic_since(self, minute: int) -> list[TrafficRow]: ...
    def prune_traffic(self, before_minute: int) -> int: ...

    def close(self) -> None: ...
