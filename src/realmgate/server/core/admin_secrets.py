"""Admin services for client secrets: rotation with overlap, ending the previous secret, and the
client's not-before time (a mixin of :class:`~realmgate.server.core.admin_clients.ClientAdmin`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from realmgate.server.core.admin_errors import DEFAULT_SECRET_GRACE, AdminError, IssuedCredentials
from realmgate.server.crypto import new_client_secret
from realmgate.server.storage.records import ClientRecord
from realmgate.server.vault import Vault


class ClientSecrets:
    vault: Vault

    if TYPE_CHECKING:  # provided by ClientAdmin

        def _now(self) -> int: ...
        def audit(self, action: str, tenant: str, target: str, **details: Any) -> None: ...
        def _revealable(
            self, tenant: str, client_id: str, secret: str, now: int
        ) -> dict[str, Any]: ...
        def _update_client(
            self, tenant: str, client_id: str, change: Callable[[ClientRecord], ClientRecord]
        ) -> ClientRecord: ...

    def rotate_secret(
        self, tenant: str, client_id: str, *, grace: int = DEFAULT_SECRET_GRACE
    ) -> IssuedCredentials:
        """A new secret; the previous one stays valid for ``grace`` seconds (0: ends now).

        At most two secrets are ever valid: a rotation during a grace period ends the older
        previous secret at once."""
        if grace < 0:
            raise AdminError("the grace period cannot be negative")
        secret = self._new_secret(tenant, client_id, grace, reveal=False)
        self.audit("client.secret_rotated", tenant, client_id, graceSeconds=grace)
        return IssuedCredentials(tenant, client_id, secret)

    def _new_secret(self, tenant: str, client_id: str, grace: int, *, reveal: bool) -> str:
        """A new secret (the previous one valid ``grace`` s more; ``reveal``: readable once)."""
        now = self._now()
        secret = new_client_secret()
        revealable = self._revealable(tenant, client_id, secret, now) if reveal else {}

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
                **revealable,
            )

        self._update_client(tenant, client_id, rotated)
        return secret

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
        self.audit("client.previous_secret_ended", tenant, client_id)
        return client

    def revoke_client_tokens(self, tenant: str, client_id: str) -> int:
        """Not-before policy: every token the client got before now stops working."""
        now = self._now()
        self._update_client(tenant, client_id, lambda c: replace(c, not_before=now))
        self.audit("client.tokens_revoked", tenant, client_id, notBefore=now)
        return now
