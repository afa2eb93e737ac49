"""realmgate.jose.dpop: every check of RFC 9449 §4.3 that a proof alone allows, proof making,
RFC 7638 thumbprints and the htu comparison form."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose.dpop import (
    DPOP_ALGS,
    HEADER_FAILURE,
    MANDATORY_CLAIMS,
    MAX_PROOF_BYTES,
    NOT_ACTIVE,
    DpopError,
    check_proof,
    jwk_thumbprint,
    make_proof,
    normalize_htu,
    public_jwk_of,
    token_hash,
)
from realmgate.jose.signer import b64url, signer_for

NOW = 1_750_000_000
URL = "https://api.example.com/v2/tenants/current/settings"
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
RSA_KEY = rsa.generate_private_key(65537, 2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP256R1())
KEYS: dict[str, object] = {"ES256": EC_KEY, "EdDSA": ED_KEY, "RS256": RSA_KEY, "PS256": RSA_KEY}


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode()).decode()


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"jti": "jti-1", "htm": "GET", "htu": URL, "iat": NOW}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def forge(
    header: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    *,
    key: object = EC_KEY,
    alg: str = "ES256",
    jwk_of: object | None = None,
) -> str:
    """A proof with exactly the given header and claims, signed with ``key``."""
    full_header: dict[str, Any] = {
        "typ": "dpop+jwt",
        "alg": alg,
        "jwk": public_jwk_of(jwk_of if jwk_of is not None else key),
    }
    if header is not None:
        full_header.update(header)
    full_header = {k: v for k, v in full_header.items() if v is not None}
    signing_input = f"{b64json(full_header)}.{b64json(payload or claims())}".encode()
    signature = signer_for(alg, key)(signing_input)
    return (signing_input + b"." + b64url(signature)).decode()


def check(proof: str, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"method": "GET", "url": URL, "now": NOW}
    options.update(kwargs)
    return check_proof(proof, **options)


def refused(proof: str, message: str | None = None, **kwargs: Any) -> str:
    with pytest.raises(DpopError) as caught:
        check(proof, **kwargs)
    if message is not None:
        assert str(caught.value) == message
    return str(caught.value)


# RFC 7638 §3.1 and RFC 9449 §7.1: the specifications' own examples.


def test_thumbprint_of_the_rfc7638_example_key() -> None:
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS"
        "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI"
        "4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ath_of_the_rfc9449_example_token() -> None:
    token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
    assert token_hash(token) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize("key", [EC_KEY, ED_KEY, RSA_KEY], ids=["EC", "OKP", "RSA"])
def test_thumbprint_agrees_with_joserfc(key: object) -> None:
    imported = {
        "EC": ECKey,
        "OKP": OKPKey,
        "RSA": RSAKey,
    }[public_jwk_of(key)["kty"]].import_key(key)  # type: ignore[attr-defined]
    assert jwk_thumbprint(public_jwk_of(key)) == imported.thumbprint()


def test_thumbprint_refuses_an_incomplete_key() -> None:
    with pytest.raises(DpopError):
        jwk_thumbprint({"kty": "EC", "crv": "P-256", "x": "abc"})
    with pytest.raises(DpopError):
        jwk_thumbprint({"kty": "oct", "k": "c2VjcmV0"})


# Round trips for every algorithm.


@pytest.mark.parametrize("alg", DPOP_ALGS)
def test_made_proof_passes_every_check(alg: str) -> None:
    proof = make_proof(
        KEYS[alg],
        method="POST",
        url=URL + "?q=1#f",
        alg=alg,
        nonce="n-1",
        access_token="tok",
        now=NOW,
        jti="j-1",
    )
    result = check(proof, method="POST", access_token="tok")
    assert result.jkt == jwk_thumbprint(public_jwk_of(KEYS[alg]))
    assert (result.jti, result.iat, result.htm, result.htu) == ("j-1", NOW, "POST", URL)
    assert result.nonce == "n-1"
    assert result.ath == token_hash("tok")
    header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
    assert header == {"typ": "dpop+jwt", "alg": alg, "jwk": public_jwk_of(KEYS[alg])}


def test_made_proofs_have_fresh_jtis() -> None:
    a = check(make_proof(EC_KEY, method="GET", url=URL, now=NOW))
    b = check(make_proof(EC_KEY, method="GET", url=URL, now=NOW))
    assert a.jti != b.jti and len(a.jti) >= 22


def test_make_proof_refuses_keys_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="P-256"):
        make_proof(ec.generate_private_key(ec.SECP384R1()), method="GET", url=URL)
    with pytest.raises(ValueError, match="does not fit"):
        make_proof(EC_KEY, method="GET", url=URL, alg="PS256")
    with pytest.raises(ValueError, match="unsupported DPoP algorithm"):
        make_proof(RSA_KEY, method="GET", url=URL, alg="RS512")
    with pytest.raises(ValueError, match="must be"):
        make_proof(b"not a key", method="GET", url=URL)


# §4.3 item 2: one well-formed JWT.


@pytest.mark.parametrize(
    "proof",
    ["", "abc", "a.b", "a.b.c.d", "..", "!!.!!.!!", f"{b64json([1])}.{b64json({})}.c2ln"],
)
def test_not_a_jwt(proof: str) -> None:
    refused(proof)


def test_a_proof_too_large_is_refused_unparsed() -> None:
    big = forge(payload=claims(pad="x" * MAX_PROOF_BYTES))
    refused(big, HEADER_FAILURE)


def test_claims_that_are_not_an_object() -> None:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk_of(EC_KEY)}
    signing_input = f"{b64json(header)}.{b64json(['jti'])}".encode()
    proof = (signing_input + b"." + b64url(signer_for("ES256", EC_KEY)(signing_input))).decode()
    refused(proof, HEADER_FAILURE)


# §4.3 items 3 and 4: required claims, typ.


@pytest.mark.parametrize("missing", ["jti", "htm", "htu", "iat"])
def test_every_required_claim(missing: str) -> None:
    refused(forge(payload=claims(**{missing: None})), MANDATORY_CLAIMS)


@pytest.mark.parametrize("iat", ["1750000000", True, None, float("nan")])
def test_iat_must_be_a_number(iat: Any) -> None:
    payload = claims()
    payload["iat"] = iat
    if isinstance(iat, float):  # json cannot carry NaN in strict mode: write it by hand
        payload["iat"] = 1e400
    refused(forge(payload=payload))


@pytest.mark.parametrize("typ", [None, "JWT", "DPoP+JWT", "at+jwt"])
def test_typ_must_be_dpop_jwt(typ: str | None) -> None:
    refused(forge({"typ": typ}), "Invalid or missing type in DPoP header")


# §4.3 item 5: asymmetric algorithms only, and only the accepted ones.


def test_alg_none_is_refused() -> None:
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk_of(EC_KEY)}
    refused(f"{b64json(header)}.{b64json(claims())}.e30", "Unsupported DPoP algorithm")


def test_hmac_is_refused_even_with_a_symmetric_jwk() -> None:
    secret = b"0123456789abcdef0123456789abcdef"
    header = {
        "typ": "dpop+jwt",
        "alg": "HS256",
        "jwk": {"kty": "oct", "k": b64url(secret).decode()},
    }
    signing_input = f"{b64json(header)}.{b64json(claims())}".encode()
    mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
    refused((signing_input + b"." + b64url(mac)).decode(), "Unsupported DPoP algorithm")


def test_an_algorithm_outside_the_accepted_list_is_refused() -> None:
    proof = make_proof(RSA_KEY, method="GET", url=URL, now=NOW)
    refused(proof, "Unsupported DPoP algorithm", algs=("ES256",))
    assert check(proof, algs=("RS256",)).htm == "GET"


# §4.3 items 6 and 7: the jwk header, public only, and the signature made with it.


def test_signature_by_another_key_than_the_jwk() -> None:
    proof = forge(jwk_of=OTHER_EC_KEY)
    refused(proof, "DPoP verification failure: invalid signature")


def test_tampered_claims() -> None:
    header, _, signature = make_proof(EC_KEY, method="GET", url=URL, now=NOW).split(".")
    proof = f"{header}.{b64json(claims(htm='DELETE'))}.{signature}"
    refused(proof, "DPoP verification failure: invalid signature", method="DELETE")


def test_missing_jwk() -> None:
    refused(forge({"jwk": None}), "No JWK in DPoP header")


def test_jwk_with_private_parts() -> None:
    private = ECKey.import_key(EC_KEY).as_dict(private=True)
    refused(forge({"jwk": private}), "Private key is present in DPoP header")


def test_jwk_that_does_not_fit_the_algorithm() -> None:
    refused(forge({"jwk": public_jwk_of(RSA_KEY)}))
    p384 = ec.generate_private_key(ec.SECP384R1())
    refused(forge({"jwk": public_jwk_of(p384)}))


def test_small_rsa_keys_are_refused() -> None:
    small = rsa.generate_private_key(65537, 1024)
    refused(forge(key=small, alg="RS256"), "DPoP verification failure: the RSA key is too small")


def test_critical_headers_are_refused_and_unknown_ones_ignored() -> None:
    refused(forge({"crit": ["exp"], "exp": 1}), HEADER_FAILURE)
    assert check(forge({"kid": "k", "x-extra": 1})).jti == "jti-1"


# §4.3 items 8 and 9: htm and htu.


@pytest.mark.parametrize("method", ["POST", "get", "GET "])
def test_htm_must_be_the_request_method(method: str) -> None:
    refused(forge(), "DPoP HTTP method mismatch", method=method)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com/v2/tenants/current/settings",
        "https://api.example.com:8443/v2/tenants/current/settings",
        "https://evil.example.com/v2/tenants/current/settings",
        "https://api.example.com/v2/tenants/current",
        "https://api.example.com/v2/tenants/current/settings/",
        "https://api.example.com/v2/tenants/current/SETTINGS",
    ],
)
def test_htu_must_be_the_request_uri(url: str) -> None:
    refused(forge(), "DPoP HTTP URL mismatch", url=url)


@pytest.mark.parametrize(
    "htu",
    [
        URL + "?a=1",
        URL + "#frag",
        "HTTPS://API.Example.COM/v2/tenants/current/settings",
        "https://api.example.com:443/v2/tenants/current/settings",
        "https://api.example.com/v2/./tenants/x/../current/settings",
        "https://api.example.com/%76%32/tenants/current/settings",
    ],
)
def test_htu_is_compared_after_normalisation(htu: str) -> None:
    assert check(forge(payload=claims(htu=htu))).htu == htu


@pytest.mark.parametrize(
    "htu", ["/v2/x", "api.example.com/v2", "ftp://api.example.com/", "https://"]
)
def test_htu_must_be_an_absolute_http_uri(htu: str) -> None:
    refused(forge(payload=claims(htu=htu)), "Malformed HTTP URL in DPoP proof")


def test_normalize_htu_examples() -> None:
    assert normalize_htu("HTTP://Ex.COM:80/a/../b/%7e%2f?q#f") == "http://ex.com/b/~%2F"
    assert normalize_htu("https://[::1]:8443") == "https://[::1]:8443/"
    assert normalize_htu("https://x.test:443") == "https://x.test/"


# §4.3 item 11: creation time.


@pytest.mark.parametrize("iat", [NOW - 60, NOW, NOW + 5])
def test_iat_inside_the_window(iat: int) -> None:
    assert check(forge(payload=claims(iat=iat))).iat == iat


@pytest.mark.parametrize("iat", [NOW - 61, NOW + 6, 0])
def test_iat_outside_the_window(iat: int) -> None:
    refused(forge(payload=claims(iat=iat)), NOT_ACTIVE)


def test_max_age_is_the_callers() -> None:
    proof = forge(payload=claims(iat=NOW - 20))
    refused(proof, NOT_ACTIVE, max_age=10)
    assert check(proof, max_age=30).iat == NOW - 20


# §4.3 items 10 and 12: nonce is returned for the caller; ath against the access token.


def test_ath_is_required_with_an_access_token() -> None:
    refused(forge(), "No access token hash in DPoP proof", access_token="tok")


def test_ath_must_match_the_access_token() -> None:
    proof = forge(payload=claims(ath=token_hash("another")))
    refused(proof, "DPoP proof access token hash mismatch", access_token="tok")
    assert check(proof).ath == token_hash("another")


def test_nonce_is_returned() -> None:
    assert check(forge(payload=claims(nonce="abc"))).nonce == "abc"
    assert check(forge()).nonce is None
    refused(forge(payload=claims(nonce=7)))


def test_errors_never_repeat_the_proof_or_token() -> None:
    secret_token = "eyJ.secret-token.value"
    proof = forge(payload=claims(ath="wrong", htu="https://secret.example/"))
    message = refused(proof, access_token=secret_token)
    assert "secret" not in message and proof not in message


# Robustness: nothing but DpopError, whatever the input.


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_cleanly(text: str) -> None:
    with pytest.raises(DpopError):
        check(text)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["jti", "htm", "htu", "iat", "nonce", "ath", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.floats()),
    )
)
def test_arbitrary_claims_never_crash(payload: dict[str, Any]) -> None:
    try:
        proof = forge(payload={k: v for k, v in payload.items() if v == v})
    except ValueError:
        return
    with contextlib.suppress(DpopError):
        check(proof)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["api.example.com", "API.example.com", "127.0.0.1", "[::1]"]),
    st.sampled_from(["", ":443", ":80", ":8443"]),
    st.lists(st.sampled_from(["a", "b", ".", "..", "%7E", "%2f", "~"]), max_size=5),
    st.text(alphabet="abc=&", max_size=5),
)
def test_normalisation_is_idempotent_and_ignores_the_query(
    scheme: str, host: str, port: str, segments: list[str], query: str
) -> None:
    url = f"{scheme}://{host}{port}/" + "/".join(segments)
    once = normalize_htu(url)
    assert normalize_htu(once) == once
    assert normalize_htu(f"{url}?{query}#frag") == once
