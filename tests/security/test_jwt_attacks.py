"""Forged and misused access tokens against the two token consumers of a real server: the tenant
API (401 ``invalid_token``, JSend ``fail``, RFC 6750 challenge; never a 500) and introspection
(200 ``{"active": false}``).

Most forgeries are signed with the realm's *real* private key (read from the database with the
install's master key, as the operator could): only then does a refusal prove that the check
under test (algorithm, ``typ``, ``crit``, ``kid``, a claim) refused the token, and not merely
the signature. Controls show that the same machinery produces accepted tokens.
"""

from __future__ import annotations

import hmac as std_hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, RSAKey

from realmgate.jose import KeyPair
from realmgate.server.core.introspection import realm_resolver
from realmgate.server.core.realms import Directory
from realmgate.verifier import InvalidTokenError, TokenPolicy, verify_token
from tests.security.helpers import (
    Listener,
    LogWatch,
    access_token,
    api_get,
    api_patch,
    assert_api_refused,
    assert_inactive,
    b64url,
    b64url_json,
    introspect,
    jwks,
    parts,
    poll,
    revoke,
    rsa_private,
    runtime_of,
    sign_hs256,
    sign_rs256,
    signing_keys,
    unique,
)
from tests.servers import Credentials, Server

TARGETS = ["api", "introspection"]

MALFORMED = "The access token is malformed"
TOO_LARGE = "The access token is too large"
BAD_ALG = "The access token's algorithm is not allowed"
ALG_MISMATCH = "The access token's algorithm does not match its key"
BAD_TYP = "The access token's type is not accepted"
CRIT = "The access token has unsupported critical headers"
NO_KID = "The access token has no usable key id"
UNKNOWN_KEY = "The access token was signed by an unknown key"
BAD_SIGNATURE = "The access token's signature is invalid"
UNTRUSTED_ISS = "The access token's issuer is not trusted"
NO_ISS = "The access token has no issuer"
EXPIRED = "The access token expired"
NOT_YET = "The access token is not valid yet"
FUTURE_IAT = "The access token was issued in the future"
WRONG_AUD = "The access token is not meant for this audience"
REVOKED = "The access token was revoked"


@dataclass(frozen=True)
class Realm:
    tenant: str
    admin: Credentials
    token: str  # a genuine access token of ``admin``
    header: dict[str, Any]
    claims: dict[str, Any]
    key: KeyPair  # the realm's active signing key (private)

    @property
    def issuer(self) -> str:
        return str(self.claims["iss"])

    def fresh_claims(self, **changes: Any) -> dict[str, Any]:
        """The genuine claims with a new jti, ``changes`` applied (None: claim removed)."""
        claims = {**self.claims, "jti": str(uuid.uuid4())}
        for name, value in changes.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(self, header: dict[str, Any] | None = None, payload: Any = None) -> str:
        """A JWS signed with the realm's real key (header and payload as given)."""
        return sign_rs256(
            rsa_private(self.key),
            self.header if header is None else header,
            self.fresh_claims() if payload is None else payload,
        )


def make_realm(server: Server, prefix: str) -> Realm:
    tenant = unique(prefix)
    admin = server.create_tenant(tenant)
    token = access_token(server, admin)
    header, claims, _ = parts(token)
    assert header["alg"] == "RS256"
    key = signing_keys(server, tenant)[header["kid"]]
    return Realm(tenant, admin, token, header, claims, key)


@pytest.fixture(scope="module")
def alpha(server: Server) -> Realm:
    return make_realm(server, "alpha")


@pytest.fixture(scope="module")
def beta(server: Server) -> Realm:
    return make_realm(server, "beta")


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def attacker_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public = RSAKey.import_key(pem)
    return {**public.as_dict(private=False), "kid": public.thumbprint(), "alg": "RS256"}


def assert_refused(
    server: Server, realm: Realm, target: str, token: str, description: str | None
) -> None:
    """Refused by ``target``: the API's 401 (with ``description``) or introspection's inactive."""
    watch = LogWatch(server)
    if target == "api":
        assert_api_refused(api_get(server, token), description)
    else:
        assert_inactive(introspect(server, realm.admin, token))
    watch.assert_no_error()


