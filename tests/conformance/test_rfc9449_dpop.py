"""DPoP (RFC 9449) on a real server: the token endpoint (§4.3, §5, §6, §8), introspection
(§6.2), the tenant API as a protected resource (§7, §9) and discovery (§5.1).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conformance.dpop_helpers import (
    ALGS,
    SETTINGS_PATH,
    forge,
    new_key,
    proof,
    thumbprint,
)
from tests.conformance.oauth_helpers import caller_form, introspect_url
from tests.integration.helpers import (
    assert_jsend_fail,
    assert_oauth_error,
    jwt_parts,
    token_form,
    unique_shortcode,
)
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("dp"))


def token_request(
    server: Server, creds: Credentials, dpop: str | list[str] | None = None
) -> httpx.Response:
    headers: list[tuple[str, str]] = []
    for value in [dpop] if isinstance(dpop, str) else dpop or []:
        headers.append(("DPoP", value))
    return httpx.post(server.token_url(creds.tenant), data=token_form(creds), headers=headers)


def dpop_token(server: Server, creds: Credentials, key: Any) -> str:
    r = token_request(server, creds, proof(key, "POST", server.token_url(creds.tenant)))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    return str(r.json()["access_token"])


def api_get(server: Server, scheme: str, token: str, dpop: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    return httpx.get(f"{server.base_url}{SETTINGS_PATH}", headers=headers)


def api_proof(server: Server, key: Any, token: str, **kw: Any) -> str:
    return proof(key, "GET", f"{server.base_url}{SETTINGS_PATH}", access_token=token, **kw)


def dpop_challenge(r: httpx.Response, error: str) -> None:
    assert_jsend_fail(r, 401)
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="realmgate", '), challenge
    assert f'error="{error}"' in challenge
    assert f'algs="{ALGS}"' in challenge


# token endpoint ------------------------------------------------------------------------
def test_proof_binds_the_token(server: Server, tenant: Credentials) -> None:
    key = new_key()
    r = token_request(server, tenant, proof(key, "POST", server.token_url(tenant.tenant)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "DPoP"
    _, claims, _ = jwt_parts(body["access_token"])
    assert claims["cnf"] == {"jkt": thumbprint(key)}
    assert claims["typ"] == "DPoP"  # Keycloak's DPoP-bound tokens
    assert "dpop-nonce" not in r.headers  # nonces are off by default


def test_without_proof_the_token_stays_bearer(server: Server, tenant: Credentials) -> None:
    r = token_request(server, tenant)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    _, claims, _ = jwt_parts(r.json()["access_token"])
    assert "cnf" not in claims
    assert claims["typ"] == "Bearer"


def test_introspection_shows_cnf_and_dpop_type(server: Server, tenant: Credentials) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    r = httpx.post(introspect_url(server, tenant.tenant), data=caller_form(tenant, token=token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"
    assert body["cnf"] == {"jkt": thumbprint(key)}


def test_replayed_proof_is_refused(server: Server, tenant: Credentials) -> None:
    p = proof(new_key(), "POST", server.token_url(tenant.tenant))
    assert token_request(server, tenant, p).status_code == 200
    r = token_request(server, tenant, p)
    body = assert_oauth_error(r, 400, "invalid_dpop_proof")
    assert body["error_description"] == "DPoP proof has already been used"


def test_two_dpop_headers_are_refused(server: Server, tenant: Credentials) -> None:
    url = server.token_url(tenant.tenant)
    key = new_key()
    r = token_request(server, tenant, [proof(key, "POST", url), proof(key, "POST", url)])
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_dpop_proof"


def _bad_proofs(url: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "not a JWS": lambda k: "not-a-jws",
        "empty": lambda k: "",
        "wrong typ": lambda k: forge(k, header={"typ": "JWT"}, claims={"htm": "POST", "htu": url}),
        "no typ": lambda k: forge(k, header={"typ": None}, claims={"htm": "POST", "htu": url}),
        "alg none": lambda k: forge(
            k, header={"alg": "none"}, claims={"htm": "POST", "htu": url}, signature=b""
        ),
        "alg HS256": lambda k: forge(
            k, header={"alg": "HS256"}, claims={"htm": "POST", "htu": url}
        ),
        "no jwk": lambda k: forge(k, header={"jwk": None}, claims={"htm": "POST", "htu": url}),
        "private jwk": lambda k: forge(
            k,
            header={"jwk": {**forge_jwk(k), "d": "AAAA"}},
            claims={"htm": "POST", "htu": url},
        ),
        "bad signature": lambda k: forge(
            k, claims={"htm": "POST", "htu": url}, signature=b"\x01" * 64
        ),
        "other key's jwk": lambda k: forge(
            k, header={"jwk": forge_jwk(new_key())}, claims={"htm": "POST", "htu": url}
        ),
        "wrong htm": lambda k: forge(k, claims={"htm": "GET", "htu": url}),
        "wrong htu": lambda k: forge(k, claims={"htm": "POST", "htu": url + "x"}),
        "htu of another host": lambda k: forge(
            k, claims={"htm": "POST", "htu": url.replace("127.0.0.1", "localhost")}
        ),
        "no htm": lambda k: forge(k, claims={"htu": url}),
        "no jti": lambda k: forge(k, claims={"htm": "POST", "htu": url, "jti": None}),
        "no iat": lambda k: forge(k, claims={"htm": "POST", "htu": url, "iat": None}),
        "iat too old": lambda k: forge(k, claims={"htm": "POST", "htu": url, "iat": now - 600}),
        "iat in the future": lambda k: forge(
            k, claims={"htm": "POST", "htu": url, "iat": now + 120}
        ),
        "iat a string": lambda k: forge(k, claims={"htm": "POST", "htu": url, "iat": str(now)}),
    }


def forge_jwk(key: Any) -> dict[str, Any]:
    from realmgate.jose.dpop import public_jwk_of

    return public_jwk_of(key)


BAD = list(_bad_proofs("http://x/").keys())


@pytest.mark.parametrize("case", BAD)
def test_bad_proof_is_refused(server: Server, tenant: Credentials, case: str) -> None:
    make = _bad_proofs(server.token_url(tenant.tenant))[case]
    r = token_request(server, tenant, make(new_key()))
    assert_oauth_error(r, 400, "invalid_dpop_proof")


def test_htu_is_compared_after_normalisation(server: Server, tenant: Credentials) -> None:
    # RFC 3986 §6.2.2: case, percent-encoding and dot segments
    url = server.token_url(tenant.tenant).replace("http://", "HTTP://")
    url = url.replace(f":{server.port}/realms/", f":{server.port}/./%72ealms/")
    r = token_request(server, tenant, forge(new_key(), claims={"htm": "POST", "htu": url}))
    assert r.status_code == 200, r.text


def test_query_and_fragment_are_ignored_in_htu(server: Server, tenant: Credentials) -> None:
    # §4.3 item 9: "ignoring any query and fragment parts"
    url = server.token_url(tenant.tenant)
    p = forge(new_key(), claims={"htm": "POST", "htu": url + "?a=1#f"})
    r = token_request(server, tenant, p)
    assert r.status_code == 200, r.text


def test_dpop_bound_client_needs_a_proof(server: Server, tenant: Credentials) -> None:
    client_id = unique_shortcode("bound")
    data = json.loads(
        server.cli(
            "client", "create", tenant.tenant, client_id, "--binding", "dpop", "--json"
        ).stdout
    )
    creds = Credentials(tenant.tenant, data["clientId"], data["clientSecret"])
    r = token_request(server, creds)
    body = assert_oauth_error(r, 400, "invalid_dpop_proof")
    assert body["error_description"] == "DPoP proof is missing"
    assert dpop_token(server, creds, new_key())


def test_tenant_dpop_required(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("dr"))
    server.cli("tenant", "set", creds.tenant, "--dpop-required")

    def refused() -> bool:
        return token_request(server, creds).status_code == 400

    deadline = time.monotonic() + 30
    while not refused():  # the change feed reaches the server within about a second
        assert time.monotonic() < deadline, "dpop_required never applied"
        time.sleep(0.2)
    body = assert_oauth_error(token_request(server, creds), 400, "invalid_dpop_proof")
    assert body["error_description"] == "DPoP proof is missing"
    assert dpop_token(server, creds, new_key())


# tenant API (protected resource) --------------------------------------------------------
def test_api_accepts_token_with_its_proof(server: Server, tenant: Credentials) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    r = api_get(server, "DPoP", token, api_proof(server, key, token))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["shortcode"] == tenant.tenant
    # again with a fresh proof: the verified-token cache still checks the binding
    r = api_get(server, "DPoP", token, api_proof(server, key, token))
    assert r.status_code == 200, r.text


def test_api_refuses_replayed_proof(server: Server, tenant: Credentials) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    p = api_proof(server, key, token)
    assert api_get(server, "DPoP", token, p).status_code == 200
    dpop_challenge(api_get(server, "DPoP", token, p), "invalid_dpop_proof")


def test_api_refuses_dpop_token_as_bearer(server: Server, tenant: Credentials) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    dpop_challenge(api_get(server, "Bearer", token), "invalid_token")
    dpop_challenge(api_get(server, "Bearer", token, api_proof(server, key, token)), "invalid_token")


def test_api_refuses_stolen_token(server: Server, tenant: Credentials) -> None:
    token = dpop_token(server, tenant, new_key())
    thief = new_key()
    dpop_challenge(api_get(server, "DPoP", token, api_proof(server, thief, token)),
                   "invalid_dpop_proof")  # fmt: skip


def test_api_refuses_missing_proof(server: Server, tenant: Credentials) -> None:
    token = dpop_token(server, tenant, new_key())
    dpop_challenge(api_get(server, "DPoP", token), "invalid_dpop_proof")


@pytest.mark.parametrize("case", ["no ath", "other ath", "wrong htm", "wrong htu", "token url"])
def test_api_refuses_bad_proof(server: Server, tenant: Credentials, case: str) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    url = f"{server.base_url}{SETTINGS_PATH}"
    p = {
        "no ath": lambda: proof(key, "GET", url),
        "other ath": lambda: proof(key, "GET", url, access_token=token + "x"),
        "wrong htm": lambda: proof(key, "PATCH", url, access_token=token),
        "wrong htu": lambda: proof(key, "GET", url + "/x", access_token=token),
        "token url": lambda: proof(key, "GET", server.token_url(tenant.tenant), access_token=token),
    }[case]()
    dpop_challenge(api_get(server, "DPoP", token, p), "invalid_dpop_proof")


def test_api_refuses_unbound_token_with_dpop_scheme(server: Server, tenant: Credentials) -> None:
    r = token_request(server, tenant)
    token = r.json()["access_token"]
    key = new_key()
    dpop_challenge(api_get(server, "DPoP", token, api_proof(server, key, token)), "invalid_token")


def test_api_bearer_token_works_as_before(server: Server, tenant: Credentials) -> None:
    token = token_request(server, tenant).json()["access_token"]
    r = api_get(server, "Bearer", token)
    assert r.status_code == 200, r.text


def test_api_without_credentials_challenges_both_schemes(server: Server) -> None:
    r = httpx.get(f"{server.base_url}{SETTINGS_PATH}")
    assert_jsend_fail(r, 401)
    assert r.headers["www-authenticate"] == f'Bearer realm="realmgate", DPoP algs="{ALGS}"'


def test_api_two_dpop_headers_are_refused(server: Server, tenant: Credentials) -> None:
    key = new_key()
    token = dpop_token(server, tenant, key)
    r = httpx.get(
        f"{server.base_url}{SETTINGS_PATH}",
        headers=[
            ("Authorization", f"DPoP {token}"),
            ("DPoP", api_proof(server, key, token)),
            ("DPoP", api_proof(server, key, token)),
        ],
    )
    assert r.status_code == 400


# discovery ---------------------------------------------------------------------------
def test_discovery_advertises_dpop_and_mtls(server: Server, tenant: Credentials) -> None:
    url = f"{server.base_url}/realms/{tenant.tenant}/.well-known/openid-configuration"
    doc = httpx.get(url).json()
    assert sorted(doc["dpop_signing_alg_values_supported"]) == sorted(ALGS.split())
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    methods = doc["token_endpoint_auth_methods_supported"]
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(methods)
    assert "mtls_endpoint_aliases" not in doc  # mtls_base_url unset


# nonces (a server of its own) ------------------------------------------------------------
@pytest.fixture(scope="module")
def nonce_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("dpop-nonce"),
        None,
        extra_env={
            "REALMGATE_DPOP_NONCE": "true",
            "REALMGATE_MTLS_BASE_URL": "https://mtls.example.com/",
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_nonce_required_at_token_endpoint(nonce_server: Server) -> None:
    srv = nonce_server
    creds = srv.create_tenant(unique_shortcode("nn"))
    key = new_key()
    url = srv.token_url(creds.tenant)
    r = token_request(srv, creds, proof(key, "POST", url))
    body = assert_oauth_error(r, 400, "use_dpop_nonce")
    assert body["error_description"] == "Authorization server requires nonce in DPoP proof"
    nonce = r.headers["dpop-nonce"]
    r = token_request(srv, creds, proof(key, "POST", url, nonce="made-up"))
    assert_oauth_error(r, 400, "use_dpop_nonce")
    r = token_request(srv, creds, proof(key, "POST", url, nonce=nonce))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    assert r.headers["dpop-nonce"]
    token = r.json()["access_token"]
    api = f"{srv.base_url}{SETTINGS_PATH}"
    r = api_get(srv, "DPoP", token, proof(key, "GET", api, access_token=token))
    dpop_challenge(r, "use_dpop_nonce")
    api_nonce = r.headers["dpop-nonce"]
    r = api_get(srv, "DPoP", token, proof(key, "GET", api, access_token=token, nonce=api_nonce))
    assert r.status_code == 200, r.text
    assert r.headers["dpop-nonce"]  # the next nonce, on a success too
    # a PATCH (framework route) with the nonce
    p = proof(key, "PATCH", api, access_token=token, nonce=r.headers["dpop-nonce"])
    r = httpx.patch(
        api,
        json={"name": "Nonce Co"},
        headers={"Authorization": f"DPoP {token}", "DPoP": p},
    )
    assert r.status_code == 200, r.text
    assert r.headers["dpop-nonce"]
    assert r.json()["data"]["name"] == "Nonce Co"


def test_discovery_lists_mtls_aliases(nonce_server: Server) -> None:
    creds = nonce_server.create_tenant(unique_shortcode("ma"))
    url = f"{nonce_server.base_url}/realms/{creds.tenant}/.well-known/openid-configuration"
    doc = httpx.get(url).json()
    base = f"https://mtls.example.com/realms/{creds.tenant}/protocol/openid-connect"
    assert doc["mtls_endpoint_aliases"] == {
        "token_endpoint": f"{base}/token",
        "introspection_endpoint": f"{base}/token/introspect",
        "revocation_endpoint": f"{base}/revoke",
    }


# certificate-bound tokens at the tenant API (RFC 8705 §3), through a trusted proxy header ----
CERT_HEADER = "X-SSL-Client-Cert"


@pytest.fixture(scope="module")
def proxy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("cert-proxy"),
        None,
        extra_env={
            "REALMGATE_CLIENT_CERT_HEADER": CERT_HEADER,
            "REALMGATE_CLIENT_CERT_PROXIES": "127.0.0.1",
        },
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def escaped_cert(name: str) -> str:
    import trustme

    pem = trustme.CA().issue_cert(name).cert_chain_pems[0].bytes().decode()
    return quote(pem, safe="")


def cert_thumb(escaped: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    der = x509.load_pem_x509_certificate(unquote(escaped).encode()).public_bytes(Encoding.DER)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def test_cert_bound_token_at_the_api(proxy_server: Server) -> None:
    srv = proxy_server
    tenant = srv.create_tenant(unique_shortcode("cb"))
    client_id = unique_shortcode("cbc")
    data = json.loads(
        srv.cli("client", "create", tenant.tenant, client_id, "--binding", "cert", "--json").stdout
    )
    creds = Credentials(tenant.tenant, data["clientId"], data["clientSecret"])
    url = srv.token_url(creds.tenant)
    r = httpx.post(url, data=token_form(creds))
    body = assert_oauth_error(r, 400, "invalid_request")
    assert body["error_description"] == "Client Certification missing for MTLS HoK Token Binding"
    mine, other = escaped_cert("a.example"), escaped_cert("b.example")
    r = httpx.post(url, data=token_form(creds), headers={CERT_HEADER: mine})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"
    token = r.json()["access_token"]
    _, claims, _ = jwt_parts(token)
    assert claims["cnf"] == {"x5t#S256": cert_thumb(mine)}
    api = f"{srv.base_url}{SETTINGS_PATH}"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(api, headers={**auth, CERT_HEADER: mine}).status_code == 200
    for headers in ({**auth, CERT_HEADER: other}, auth):
        r = httpx.get(api, headers=headers)
        assert_jsend_fail(r, 401)
        assert r.headers["www-authenticate"].startswith(
            'Bearer realm="realmgate", error="invalid_token"'
        )
    # DPoP and a certificate: both members, both checked
    key = new_key()
    r = httpx.post(
        url, data=token_form(creds), headers={CERT_HEADER: mine, "DPoP": proof(key, "POST", url)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    token = r.json()["access_token"]
    assert jwt_parts(token)[1]["cnf"] == {"jkt": thumbprint(key), "x5t#S256": cert_thumb(mine)}
    dpop = {"Authorization": f"DPoP {token}"}
    r = httpx.get(api, headers={**dpop, CERT_HEADER: mine, "DPoP": api_proof(srv, key, token)})
    assert r.status_code == 200, r.text
    r = httpx.get(api, headers={**dpop, CERT_HEADER: other, "DPoP": api_proof(srv, key, token)})
    assert_jsend_fail(r, 401)


def test_api_invalid_token_with_dpop_scheme_gets_a_dpop_challenge(server: Server) -> None:
    key = new_key()
    token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
    dpop_challenge(api_get(server, "DPoP", token, api_proof(server, key, token)), "invalid_token")
