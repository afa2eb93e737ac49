"""The proof signature check (``jose/dpop.py`` verifies straight on ``cryptography``): proofs
signed by another JOSE implementation (joserfc) pass for every algorithm, and signatures in
another encoding, truncated or of another algorithm are refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.dpop import DpopError, check_proof, public_jwk_of
from realmgate.jose.keys import eddsa_name_allowed
from tests.unit.test_jose_dpop import EC_KEY, KEYS, NOW, URL, claims, forge

INVALID = "DPoP verification failure: invalid signature"


def _joserfc_key(private: object) -> ECKey | OKPKey | RSAKey:
    for cls in (ECKey, OKPKey, RSAKey):
        try:
            return cls.import_key(private)  # type: ignore[arg-type]
        except Exception:
            continue
    raise AssertionError("no key type")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256", "PS256"])
def test_proofs_signed_by_joserfc_pass(alg: str) -> None:
    key = KEYS[alg]
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk_of(key)}
    with eddsa_name_allowed(alg):
        proof = jws.serialize_compact(
            header, json.dumps(claims()).encode(), _joserfc_key(key), algorithms=[alg]
        )
    assert check_proof(proof, method="GET", url=URL, now=NOW).jti == "jti-1"


def _with_signature(proof: str, signature: bytes) -> str:
    head, payload, _ = proof.split(".")
    return f"{head}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _refused(proof: str) -> None:
    with pytest.raises(DpopError) as caught:
        check_proof(proof, method="GET", url=URL, now=NOW)
    assert str(caught.value) == INVALID


def test_es256_signatures_must_be_raw_r_s() -> None:
    proof = forge()
    head, payload, _ = proof.split(".")
    der = EC_KEY.sign(f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    _refused(_with_signature(proof, der))  # DER, as OpenSSL writes it: not JWS
    raw = base64.urlsafe_b64decode(proof.split(".")[2] + "==")
    _refused(_with_signature(proof, raw[:63]))
    _refused(_with_signature(proof, raw + b"\0"))
    _refused(_with_signature(proof, b"\0" * 64))


def test_an_rsa_signature_of_the_other_padding_is_refused() -> None:
    rs = forge(alg="RS256", key=KEYS["RS256"])
    head, payload, _ = rs.split(".")
    ps_header = forge(alg="PS256", key=KEYS["PS256"]).split(".")[0]
    # a PKCS#1 v1.5 signature under a PS256 header, and a PSS one under RS256
    pkcs = KEYS["RS256"].sign(  # type: ignore[attr-defined]
        f"{ps_header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    _refused(f"{ps_header}.{payload}." + _with_signature(rs, pkcs).split(".")[2])
    pss = KEYS["RS256"].sign(  # type: ignore[attr-defined]
        f"{head}.{payload}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    _refused(_with_signature(rs, pss))