def assert_accepted(server: Server, realm: Realm, target: str, token: str) -> dict[str, Any]:
    if target == "api":
        r = api_get(server, token)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "success"
        assert r.json()["data"]["shortcode"] == realm.tenant
        return dict(r.json()["data"])
    r = introspect(server, realm.admin, token)
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert body["active"] is True, body
    assert body["iss"] == realm.issuer
    return body


# -- controls: the genuine token and a token re-signed by the test are accepted ----------------
@pytest.mark.parametrize("target", TARGETS)
def test_control_genuine_token_is_accepted(server: Server, alpha: Realm, target: str) -> None:
    assert_accepted(server, alpha, target, alpha.token)


@pytest.mark.parametrize("target", TARGETS)
def test_control_token_resigned_with_the_realm_key_is_accepted(
    server: Server, alpha: Realm, target: str
) -> None:
    assert_accepted(server, alpha, target, alpha.sign())


# -- alg "none" ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("alg", "keep_signature", "description"),
    [
        ("none", False, MALFORMED),  # RFC 7519 unsecured JWT: empty signature
        ("none", True, BAD_ALG),
        ("None", False, MALFORMED),
        ("NONE", True, BAD_ALG),
        ("nOnE", True, BAD_ALG),
    ],
)
def test_alg_none_is_refused(
    server: Server,
    alpha: Realm,
    target: str,
    alg: str,
    keep_signature: bool,
    description: str,
) -> None:
    header = {**alpha.header, "alg": alg}
    signature = alpha.token.rsplit(".", 1)[1] if keep_signature else ""
    token = f"{b64url_json(header)}.{b64url_json(alpha.fresh_claims())}.{signature}"
    assert_refused(server, alpha, target, token, description)


# -- RS256 / HS256 key confusion ----------------------------------------------------------------
def public_secrets(realm: Realm) -> dict[str, bytes]:
    """Every form of the realm's public key an HS256 confusion attack would use as a secret."""
    public = rsa_private(realm.key).public_key()
    spki = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = realm.key.public_jwk()
    return {
        "spki-pem": spki,
        "spki-pem-stripped": spki.strip(),
        "pkcs1-pem": pkcs1,
        "spki-der": der,
        "jwk-n": jwk["n"].encode(),
        "jwk-n-bytes": public.public_numbers().n.to_bytes(256, "big"),
        "jwk-json": json.dumps(jwk).encode(),
    }


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "secret_form",
    [
        "spki-pem",
        "spki-pem-stripped",
        "pkcs1-pem",
        "spki-der",
        "jwk-n",
        "jwk-n-bytes",
        "jwk-json",
    ],
)
def test_hs256_signed_with_the_public_key_is_refused(
    server: Server, alpha: Realm, target: str, secret_form: str
) -> None:
    # the JWKS is public: the attacker has exactly these bytes
    published = {k["kid"]: k for k in jwks(server, alpha.tenant)["keys"]}
    assert published[alpha.key.kid]["n"] == alpha.key.public_jwk()["n"]
    secret = public_secrets(alpha)[secret_form]
    token = sign_hs256(secret, {**alpha.header, "alg": "HS256"}, alpha.fresh_claims())
    assert_refused(server, alpha, target, token, BAD_ALG)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_with_the_public_key_are_refused(
    server: Server, alpha: Realm, target: str, alg: str
) -> None:
    secret = public_secrets(alpha)["spki-pem"]
    header = {**alpha.header, "alg": alg}
    signing_input = f"{b64url_json(header)}.{b64url_json(alpha.fresh_claims())}"
    digest = {"HS384": "sha384", "HS512": "sha512"}[alg]
    mac = std_hmac.new(secret, signing_input.encode(), digest).digest()
    assert_refused(server, alpha, target, f"{signing_input}.{b64url(mac)}", BAD_ALG)


