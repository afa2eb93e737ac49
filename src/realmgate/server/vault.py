"""Opens the install's secrets: the master key (outside the database) and the pepper (inside)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from realmgate.server.crypto import (
    KEY_BYTES,
    Aead,
    MasterKeyError,
    SecretHasher,
    create_key_file,
    parse_master_key,
    read_key_file,
)
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import ClientRecord

PEPPER = "pepper"
PEPPER_AAD = b"realmgate:pepper"


@dataclass(frozen=True, slots=True)
class Vault:
    aead: Aead
    hasher: SecretHasher

    def encrypt_signing_key(self, tenant: str, kid: str, pem: bytes) -> bytes:
        return self.aead.encrypt(pem, f"signing-key:{tenant}:{kid}".encode())

    def decrypt_signing_key(self, tenant: str, kid: str, blob: bytes) -> bytes:
        return self.aead.decrypt(blob, f"signing-key:{tenant}:{kid}".encode())

    def encrypt_client_secret(self, tenant: str, client_id: str, secret: str) -> bytes:
        """For ``client_secret_jwt`` clients, whose secret is an HMAC key we must keep."""
        return self.aead.encrypt(secret.encode(), f"client-secret:{tenant}:{client_id}".encode())

    def decrypt_client_secret(self, client: ClientRecord, blob: bytes) -> bytes:
        aad = f"client-secret:{client.tenant}:{client.client_id}".encode()
        return self.aead.decrypt(blob, aad)

    def encrypt_revealable(self, tenant: str, client_id: str, secret: str, until: int) -> bytes:
        """A new secret readable once through the admin API until ``until`` (bound to it)."""
        aad = f"client-reveal:{tenant}:{client_id}:{until}".encode()
        return self.aead.encrypt(secret.encode(), aad)

    def decrypt_revealable(self, client: ClientRecord, blob: bytes, until: int) -> str:
        aad = f"client-reveal:{client.tenant}:{client.client_id}:{until}".encode()
        return self.aead.decrypt(blob, aad).decode()

    def encrypt_totp_secret(self, username: str, secret: bytes) -> bytes:
        """A console operator's TOTP secret, bound to the operator's name."""
        return self.aead.encrypt(secret, totp_aad(username))

    def decrypt_totp_secret(self, username: str, blob: bytes) -> bytes:
        return self.aead.decrypt(blob, totp_aad(username))


def totp_aad(username: str) -> bytes:
    return f"operator-totp:{username}".encode()


def load_master_key(settings: Settings, *, initialized: bool) -> bytes:
    if settings.master_key is not None:
        return parse_master_key(settings.master_key.get_secret_value())
    key = read_key_file(settings.key_file)
    if key is not None:
        return key
    if initialized:
        raise MasterKeyError(
            f"this database holds encrypted keys but no master key was found: set "
            f"REALMGATE_MASTER_KEY or restore the key file {settings.key_file}"
        )
    return create_key_file(settings.key_file)


def open_vault(settings: Settings, store: Store) -> Vault:
    """Load (or, on an empty database, create) the master key and the pepper."""
    stored_pepper = store.get_meta(PEPPER)
    aead = Aead(load_master_key(settings, initialized=stored_pepper is not None))
    if stored_pepper is None:
        pepper = secrets.token_bytes(KEY_BYTES)
        store.put_meta(PEPPER, aead.encrypt(pepper, PEPPER_AAD))
    else:
        pepper = aead.decrypt(stored_pepper, PEPPER_AAD)
    return Vault(aead=aead, hasher=SecretHasher(pepper))


def rewrap(store: Store, old: Vault, new_key: bytes) -> tuple[int, int]:
    """Re-encrypt every signing key, every kept client secret, every operator's TOTP secret
    and the pepper under ``new_key``, in one transaction. Returns (keys, client secrets) moved.

    Run it with every node stopped, then give the nodes the new master key: a node still
    holding the old key cannot decrypt what it loads afterwards."""
    new = Aead(new_key)
    keys = [
        replace(
            k,
            private_key_enc=new.encrypt(
                old.decrypt_signing_key(k.tenant, k.kid, k.private_key_enc),
                f"signing-key:{k.tenant}:{k.kid}".encode(),
            ),
        )
        for k in store.list_all_keys()
    ]
    secrets_ = []
    for c in store.list_encrypted_secrets():
        aad = f"client-secret:{c.tenant}:{c.client_id}".encode()

        def move(blob: bytes | None, aad: bytes = aad) -> bytes | None:
            return None if blob is None else new.encrypt(old.aead.decrypt(blob, aad), aad)

        secrets_.append(
            replace(
                c, secret_enc=move(c.secret_enc), previous_secret_enc=move(c.previous_secret_enc)
            )
        )
    totp = {
        o.username: new.encrypt(
            old.decrypt_totp_secret(o.username, o.totp_secret_enc), totp_aad(o.username)
        )
        for o in store.list_operators()
        if o.totp_secret_enc is not None
    }
    stored_pepper = store.get_meta(PEPPER)
    if stored_pepper is None:
        raise MasterKeyError("this database has no pepper: nothing to rewrap")
    pepper = new.encrypt(old.aead.decrypt(stored_pepper, PEPPER_AAD), PEPPER_AAD)
    store.replace_encrypted_material(keys, secrets_, {PEPPER: pepper}, totp)
    return len(keys), len(secrets_)


__all__ = ["MasterKeyError", "Vault", "open_vault", "rewrap"]
