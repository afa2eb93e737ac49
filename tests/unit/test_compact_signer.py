"""The compact JWS signer: its encodings are the standard ones and its tokens verify."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realmgate.jose import decode_verified, generate_key
from realmgate.jose.signer import b64url


@given(st.binary(max_size=600))
def test_b64url_is_unpadded_urlsafe_base64(data: bytes) -> None:
    assert b64url(data) == base64.urlsafe_b64encode(data).rstrip(b"=")


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
@pytest.mark.parametrize("typ", ["JWT", "at+jwt"])
def test_signed_payloads_verify_with_the_public_key(alg: str, typ: str) -> None:
    pair = generate_key(alg)
    claims = {"sub": "zürich", "exp": 2**31, "scope": "a b"}
    payload = json.dumps(claims, ensure_ascii=False).encode()
    token = pair.signer.sign_payload_bytes(payload, typ)
    assert token.decode("ascii") == token.decode("latin-1")  # ASCII only
    public = type(pair.key).import_key(pair.public_jwk())
    header, verified = decode_verified(token.decode(), public, [alg])
    assert header == {"alg": alg, "typ": typ, "kid": pair.kid}
    assert verified == claims
