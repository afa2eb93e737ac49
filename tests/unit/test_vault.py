"""Master key handling: created once with 0600, never silently replaced, wrong key refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from realmgate.server.crypto import Aead, MasterKeyError, SecretHasher, new_master_key
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


def test_first_start_creates_a_0600_key_file(tmp_path: Path) -> None:
    rt = open_runtime(settings(tmp_path))
    rt.close()
    key_file = tmp_path / "data" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # a second start reads the same key and the same pepper
    rt2 = open_runtime(settings(tmp_path))
    assert rt2.vault.hasher.hash("x") == rt2.vault.hasher.hash("x")
    rt2.close()


def test_missing_key_on_an_initialized_database_is_an_error(tmp_path: Path) -> None:
    open_runtime(settings(tmp_path)).close()
    (tmp_path / "data" / "master.key").unlink()
    with pytest.raises(MasterKeyError, match="no master key was found"):
        open_runtime(settings(tmp_path))
    assert not (tmp_path / "data" / "master.key").exists()  # no silent new key


def test_wrong_key_is_an_error(tmp_path: Path) -> None:
    open_runtime(settings(tmp_path)).close()
    with pytest.raises(MasterKeyError, match="does not match"):
        open_runtime(settings(tmp_path, master_key=new_master_key()))


def test_key_from_environment_is_used(tmp_path: Path) -> None:
    key = new_master_key()
    open_runtime(settings(tmp_path, master_key=key)).close()
    assert not (tmp_path / "data" / "master.key").exists()
    open_runtime(settings(tmp_path, master_key=key)).close()


def test_group_readable_key_file_is_refused(tmp_path: Path) -> None:
    open_runtime(settings(tmp_path)).close()
    (tmp_path / "data" / "master.key").chmod(0o640)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        open_runtime(settings(tmp_path))


@pytest.mark.parametrize("bad", ["", "not base64!", "YWJj"])
def test_malformed_keys_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(MasterKeyError):
        open_runtime(settings(tmp_path, master_key=bad))


def test_aead_binds_associated_data() -> None:
    aead = Aead(b"k" * 32)
    blob = aead.encrypt(b"pem", b"signing-key:a:k1")
    assert aead.decrypt(blob, b"signing-key:a:k1") == b"pem"
    with pytest.raises(MasterKeyError):
        aead.decrypt(blob, b"signing-key:b:k1")
    assert "k" * 8 not in repr(aead)


def test_hasher_compares_against_a_dummy_when_nothing_is_stored() -> None:
    h = SecretHasher(b"p" * 32)
    assert h.matches("s", h.hash("s"))
    assert not h.matches("s", h.hash("t"))
    assert not h.matches("s", None)
    assert "p" * 8 not in repr(h)


def test_rewrap_moves_everything_to_the_new_key(tmp_path: Path) -> None:
    import anyio

    from realmgate.server.core.admin import Admin
    from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
    from realmgate.server.core.realms import Directory
    from realmgate.server.crypto import create_key_file
    from realmgate.server.vault import rewrap
    from realmgate.wire.forms import parse_form

    rt = open_runtime(settings(tmp_path))
    admin = Admin(rt.store, rt.vault, rt.settings)
    creds = admin.create_tenant("acme", signing_alg="ES256")
    jwt_client = admin.create_client("acme", "hmac", auth_method="client_secret_jwt")
    admin.rotate_secret("acme", "hmac", grace=3600)  # two encrypted secrets
    new_key = create_key_file(tmp_path / "new.key")
    assert rewrap(rt.store, rt.vault, new_key) == (1, 1)
    rt.close()
    assert jwt_client.client_secret

    # the old key no longer opens the database; the new one does, and everything works
    with pytest.raises(MasterKeyError):
        open_runtime(settings(tmp_path))
    rt2 = open_runtime(settings(tmp_path, master_key_file=tmp_path / "new.key"))
    grant = ClientCredentialsGrant(Directory(rt2.store, rt2.vault, rt2.settings))
    body = (
        f"grant_type=client_credentials&client_id={creds.client_id}"
        f"&client_secret={creds.client_secret}"
    )
    result = anyio.run(grant.handle, TokenRequest("acme", parse_form(body.encode()), None))
    assert result["token_type"] == "Bearer"
    stored = rt2.store.get_client("acme", "hmac")
    assert stored is not None
    assert stored.secret_enc is not None
    assert stored.previous_secret_enc is not None
    assert rt2.vault.decrypt_client_secret(stored, stored.secret_enc)
    assert rt2.vault.decrypt_client_secret(stored, stored.previous_secret_enc)
    rt2.close()
