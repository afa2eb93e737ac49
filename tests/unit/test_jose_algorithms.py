"""Signing with every algorithm realmgate supports, checked against cryptography directly
(independently of joserfc, which the verifier uses) and through joserfc."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from realmgate.jose import (
    SUPPORTED_ALGORITHMS,
    decode_verified,
    generate_key,
    key_type,
    load_private_key,
    pair_from_private_key,
    sign,
)
from realmgate.jose.signer import CompactSigner

HASHES = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
WIDTH = {"ES256": 32, "ES384": 48, "ES512": 66}
CURVE = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def test_supported_algorithms_are_the_asymmetric_jose_ones() -> None:
    assert set(SUPPORTED_ALGORITHMS) == {*RSA_ALGS, "ES256", "ES384", "ES512", "EdDSA"}
    assert [key_type(a) for a in ("PS384", "ES512", "EdDSA")] == ["RSA", "EC", "OKP"]
    for bad in ("none", "HS256", "ES256K", "RSA-OAEP"):
        with pytest.raises(ValueError, match="unsupported"):
            generate_key(bad)


@pytest.mark.parametrize("alg", RSA_ALGS)
def test_rsa_signatures_are_pkcs1_or_pss_with_hash_long_salt(alg: str) -> None:
    pair = generate_key(alg)
    jwt = sign(pair, {"sub": "x"})
    head, payload, sig = jwt.split(".")
    assert json.loads(b64d(head)) == {"alg": alg, "typ": "JWT", "kid": pair.kid}
    public = pair.key.public_key
    assert isinstance(public, rsa.RSAPublicKey)
    digest = HASHES[alg[2:]]
    pad: padding.AsymmetricPadding = (
        padding.PKCS1v15()
        if alg.startswith("RS")
        else padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    )
    public.verify(b64d(sig), f"{head}.{payload}".encode(), pad, digest)  # raises if wrong
    assert decode_verified(jwt, pair.key, [alg])[1] == {"sub": "x"}


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_signatures_are_fixed_width_r_s(alg: str) -> None:
    pair = generate_key(alg)
    jwt = sign(pair, {"sub": "x"})
    head, payload, sig = jwt.split(".")
    raw = b64d(sig)
    assert len(raw) == 2 * WIDTH[alg]
    r, s = int.from_bytes(raw[: WIDTH[alg]], "big"), int.from_bytes(raw[WIDTH[alg] :], "big")
    public = pair.key.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert public.curve.name == CURVE[alg]
    public.verify(
        encode_dss_signature(r, s), f"{head}.{payload}".encode(), ec.ECDSA(HASHES[alg[2:]])
    )
    assert decode_verified(jwt, pair.key, [alg])[1] == {"sub": "x"}


@pytest.mark.parametrize("alg", SUPPORTED_ALGORITHMS)
def test_pem_round_trip_and_wrong_algorithm_refused(alg: str) -> None:
    pair = generate_key(alg)
    again = load_private_key(pair.private_pem(), alg, pair.kid)
    assert again.public_jwk() == pair.public_jwk()
    assert decode_verified(sign(again, {"a": 1}), pair.key, [alg])[1] == {"a": 1}
    # The same key under an algorithm of another family (or curve) does not sign.
    other = "ES384" if alg in RSA_ALGS or alg in ("ES256", "ES512") else "RS256"
    with pytest.raises(ValueError, match="does not fit"):
        pair_from_private_key(pair.key.private_key, other, pair.kid)


def test_a_p256_key_cannot_sign_es512() -> None:
    p256 = generate_key("ES256").key.private_key
    with pytest.raises(ValueError, match="secp521r1"):
        CompactSigner("ES512", "k", p256)
    with pytest.raises(ValueError, match="does not fit"):
        CompactSigner("HS256", "k", p256)


def test_a_token_of_one_algorithm_is_refused_under_another() -> None:
    pair = generate_key("PS256")
    with pytest.raises(Exception, match="not allowed"):
        decode_verified(sign(pair, {"a": 1}), pair.key, ["RS256"])