@pytest.mark.parametrize("target", TARGETS)
def test_alg_that_does_not_match_the_key_is_refused(
    server: Server, alpha: Realm, target: str
) -> None:
    """ES256 named in the header of a token whose kid is the realm's RSA key."""
    token = alpha.sign({**alpha.header, "alg": "ES256"})
    assert_refused(server, alpha, target, token, ALG_MISMATCH)


# -- kid injection ------------------------------------------------------------------------------
KIDS: list[tuple[str, Any, str]] = [
    ("path-traversal", "../../../../etc/passwd", UNKNOWN_KEY),
    ("path-traversal-nul", "../../../../etc/passwd\u0000", UNKNOWN_KEY),
    ("sql", "' OR 1=1 --", UNKNOWN_KEY),
    ("sql-union", "x' UNION SELECT private_key_enc FROM signing_keys --", UNKNOWN_KEY),
    ("url", "http://127.0.0.1:1/jwks.json", UNKNOWN_KEY),
    ("10kb", "k" * 10240, TOO_LARGE),
    ("200-chars", "k" * 200, NO_KID),
    ("number", 12345, NO_KID),
    ("null", None, NO_KID),
    ("empty", "", NO_KID),
    ("list", ["kid"], NO_KID),
    ("object", {"kid": "x"}, NO_KID),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("kid", "description"), [(v, d) for _, v, d in KIDS], ids=[k[0] for k in KIDS]
)
def test_malicious_kid_is_refused(
    server: Server, alpha: Realm, target: str, kid: Any, description: str
) -> None:
    # signed with the realm's real key: only the kid is wrong
    token = alpha.sign({**alpha.header, "kid": kid})
    assert_refused(server, alpha, target, token, description)


@pytest.mark.parametrize("target", TARGETS)
def test_missing_kid_is_refused(server: Server, alpha: Realm, target: str) -> None:
    header = {k: v for k, v in alpha.header.items() if k != "kid"}
    assert_refused(server, alpha, target, alpha.sign(header), NO_KID)


# -- jwk / jku / x5u: keys named by the attacker -------------------------------------------------
def self_signed_cert(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = time.time()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.fromtimestamp(now - 60, UTC))
        .not_valid_after(datetime.fromtimestamp(now + 3600, UTC))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kid_choice", ["attacker-kid", "realm-kid"])
def test_embedded_jwk_of_the_attacker_is_refused(
    server: Server,
    alpha: Realm,
    attacker_key: rsa.RSAPrivateKey,
    target: str,
    kid_choice: str,
) -> None:
    jwk = attacker_jwk(attacker_key)
    kid = jwk["kid"] if kid_choice == "attacker-kid" else alpha.key.kid
    header = {"alg": "RS256", "typ": "JWT", "kid": kid, "jwk": jwk}
    token = sign_rs256(attacker_key, header, alpha.fresh_claims())
    expected = UNKNOWN_KEY if kid_choice == "attacker-kid" else BAD_SIGNATURE
    assert_refused(server, alpha, target, token, expected)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("header_name", ["jku", "x5u", "x5c"])
@pytest.mark.parametrize("kid_choice", ["attacker-kid", "realm-kid"])
def test_remote_key_of_the_attacker_is_never_fetched_nor_trusted(
    server: Server,
    alpha: Realm,
    attacker_key: rsa.RSAPrivateKey,
    target: str,
    header_name: str,
    kid_choice: str,
) -> None:
    jwk = attacker_jwk(attacker_key)
    cert = self_signed_cert(attacker_key)
    body = (
        json.dumps({"keys": [jwk]}).encode()
        if header_name == "jku"
        else cert.public_bytes(serialization.Encoding.PEM)
    )
    with Listener(body) as listener:
        # the listener works: the server could reach it if it tried
        assert httpx.get(f"{listener.url}/probe").status_code == 200
        listener.requests.clear()
        kid = jwk["kid"] if kid_choice == "attacker-kid" else alpha.key.kid
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": kid}
        if header_name == "x5c":
            header["x5c"] = [b64url(cert.public_bytes(serialization.Encoding.DER))]
        else:
            header[header_name] = f"{listener.url}/{header_name}"
        token = sign_rs256(attacker_key, header, alpha.fresh_claims())
        expected = UNKNOWN_KEY if kid_choice == "attacker-kid" else BAD_SIGNATURE
        assert_refused(server, alpha, target, token, expected)
        assert listener.requests == []


