"""DpopKey: generation per algorithm, proofs that a server accepts, the 0600 key file."""

from __future__ import annotations

import os
import pickle
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from realmgate.client import ConfigurationError, DpopKey
from realmgate.jose.dpop import DpopError, check_proof, token_hash

URL = "https://api.test/v2/things"
ALGS = ("ES256", "EdDSA", "RS256", "PS256")


@pytest.mark.parametrize("alg", ALGS)
def test_generated_key_signs_proofs_a_server_accepts(alg: str) -> None:
    key = DpopKey.generate(alg)
    assert key.alg == alg
    proof = key.proof("get", URL + "?page=2#top", nonce="n-1", access_token="AT-1")
    checked = check_proof(
        proof, method="GET", url=URL, now=time.time(), access_token="AT-1", algs=(alg,)
    )
    assert checked.jkt == key.jkt
    assert checked.htu == URL  # no query, no fragment
    assert checked.htm == "GET"
    assert checked.nonce == "n-1"
    assert checked.ath == token_hash("AT-1")
    assert "d" not in key.public_jwk


def test_every_proof_is_new() -> None:
    key = DpopKey.generate()
    first = check_proof(key.proof("POST", URL), method="POST", url=URL, now=time.time())
    second = check_proof(key.proof("POST", URL), method="POST", url=URL, now=time.time())
    assert first.jti != second.jti
    assert first.nonce is None and first.ath is None


def test_proof_for_another_request_is_refused() -> None:
    proof = DpopKey.generate().proof("POST", URL)
    with pytest.raises(DpopError):
        check_proof(proof, method="GET", url=URL, now=time.time())
    with pytest.raises(DpopError):
        check_proof(proof, method="POST", url=URL + "/other", now=time.time())


def test_key_material_stays_private() -> None:
    key = DpopKey.generate("RS256")
    assert repr(key) == f"DpopKey(alg='RS256', jkt={key.jkt!r})"
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_default_is_es256_and_unknown_algs_are_refused() -> None:
    assert DpopKey.generate().alg == "ES256"
    for alg in ("HS256", "none", "ES384", "RS512"):
        with pytest.raises(ConfigurationError):
            DpopKey.generate(alg)


def test_keys_that_do_not_fit_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="P-256"):
        DpopKey(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigurationError, match="2048"):
        DpopKey(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ConfigurationError, match="does not fit"):
        DpopKey(ec.generate_private_key(ec.SECP256R1()), alg="RS256")
    with pytest.raises(ConfigurationError):
        DpopKey("not a key")


@pytest.mark.parametrize("alg", ALGS)
def test_save_and_load(tmp_path: Path, alg: str) -> None:
    key = DpopKey.generate(alg)
    path = tmp_path / "dpop.pem"
    key.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = DpopKey.load(path, alg="PS256" if alg == "PS256" else None)
    assert (loaded.jkt, loaded.alg) == (key.jkt, alg)


def test_save_never_replaces_a_file(tmp_path: Path) -> None:
    path = tmp_path / "dpop.pem"
    path.write_text("keep me")
    with pytest.raises(ConfigurationError, match="cannot create"):
        DpopKey.generate().save(path)
    assert path.read_text() == "keep me"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_load_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "dpop.pem"
    DpopKey.generate().save(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        DpopKey.load(path)


def test_load_refuses_missing_garbage_and_encrypted_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot open"):
        DpopKey.load(tmp_path / "absent.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    os.chmod(garbage, 0o600)
    with pytest.raises(ConfigurationError, match="no unencrypted PEM"):
        DpopKey.load(garbage)
    encrypted = tmp_path / "encrypted.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"),
    )
    encrypted.write_bytes(pem)
    os.chmod(encrypted, 0o600)
    with pytest.raises(ConfigurationError, match="no unencrypted PEM"):
        DpopKey.load(encrypted)


def test_load_or_create(tmp_path: Path) -> None:
    path = tmp_path / "dpop.pem"
    created = DpopKey.load_or_create(path)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DpopKey.load_or_create(path).jkt == created.jkt
    assert DpopKey.load_or_create(tmp_path / "ed.pem", alg="EdDSA").alg == "EdDSA"
