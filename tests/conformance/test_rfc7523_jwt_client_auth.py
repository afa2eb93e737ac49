"""JWT client authentication (RFC 7523 §2.2, §3; audience rule of RFC 10070):
``private_key_jwt`` (inline JWKS and JWKS URI) and ``client_secret_jwt``, with Authlib as the
client, and hand-built assertions that break one rule each.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import authlib.deprecate
import httpx
import pytest
from authlib.oauth2.rfc7523 import ClientSecretJWT, PrivateKeyJWT
from joserfc import jws

from tests.conformance.oauth_helpers import (
    ASSERTION_TYPE,
    INVALID_CLIENT,
    ClientKey,
    JwksServer,
    assert_active,
    assertion_claims,
    assertion_form,
    introspect_url,
    issuer,
    post_assertion,
    serve_jwks,
    sign_hs256,
    sign_raw_hmac,
    sign_rs256,
    token_claims,
    unsigned,
)
from tests.integration.helpers import (
    assert_oauth_error,
    cli_json,
    get_settings,
    jwt_parts,
    poll,
    request_token,
    unique_shortcode,
)
from tests.security.helpers import LogWatch
from tests.servers import Credentials, Server

with warnings.catch_warnings():
    # Authlib would rather import httpx under the name "httpx2" and says so with a filter of
    # its own ("always", installed by authlib.deprecate): ours must come after it.
    warnings.filterwarnings(
        "ignore", "The httpx module is deprecated", authlib.deprecate.AuthlibDeprecationWarning
    )
    from authlib.integrations.httpx_client import OAuth2Client


class Realm:
    """A tenant with one client per JWT method (and its onboarding client_secret client)."""

    def __init__(self, server: Server, tmp: Path, jwks_server: JwksServer, uri_key: ClientKey):
        self.server = server
        self.admin = server.create_tenant(unique_shortcode("j"))
        self.tenant = self.admin.tenant
        self.issuer = issuer(server, self.tenant)
        self.key = ClientKey()
        self.pkj = "pkj-inline"
        cli_json(
            server,
            "client", "create", self.tenant, self.pkj,
            "--auth-method", "private_key_jwt", "--jwks-file", str(self.key.write_jwks(tmp)),
        )  # fmt: skip
        self.uri_key = uri_key
        self.pkj_uri = "pkj-uri"
        cli_json(
            server,
            "client", "create", self.tenant, self.pkj_uri,
            "--auth-method", "private_key_jwt", "--jwks-uri", jwks_server.url,
        )  # fmt: skip
        self.jwks_server = jwks_server
        created = cli_json(
            server,
            "client", "create", self.tenant, "hs-client", "--auth-method", "client_secret_jwt",
        )  # fmt: skip
        self.hs = Credentials(self.tenant, created["clientId"], created["clientSecret"])

    def claims(self, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
        return assertion_claims(client_id or self.pkj, self.issuer, **overrides)

    def signed(self, **overrides: Any) -> str:
        return sign_rs256(self.key, self.claims(**overrides))

    def post(self, assertion: str, **extra: str) -> httpx.Response:
        return post_assertion(self.server, self.tenant, assertion, **extra)


@pytest.fixture(scope="module")
def uri_key() -> ClientKey:
    return ClientKey()


@pytest.fixture(scope="module")
def jwks_server(uri_key: ClientKey) -> Iterator[JwksServer]:
    with serve_jwks(uri_key.jwks()) as srv:
        yield srv


@pytest.fixture(scope="module")
def realm(
    server: Server,
    tmp_path_factory: pytest.TempPathFactory,
    jwks_server: JwksServer,
    uri_key: ClientKey,
) -> Realm:
    return Realm(server, tmp_path_factory.mktemp("jwks"), jwks_server, uri_key)


def assert_token(r: httpx.Response, client_id: str) -> str:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    token = str(r.json()["access_token"])
    assert token_claims(token)["client_id"] == client_id
    return token


def assert_invalid_client(r: httpx.Response) -> None:
    assert_oauth_error(r, 401, "invalid_client")
    assert r.json() == INVALID_CLIENT
    assert "www-authenticate" not in r.headers


# with Authlib ------------------------------------------------------------------------------
def authlib_token(server: Server, tenant: str, client: OAuth2Client) -> dict[str, Any]:
    with client:
        return dict(client.fetch_token(server.token_url(tenant), grant_type="client_credentials"))


def test_authlib_private_key_jwt_with_an_inline_jwks(server: Server, realm: Realm) -> None:
    for _ in range(2):  # a fresh jti every time
        client = OAuth2Client(
            realm.pkj,
            realm.key.private_pem(),
            token_endpoint_auth_method=PrivateKeyJWT(realm.issuer, headers={"kid": realm.key.kid}),
        )
        token = authlib_token(server, realm.tenant, client)
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 7200
        claims = jwt_parts(token["access_token"])[1]
        assert claims["client_id"] == realm.pkj
        assert claims["iss"] == realm.issuer
        assert get_settings(server, token["access_token"]).status_code == 200


def test_authlib_private_key_jwt_with_a_jwks_uri(server: Server, realm: Realm) -> None:
    client = OAuth2Client(
        realm.pkj_uri,
        realm.uri_key.private_pem(),
        token_endpoint_auth_method=PrivateKeyJWT(realm.issuer, headers={"kid": realm.uri_key.kid}),
    )
    token = authlib_token(server, realm.tenant, client)
    assert jwt_parts(token["access_token"])[1]["client_id"] == realm.pkj_uri
    assert realm.jwks_server.requests >= 1
    assert get_settings(server, token["access_token"]).status_code == 200


def test_authlib_client_secret_jwt(server: Server, realm: Realm) -> None:
    client = OAuth2Client(
        realm.hs.client_id,
        realm.hs.client_secret,
        token_endpoint_auth_method=ClientSecretJWT(realm.issuer),
    )
    token = authlib_token(server, realm.tenant, client)
    assert jwt_parts(token["access_token"])[1]["client_id"] == realm.hs.client_id


def test_authlib_with_the_token_endpoint_as_audience_is_refused(
    server: Server, realm: Realm
) -> None:
    # Authlib's default audience is the token endpoint URL; RFC 10070 requires the issuer.
    client = OAuth2Client(
        realm.pkj,
        realm.key.private_pem(),
        token_endpoint_auth_method=PrivateKeyJWT(headers={"kid": realm.key.kid}),
    )
    with client:
        r = client.post(
            server.token_url(realm.tenant),
            data={"grant_type": "client_credentials"},
            auth=client.client_auth(client.token_endpoint_auth_method),
        )
    assert token_claims(httpx.QueryParams(r.request.content.decode())["client_assertion"])[
        "aud"
    ] == server.token_url(realm.tenant)
    assert_invalid_client(r)


# hand-built assertions -----------------------------------------------------------------------
def test_a_hand_built_assertion_is_accepted(realm: Realm) -> None:
    assert_token(realm.post(realm.signed()), realm.pkj)
    # aud as a one-element list, without iat, with a matching client_id form parameter
    assert_token(realm.post(realm.signed(aud=[realm.issuer])), realm.pkj)
    assert_token(realm.post(realm.signed(iat=None)), realm.pkj)
    assert_token(realm.post(realm.signed(), client_id=realm.pkj), realm.pkj)
    assert_token(realm.post(sign_rs256(realm.uri_key, realm.claims(realm.pkj_uri))), realm.pkj_uri)
    assert_token(
        realm.post(sign_hs256(realm.hs.client_secret, realm.claims("hs-client"))), "hs-client"
    )


def now() -> int:
    return int(time.time())


BAD_CLAIMS: dict[str, Callable[[Realm], dict[str, Any]]] = {
    "aud is the token endpoint": lambda r: {"aud": r.server.token_url(r.tenant)},
    "aud has the issuer and more": lambda r: {"aud": [r.issuer, "https://other.example"]},
    "aud is another realm": lambda r: {"aud": issuer(r.server, "demo")},
    "aud missing": lambda r: {"aud": None},
    "exp missing": lambda r: {"exp": None},
    "exp 2 h ahead": lambda r: {"exp": now() + 7200},
    "exp passed": lambda r: {"iat": now() - 200, "exp": now() - 120},
    "exp not a number": lambda r: {"exp": str(now() + 60)},
    "iat 10 min old": lambda r: {"iat": now() - 600, "exp": now() + 60},
    "iat in the future": lambda r: {"iat": now() + 600},
    "nbf in the future": lambda r: {"nbf": now() + 600},
    "jti missing": lambda r: {"jti": None},
    "jti empty": lambda r: {"jti": ""},
    "iss differs from sub": lambda r: {"sub": "someone-else"},
    "iss and sub are another client": lambda r: {"iss": "hs-client", "sub": "hs-client"},
    "sub missing": lambda r: {"sub": None},
    "unknown client": lambda r: {"iss": "nobody", "sub": "nobody"},
}


@pytest.mark.parametrize("defect", list(BAD_CLAIMS))
def test_assertion_with_a_bad_claim_is_refused(realm: Realm, defect: str) -> None:
    assert_invalid_client(realm.post(realm.signed(**BAD_CLAIMS[defect](realm))))


# Time claims that are no time (RFC 7519 §2 NumericDate: a finite JSON number). The payload is
# written by hand, since the server parses it with Python's json, which accepts NaN, Infinity
# and integers of any length: each value below reaches the claim check as it is written.
BAD_TIME_VALUES: dict[str, str] = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "a string": '"{soon}"',
    "an empty string": '""',
    "true": "true",
    "false": "false",
    "null": "null",
    "an object": '{{"at": {soon}}}',
    "a list": "[{soon}]",
    "1e300": "1e300",
    "1e400 (infinite as a float)": "1e400",
    "an integer beyond any float": "1" + "0" * 400,
    "an integer beyond Python's digit limit": "1" + "0" * 4400,
}


def raw_assertion(realm: Realm, claim: str, literal: str | None) -> str:
    """An assertion of ``realm.pkj`` with ``claim`` written as the JSON ``literal`` (None:
    absent), signed with the client's registered key: only that claim is wrong."""
    claims = realm.claims(**{claim: None})
    text = json.dumps(claims)
    if literal is not None:
        value = literal.format(soon=now() + 60)
        text = f'{text[:-1]}, "{claim}": {value}}}'
    return jws.serialize_compact(
        {"alg": "RS256", "kid": realm.key.kid, "typ": "JWT"}, text.encode(), realm.key.key
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_hand_written_time_claim_that_is_a_time_is_accepted(realm: Realm, claim: str) -> None:
    """Control: the same hand-written payload with a real NumericDate passes."""
    literal = {"exp": "{soon}", "iat": str(now() - 5), "nbf": str(now() - 5)}[claim]
    assert_token(realm.post(raw_assertion(realm, claim, literal)), realm.pkj)


@pytest.mark.parametrize("value", list(BAD_TIME_VALUES))
@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
def test_a_time_claim_that_is_no_time_is_refused(
    server: Server, realm: Realm, claim: str, value: str
) -> None:
    """401 invalid_client with the RFC 6749 body, never a 500 (NaN and Infinity in ``exp``
    were one) and never a pass (a NaN ``iat`` or a non-numeric ``nbf`` were ignored)."""
    watch = LogWatch(server)
    assert_invalid_client(realm.post(raw_assertion(realm, claim, BAD_TIME_VALUES[value])))
    watch.assert_no_error()


def test_an_assertion_without_exp_is_refused(server: Server, realm: Realm) -> None:
    watch = LogWatch(server)
    assert_invalid_client(realm.post(raw_assertion(realm, "exp", None)))
    watch.assert_no_error()


def test_replayed_assertion_is_refused(realm: Realm) -> None:
    assertion = realm.signed()
    assert_token(realm.post(assertion), realm.pkj)
    assert_invalid_client(realm.post(assertion))
    # and a new assertion that reuses the jti
    jti = token_claims(assertion)["jti"]
    assert_invalid_client(realm.post(realm.signed(jti=jti, exp=now() + 120)))


def test_replay_of_an_authlib_assertion_is_refused(server: Server, realm: Realm) -> None:
    client = OAuth2Client(
        realm.hs.client_id,
        realm.hs.client_secret,
        token_endpoint_auth_method=ClientSecretJWT(realm.issuer),
    )
    with client:
        r = client.post(
            server.token_url(realm.tenant),
            data={"grant_type": "client_credentials"},
            auth=client.client_auth(client.token_endpoint_auth_method),
        )
    assert_token(r, realm.hs.client_id)
    replay = httpx.post(
        server.token_url(realm.tenant),
        content=r.request.content,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_invalid_client(replay)


def test_signed_by_the_wrong_key(realm: Realm) -> None:
    impostor = ClientKey(kid=realm.key.kid)  # same kid, other key
    assert_invalid_client(realm.post(sign_rs256(impostor, realm.claims())))
    # an unknown kid
    assert_invalid_client(realm.post(sign_rs256(ClientKey(), realm.claims())))
    # the JWKS-URI client's key does not sign for the inline client
    assert_invalid_client(realm.post(sign_rs256(realm.uri_key, realm.claims())))


def test_wrong_key_at_the_jwks_uri_client(realm: Realm) -> None:
    impostor = ClientKey(kid=realm.uri_key.kid)
    assert_invalid_client(realm.post(sign_rs256(impostor, realm.claims(realm.pkj_uri))))


def test_alg_none_is_refused(realm: Realm) -> None:
    assert_invalid_client(realm.post(unsigned(realm.claims())))
    assert_invalid_client(realm.post(unsigned(realm.claims("hs-client"))))


def test_hs256_signed_with_the_rsa_public_key_is_refused(realm: Realm) -> None:
    header = {"alg": "HS256", "kid": realm.key.kid, "typ": "JWT"}
    for key_bytes in (realm.key.public_pem(), realm.key.public_pem().strip()):
        assert_invalid_client(realm.post(sign_raw_hmac(key_bytes, header, realm.claims())))


def test_client_secret_jwt_with_rs256_is_refused(realm: Realm) -> None:
    assert_invalid_client(realm.post(sign_rs256(realm.key, realm.claims("hs-client"))))


def test_client_secret_jwt_with_a_wrong_secret(realm: Realm) -> None:
    claims = realm.claims("hs-client")
    assert_invalid_client(realm.post(sign_hs256(realm.hs.client_secret + "x", claims)))


def test_client_id_parameter_must_match_the_assertion(realm: Realm) -> None:
    assert_invalid_client(realm.post(realm.signed(), client_id="hs-client"))
    assert_invalid_client(realm.post(realm.signed(), client_id="nobody"))


def test_a_client_secret_client_cannot_use_an_assertion(server: Server, realm: Realm) -> None:
    admin = realm.admin
    assertion = sign_hs256(admin.client_secret, realm.claims(admin.client_id))
    assert_invalid_client(realm.post(assertion))
    assert request_token(server, admin).status_code == 200


def test_a_jwt_client_cannot_use_its_secret(server: Server, realm: Realm) -> None:
    # the client_secret_jwt client's secret is right, the method is not
    r = request_token(server, realm.hs)
    assert_invalid_client(r)
    r = httpx.post(
        server.token_url(realm.tenant),
        data={"grant_type": "client_credentials"},
        auth=(realm.hs.client_id, realm.hs.client_secret),
    )
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == f'Basic realm="{realm.tenant}"'
    # a private_key_jwt client has no secret at all
    shown = cli_json(server, "client", "show", realm.tenant, realm.pkj)
    assert shown["authMethod"] == "private_key_jwt"
    assert "clientSecret" not in shown
    assert_invalid_client(request_token(server, Credentials(realm.tenant, realm.pkj, "x" * 43)))


@pytest.mark.parametrize(
    "assertion_type",
    [
        "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "jwt-bearer",
        ASSERTION_TYPE.upper(),
    ],
)
def test_wrong_assertion_type(realm: Realm, assertion_type: str) -> None:
    form = {**assertion_form(realm.signed()), "client_assertion_type": assertion_type}
    r = httpx.post(realm.server.token_url(realm.tenant), data=form)
    assert_oauth_error(r, 400, "invalid_request")


def test_assertion_type_without_assertion_and_the_reverse(realm: Realm) -> None:
    r = httpx.post(
        realm.server.token_url(realm.tenant),
        data={"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE},
    )
    assert_oauth_error(r, 400, "invalid_request")
    r = httpx.post(
        realm.server.token_url(realm.tenant),
        data={"grant_type": "client_credentials", "client_assertion": realm.signed()},
    )
    assert_oauth_error(r, 400, "invalid_request")


def test_assertion_together_with_a_secret(realm: Realm) -> None:
    r = realm.post(realm.signed(), client_secret=realm.hs.client_secret)
    assert_oauth_error(r, 400, "invalid_request")
    r = httpx.post(
        realm.server.token_url(realm.tenant),
        data=assertion_form(realm.signed()),
        auth=(realm.hs.client_id, realm.hs.client_secret),
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("assertion", ["not-a-jwt", "a.b.c", "a.b", "x" * 9000])
def test_malformed_assertion(realm: Realm, assertion: str) -> None:
    assert_invalid_client(realm.post(assertion))


def test_jwt_clients_authenticate_at_introspection(server: Server, realm: Realm) -> None:
    token = assert_token(realm.post(realm.signed()), realm.pkj)
    r = httpx.post(
        introspect_url(server, realm.tenant),
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": sign_hs256(realm.hs.client_secret, realm.claims("hs-client")),
        },
    )
    assert assert_active(r)["client_id"] == realm.pkj
    r = httpx.post(
        introspect_url(server, realm.tenant),
        data={"token": token, "client_assertion_type": ASSERTION_TYPE, "client_assertion": "x.y.z"},
    )
    assert_invalid_client(r)


def test_a_new_jwks_file_replaces_the_old_keys(
    server: Server, realm: Realm, tmp_path: Path
) -> None:
    client_id = f"pkj-{uuid.uuid4().hex[:8]}"
    old, new = ClientKey(), ClientKey()
    cli_json(
        server,
        "client", "create", realm.tenant, client_id,
        "--auth-method", "private_key_jwt", "--jwks-file", str(old.write_jwks(tmp_path)),
    )  # fmt: skip
    assert_token(realm.post(sign_rs256(old, realm.claims(client_id))), client_id)
    server.cli(
        "client", "set", realm.tenant, client_id, "--jwks-file", str(new.write_jwks(tmp_path))
    )
    r = poll(
        lambda: realm.post(sign_rs256(new, realm.claims(client_id))),
        lambda r: r.status_code == 200,
    )
    assert_token(r, client_id)
    assert_invalid_client(realm.post(sign_rs256(old, realm.claims(client_id))))
