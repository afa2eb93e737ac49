"""Admin services: onboarding, clients, secrets, signing keys. Used by the CLI and bootstrap.

Every secret is returned once, to the caller that created it, and never stored in clear.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from realmgate.jose import SUPPORTED_ALGORITHMS, generate_key
from realmgate.server.crypto import new_client_secret
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.storage.records import ClientRecord, KeyRecord, TenantRecord
from realmgate.server.vault import Vault
from realmgate.wire.names import is_client_id, is_role, is_shortcode

TENANT_ADMIN_ROLE = "tenant-admin"

DEFAULT_SETTINGS: dict[str, object] = {
    "locale": "en-US",
    "timezone": "UTC",
    "defaultTranscriptionLanguage": "en",
    "transcriptionLanguages": ["en"],
    "duplicateCheck": False,
    "maxActiveWebhooksPerUser": 10,
}


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


class Admin:
    def __init__(
        self, store: Store, vault: Vault, settings: Settings, clock: Callable[[], float] = time.time
    ):
        self.store = store
        self.vault = vault
        self.settings = settings
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock())

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
        if not is_shortcode(shortcode):
            raise AdminError(
                f"invalid tenant shortcode {shortcode[:70]!r}: use 2-63 lowercase letters, digits "
                "and '-', starting with a letter or digit"
            )
        alg = signing_alg or self.settings.default_signing_alg
        if alg not in SUPPORTED_ALGORITHMS:
            raise AdminError(f"unsupported algorithm {alg!r}: use one of {SUPPORTED_ALGORITHMS}")
        client_id = client_id or f"{shortcode}-admin"
        self._check_client_id(client_id)
        now = self._now()
        tenant = TenantRecord(
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
        )
        client, secret = self._new_client(shortcode, client_id, (TENANT_ADMIN_ROLE,), now)
        try:
            self.store.create_tenant(tenant, [client], [self._new_key(shortcode, alg, now)])
        except DuplicateError:
            raise Conflict(f"tenant {shortcode!r} exists already") from None
        return IssuedCredentials(shortcode, client_id, secret)

    def get_tenant(self, shortcode: str) -> TenantRecord:
        tenant = self.store.get_tenant(shortcode) if is_shortcode(shortcode) else None
        if tenant is None:
            raise NotFound(f"unknown tenant {shortcode[:70]!r}")
        return tenant

    def list_tenants(self) -> list[TenantRecord]:
        return self.store.list_tenants()

    def delete_tenant(self, shortcode: str) -> None:
        self.get_tenant(shortcode)
        if not self.store.delete_tenant(shortcode):
            raise NotFound(f"unknown tenant {shortcode!r}")

    # clients ----------------------------------------------------------------
    def _check_client_id(self, client_id: str) -> None:
        if not is_client_id(client_id):
            raise AdminError(
                f"invalid client id {client_id[:70]!r}: use 1-128 letters, digits, '.', '_' "
                "and '-', starting with a letter or digit"
            )

    def _new_client(
        self, tenant: str, client_id: str, roles: tuple[str, ...], now: int
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
        )
        return record, secret

    def create_client(
        self, tenant: str, client_id: str, *, roles: tuple[str, ...] = ()
    ) -> IssuedCredentials:
        self.get_tenant(tenant)
        self._check_client_id(client_id)
        for role in roles:
            if not is_role(role):
                raise AdminError(f"invalid role {role[:70]!r}")
        record, secret = self._new_client(
            tenant, client_id, tuple(dict.fromkeys(roles)), self._now()
        )
        try:
            self.store.create_client(record)
        except DuplicateError:
            raise Conflict(f"client {client_id!r} exists already in tenant {tenant!r}") from None
        return IssuedCredentials(tenant, client_id, secret)

    def get_client(self, tenant: str, client_id: str) -> ClientRecord:
        self.get_tenant(tenant)
        client = self.store.get_client(tenant, client_id) if is_client_id(client_id) else None
        if client is None:
            raise NotFound(f"unknown client {client_id[:70]!r} in tenant {tenant!r}")
        return client

    def list_clients(self, tenant: str) -> list[ClientRecord]:
        self.get_tenant(tenant)
        return self.store.list_clients(tenant)

    def set_client_enabled(self, tenant: str, client_id: str, enabled: bool) -> ClientRecord:
        client = replace(
            self.get_client(tenant, client_id), enabled=enabled, updated_at=self._now()
        )
        self.store.update_client(client)
        return client

    def delete_client(self, tenant: str, client_id: str) -> None:
        self.get_client(tenant, client_id)
        self.store.delete_client(tenant, client_id)

    def rotate_secret(self, tenant: str, client_id: str, *, grace: int = 0) -> IssuedCredentials:
        """A new secret; the previous one stays valid for ``grace`` seconds (0: ends now)."""
        if grace < 0:
            raise AdminError("the grace period cannot be negative")
        client = self.get_client(tenant, client_id)
        now = self._now()
        secret = new_client_secret()
        updated = replace(
            client,
            secret_hash=self.vault.hasher.hash(secret),
            previous_secret_hash=client.secret_hash if grace else None,
            previous_secret_expires_at=now + grace if grace else None,
            updated_at=now,
        )
        self.store.update_client(updated)
        return IssuedCredentials(tenant, client_id, secret)

    # keys -------------------------------------------------------------------
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

    def list_keys(self, tenant: str) -> list[KeyRecord]:
        self.get_tenant(tenant)
        return self.store.list_keys(tenant)

    def rotate_key(self, tenant: str, *, signing_alg: str | None = None) -> KeyRecord:
        """Sign with a new key; the old one stays in the JWKS until its last token expires."""
        record = self.get_tenant(tenant)
        alg = signing_alg or record.signing_alg
        if alg not in SUPPORTED_ALGORITHMS:
            raise AdminError(f"unsupported algorithm {alg!r}: use one of {SUPPORTED_ALGORITHMS}")
        now = self._now()
        key = self._new_key(tenant, alg, now)
        self.store.rotate_keys(tenant, key, retire_until=now + record.session_max_lifespan)
        if alg != record.signing_alg:
            self.store.update_tenant(replace(record, signing_alg=alg, updated_at=now))
        return key