@pytest.mark.parametrize("target", TARGETS)
def test_jku_x5u_jwk_headers_on_a_validly_signed_token_are_ignored(
    server: Server, alpha: Realm, target: str
) -> None:
    """The headers neither select a key nor make the server fetch anything: the realm's own
    key verifies the token and it is accepted; the attacker's server sees no request.

    (The embedded key is a small EC key: joserfc refuses protected headers over 512 bytes,
    which an RSA JWK would exceed.)"""
    jwk = dict(ECKey.generate_key("P-256").as_dict(private=False))
    with Listener(json.dumps({"keys": [jwk]}).encode()) as listener:
        header = {
            **alpha.header,
            "jku": f"{listener.url}/jku",
            "x5u": f"{listener.url}/x5u",
            "jwk": jwk,
        }
        assert_accepted(server, alpha, target, alpha.sign(header))
        assert listener.requests == []


# -- crit, typ, cty -----------------------------------------------------------------------------
CRITS: list[tuple[str, dict[str, Any]]] = [
    ("unknown", {"crit": ["x-attack"], "x-attack": True}),
    ("b64", {"crit": ["b64"], "b64": False}),
    ("listed-but-absent", {"crit": ["x-missing"]}),
    ("empty", {"crit": []}),
    ("not-a-list", {"crit": "exp"}),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("extra", [c for _, c in CRITS], ids=[n for n, _ in CRITS])
def test_crit_header_is_refused(
    server: Server, alpha: Realm, target: str, extra: dict[str, Any]
) -> None:
    assert_refused(server, alpha, target, alpha.sign({**alpha.header, **extra}), CRIT)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("typ", ["JOSE+json", "JOSE", "foo", "", "application/jwt+x", 1, None])
def test_foreign_typ_header_is_refused(server: Server, alpha: Realm, target: str, typ: Any) -> None:
    assert_refused(server, alpha, target, alpha.sign({**alpha.header, "typ": typ}), BAD_TYP)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("signer", ["realm", "attacker"])
def test_nested_jwt_is_refused(
    server: Server,
    alpha: Realm,
    attacker_key: rsa.RSAPrivateKey,
    target: str,
    signer: str,
) -> None:
    """A JWS whose payload is another (genuine) JWT, ``cty`` JWT (RFC 7519 §5.2)."""
    header = {**alpha.header, "cty": "JWT"}
    payload = alpha.token.encode()
    if signer == "realm":
        token = alpha.sign(header, payload)
    else:
        token = sign_rs256(attacker_key, header, payload)
    assert_refused(server, alpha, target, token, MALFORMED)


# -- size ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_huge_validly_signed_token_is_refused(server: Server, alpha: Realm, target: str) -> None:
    """100 KB, signed with the realm key: refused before any parsing of its body."""
    token = alpha.sign(payload=alpha.fresh_claims(padding="p" * 100_000))
    assert len(token) > 100_000
    watch = LogWatch(server)
    if target == "api":
        # 100 KB is over the request head limit: 431 before any route reads the header
        assert_head_too_large(api_get(server, token))
    else:
        # 100 KB is over the request body limit: refused before the form is parsed
        r = introspect(server, alpha.admin, token)
        assert r.status_code == 413, r.text
        assert r.json() == {
            "error": "invalid_request",
            "error_description": "The request body is too large.",
        }
        assert r.headers["cache-control"] == "no-store"
    watch.assert_no_error()


def test_huge_token_under_the_body_limit_is_inactive_at_introspection(
    server: Server, alpha: Realm
) -> None:
    token = alpha.sign(payload=alpha.fresh_claims(padding="p" * 40_000))
    assert 40_000 < len(token) < 60_000
    assert_refused(server, alpha, "introspection", token, None)


def assert_head_too_large(r: httpx.Response) -> None:
    assert r.status_code == 431, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.headers["connection"] == "close"


def test_token_over_the_verifier_cap_under_the_head_limit_is_refused(
    server: Server, alpha: Realm
) -> None:
    """10 KB: over the verifier's 8 KiB token cap, under the 16 KiB head limit."""
    token = alpha.sign(payload=alpha.fresh_claims(padding="p" * 8_000))
    assert 8192 < len(token) < 14_000
    watch = LogWatch(server)
    assert_api_refused(api_get(server, token), TOO_LARGE)
    watch.assert_no_error()


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_huge_authorization_header_is_refused_without_error(
    server: Server, alpha: Realm, size: int
) -> None:
    watch = LogWatch(server)
    junk = "A" * (size // 2) + "." + "B" * (size // 2 - 2) + ".C"
    assert_head_too_large(api_get(server, junk))
    watch.assert_no_error()
    # the server stays up and still serves the genuine token
    assert api_get(server, alpha.token).status_code == 200


# -- other tenants ------------------------------------------------------------------------------
def test_token_of_another_tenant_is_inactive_at_this_tenants_introspection(
    server: Server, alpha: Realm, beta: Realm
) -> None:
    assert_inactive(introspect(server, alpha.admin, beta.token))
    # and beta's own client cannot introspect at alpha's endpoint at all
    r = introspect(
        server,
        Credentials(alpha.tenant, beta.admin.client_id, beta.admin.client_secret),
        beta.token,
    )
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    # control: beta's token is active at beta's endpoint
    assert_accepted(server, beta, "introspection", beta.token)


def test_token_of_another_tenant_only_ever_reads_its_own_tenant(
    server: Server, alpha: Realm, beta: Realm
) -> None:
    marker = f"Alpha private {uuid.uuid4().hex}"
    r = api_patch(server, alpha.token, {"name": marker})
    assert r.status_code == 200, r.text
    got = api_get(server, beta.token)
    assert got.status_code == 200
    assert got.json()["data"]["shortcode"] == beta.tenant
    assert marker not in got.text
    assert alpha.tenant not in got.text
    # beta's write lands on beta, never on alpha
    beta_marker = f"Beta {uuid.uuid4().hex}"
    assert api_patch(server, beta.token, {"name": beta_marker}).status_code == 200
    alpha_view = api_get(server, alpha.token).json()["data"]
    assert alpha_view["name"] == marker
    assert api_get(server, beta.token).json()["data"]["name"] == beta_marker


@pytest.mark.parametrize("target", TARGETS)
def test_other_tenants_key_signing_this_tenants_issuer_is_refused(
    server: Server, alpha: Realm, beta: Realm, target: str
) -> None:
    """beta's real key signs a token that claims alpha's issuer (beta's kid or alpha's kid)."""
    for kid, expected in ((beta.key.kid, UNKNOWN_KEY), (alpha.key.kid, BAD_SIGNATURE)):
        token = beta.sign(
            {**beta.header, "kid": kid},
            alpha.fresh_claims(tenant=alpha.tenant),
        )
        assert_refused(server, alpha, target, token, expected)


@pytest.mark.parametrize("target", TARGETS)
def test_issuer_of_another_tenant_signed_by_this_tenant_is_refused(
    server: Server, alpha: Realm, beta: Realm, target: str
) -> None:
    """alpha's real key signs a token that claims beta's issuer: beta has no such key; alpha's
    introspection does not trust beta's issuer."""
    token = alpha.sign(payload=alpha.fresh_claims(iss=beta.issuer))
    assert_refused(server, alpha, target, token, UNKNOWN_KEY)


def test_tenant_claim_does_not_select_the_tenant(server: Server, alpha: Realm, beta: Realm) -> None:
    """Only the (verified) issuer selects the tenant, never a claim such as ``tenant``."""
    token = alpha.sign(payload=alpha.fresh_claims(tenant=beta.tenant))
    data = assert_accepted(server, alpha, "api", token)
    assert data["shortcode"] == alpha.tenant


# -- retired and revoked keys and tokens --------------------------------------------------------
def test_token_of_an_emergency_rotated_key_is_refused_at_once(server: Server) -> None:
    realm = make_realm(server, "emerg")
    before = realm.token
    assert api_get(server, before).status_code == 200
    server.cli("keys", "rotate", realm.tenant, "--emergency", "--json")
    r = poll(lambda: api_get(server, before), lambda r: r.status_code != 200)
    assert_api_refused(r, UNKNOWN_KEY)
    assert_inactive(introspect(server, realm.admin, before))
    # the key is gone from the JWKS and listed as revoked
    assert realm.key.kid not in {k["kid"] for k in jwks(server, realm.tenant)["keys"]}
    listed = {
        k["kid"]: k for k in json.loads(server.cli("keys", "list", realm.tenant, "--json").stdout)
    }
    assert listed[realm.key.kid]["status"] == "revoked"
    # even a token freshly signed with the old key, issued after the rotation, is refused: the
    # key is out of use, not just the tokens issued before the rotation
    late = realm.sign(payload=realm.fresh_claims(iat=int(time.time()) + 2))
    assert_refused(server, realm, "api", late, UNKNOWN_KEY)
    assert_refused(server, realm, "introspection", late, None)
    # control: the realm's new key works
    fresh = access_token(server, realm.admin)
    assert parts(fresh)[0]["kid"] != realm.key.kid
    assert_accepted(server, realm, "api", fresh)


def test_retired_key_stops_verifying_after_its_window(server: Server) -> None:
    """A normal rotation keeps the old key until ``verify_until`` (tokens still work); past
    that point the realm has no such key, even for a token that has not expired."""
    realm = make_realm(server, "retire")
    server.cli("keys", "rotate", realm.tenant, "--json")
    fresh = poll(
        lambda: access_token(server, realm.admin), lambda t: parts(t)[0]["kid"] != realm.key.kid
    )
    assert parts(fresh)[0]["kid"] != realm.key.kid
    # within the window: the old key's token is still accepted by both consumers
    assert_accepted(server, realm, "api", realm.token)
    assert_accepted(server, realm, "introspection", realm.token)
    listed = {
        k["kid"]: k for k in json.loads(server.cli("keys", "list", realm.tenant, "--json").stdout)
    }
    assert listed[realm.key.kid]["status"] == "retired"
    # the server's own resolution, on the stored state, at the end of the window
    with runtime_of(server) as rt:
        directory = Directory(rt.store, rt.vault, rt.settings)
        realm_now = directory.load_realm(realm.tenant)
        assert realm_now is not None
        old = realm_now.verify_keys[realm.key.kid]
        assert old.verify_until is not None
        until = old.verify_until
        policy = TokenPolicy(issuers=(realm.issuer,), audience=None)
        issued = float(realm.claims["iat"])
        # just before the end of the window the key verifies; just after it does not
        claims = verify_token(realm.token, realm_resolver(realm_now, until - 1), policy, now=issued)
        assert claims.token_id == realm.claims["jti"]
        with pytest.raises(InvalidTokenError, match=UNKNOWN_KEY):
            verify_token(realm.token, realm_resolver(realm_now, until + 1), policy, now=issued)
        # and a realm built after the window no longer publishes the key
        directory.wall_clock = lambda: float(until) + 1
        later = directory.load_realm(realm.tenant)
        assert later is not None
        assert realm.key.kid not in later.verify_keys
        assert realm.key.kid not in {k["kid"] for k in json.loads(later.jwks_json)["keys"]}


def test_revoked_token_cannot_be_replayed(server: Server) -> None:
    realm = make_realm(server, "revoke")
    r = revoke(server, realm.admin, realm.token)
    assert r.status_code == 200
    assert r.content == b""
    for _ in range(3):  # replays
        assert_api_refused(api_get(server, realm.token), REVOKED)
        assert_inactive(introspect(server, realm.admin, realm.token))
    # control: only that token is revoked
    assert_accepted(server, realm, "api", access_token(server, realm.admin))


def test_revoked_token_stays_revoked_after_a_restart(fresh_server: Server) -> None:
    srv = fresh_server
    srv.start()
    tenant = unique("rvk")
    admin = srv.create_tenant(tenant)
    token, other = access_token(srv, admin), access_token(srv, admin)
    assert revoke(srv, admin, token).status_code == 200
    assert_api_refused(api_get(srv, token), REVOKED)
    srv.stop(sig="kill")
    srv.start()
    assert_api_refused(api_get(srv, token), REVOKED)
    assert_inactive(introspect(srv, admin, token))
    srv.restart()
    assert_api_refused(api_get(srv, token), REVOKED)
    assert_inactive(introspect(srv, admin, token))
    # control: the token that was not revoked survives the restarts
    assert api_get(srv, other).status_code == 200


# -- claims -------------------------------------------------------------------------------------
@pytest.mark.parametrize("target", TARGETS)
def test_tampered_exp_breaks_the_signature(server: Server, alpha: Realm, target: str) -> None:
    header, payload, signature = alpha.token.split(".")
    claims = parts(alpha.token)[1]
    claims["exp"] = int(claims["exp"]) + 365 * 24 * 3600
    token = f"{header}.{b64url_json(claims)}.{signature}"
    assert token.split(".")[1] != payload
    assert_refused(server, alpha, target, token, BAD_SIGNATURE)


def bad_json_number(realm: Realm, name: str, literal: str) -> bytes:
    """The claims with ``name`` set to a raw JSON literal (NaN, Infinity, 1e400, ...)."""
    claims = realm.fresh_claims(**{name: None})
    text = json.dumps(claims)
    return (text[:-1] + f', "{name}": {literal}}}').encode()


CLAIM_CASES: list[tuple[str, Callable[[Realm], Any], str]] = [
    ("expired", lambda r: r.fresh_claims(exp=int(time.time()) - 3600), EXPIRED),
    ("expired-beyond-leeway", lambda r: r.fresh_claims(exp=int(time.time()) - 31), EXPIRED),
    ("exp-missing", lambda r: r.fresh_claims(exp=None), "The access token has no 'exp' claim"),
    (
        "exp-string",
        lambda r: r.fresh_claims(exp=str(int(time.time()) + 3600)),
        "The access token's 'exp' claim is malformed",
    ),
    ("exp-bool", lambda r: r.fresh_claims(exp=True), "The access token's 'exp' claim is malformed"),
    (
        "exp-nan",
        lambda r: bad_json_number(r, "exp", "NaN"),
        "The access token's 'exp' claim is malformed",
    ),
    (
        "exp-infinity",
        lambda r: bad_json_number(r, "exp", "Infinity"),
        "The access token's 'exp' claim is malformed",
    ),
    (
        "exp-1e400",
        lambda r: bad_json_number(r, "exp", "1e400"),
        "The access token's 'exp' claim is malformed",
    ),
    (
        "exp-huge-int",
        lambda r: bad_json_number(r, "exp", "1" + "0" * 400),
        "The access token's 'exp' claim is malformed",
    ),
    (
        "iat-nan",
        lambda r: bad_json_number(r, "iat", "NaN"),
        "The access token's 'iat' claim is malformed",
    ),
    (
        "iat-minus-infinity",
        lambda r: bad_json_number(r, "iat", "-Infinity"),
        "The access token's 'iat' claim is malformed",
    ),
    (
        "nbf-nan",
        lambda r: bad_json_number(r, "nbf", "NaN"),
        "The access token's 'nbf' claim is malformed",
    ),
    ("nbf-future", lambda r: r.fresh_claims(nbf=int(time.time()) + 3600), NOT_YET),
    ("iat-future", lambda r: r.fresh_claims(iat=int(time.time()) + 3600), FUTURE_IAT),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    ("make_payload", "description"),
    [(m, d) for _, m, d in CLAIM_CASES],
    ids=[n for n, _, _ in CLAIM_CASES],
)
def test_bad_time_claims_are_refused(
    server: Server,
    alpha: Realm,
    target: str,
    make_payload: Callable[[Realm], Any],
    description: str,
) -> None:
    """Signed with the realm's real key: only the claim is wrong."""
    assert_refused(server, alpha, target, alpha.sign(payload=make_payload(alpha)), description)


@pytest.mark.parametrize("target", TARGETS)
def test_missing_issuer_is_refused(server: Server, alpha: Realm, target: str) -> None:
    token = alpha.sign(payload=alpha.fresh_claims(iss=None))
    assert_refused(server, alpha, target, token, NO_ISS)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize(
    "iss_of",
    [
        lambda r: r.issuer + "/",
        lambda r: r.issuer.replace("http://", "https://"),
        lambda r: r.issuer.upper(),
        lambda r: "https://evil.example/realms/" + r.tenant,
    ],
    ids=["trailing-slash", "https", "upper-case", "foreign-host"],
)
def test_lookalike_issuer_is_refused(
    server: Server, alpha: Realm, target: str, iss_of: Callable[[Realm], str]
) -> None:
    token = alpha.sign(payload=alpha.fresh_claims(iss=iss_of(alpha)))
    assert_refused(server, alpha, target, token, UNTRUSTED_ISS)


def test_forged_audience_is_refused_by_the_api(server: Server, alpha: Realm) -> None:
    token = alpha.sign(payload=alpha.fresh_claims(aud="https://other.example"))
    assert_api_refused(api_get(server, token), WRONG_AUD)
    missing = alpha.sign(payload=alpha.fresh_claims(aud=None))
    assert_api_refused(api_get(server, missing), WRONG_AUD)


def test_token_of_a_client_for_another_audience_is_refused_by_the_api(server: Server) -> None:
    realm = make_realm(server, "aud")
    other = server.create_client(realm.tenant, "other-aud")
    server.cli("client", "set", realm.tenant, "other-aud", "--audience", "https://other.example")

    def token() -> str:
        return access_token(server, other)

    tok = poll(token, lambda t: parts(t)[1]["aud"] == "https://other.example")
    assert parts(tok)[1]["aud"] == "https://other.example"
    assert_api_refused(api_get(server, tok), WRONG_AUD)
    # introspection reports it active: it is genuine, just not meant for the tenant API
    body = introspect(server, realm.admin, tok).json()
    assert body["active"] is True
    assert body["aud"] == "https://other.example"


def test_unit_expiry_checked_against_the_clock(alpha: Realm) -> None:
    """verify_token with ``now`` moved: the genuine token within and past its lifetime."""
    public = RSAKey.import_key(alpha.key.public_jwk())

    def resolve(issuer: str, kid: str) -> tuple[RSAKey, str] | None:
        return (public, "RS256") if (issuer, kid) == (alpha.issuer, alpha.key.kid) else None

    policy = TokenPolicy(issuers=(alpha.issuer,), audience=alpha.claims["aud"])
    exp, iat = float(alpha.claims["exp"]), float(alpha.claims["iat"])
    assert verify_token(alpha.token, resolve, policy, now=exp + 29).token_id == alpha.claims["jti"]
    with pytest.raises(InvalidTokenError, match=EXPIRED):
        verify_token(alpha.token, resolve, policy, now=exp + 30)
    with pytest.raises(InvalidTokenError, match=EXPIRED):
        verify_token(alpha.token, resolve, policy, now=exp + 86400)
    with pytest.raises(InvalidTokenError, match=FUTURE_IAT):
        verify_token(alpha.token, resolve, policy, now=iat - 31)
    strict = TokenPolicy(issuers=(alpha.issuer,), audience=alpha.claims["aud"], leeway=0)
    with pytest.raises(InvalidTokenError, match=EXPIRED):
        verify_token(alpha.token, resolve, strict, now=exp)
