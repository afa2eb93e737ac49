"""RS384/512, PS256/384/512 and ES384/512 on a real server: a tenant signs its tokens with
them, and a third party (PyJWT, through discovery), realmgate.verifier and introspection
accept those tokens; keys rotate between them; private_key_jwt clients sign with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from realmgate.verifier import Verifier
from tests.conformance.oauth_helpers import (
    assert_active,
    assertion_claims,
    introspect,
    issuer,
    post_assertion,
)
from tests.integration.helpers import access_token, cli_json, jwt_parts, poll, unique_shortcode
from tests.servers import Credentials, Server

NEW_ALGORITHMS = ["RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512"]


@pytest.fixture(scope="module")
def tenants(server: Server) -> dict[str, Credentials]:
    return {
        alg: server.create_tenant(unique_shortcode(alg.lower()), "--algorithm", alg)
        for alg in NEW_ALGORITHMS
    }


def pyjwt_claims(server: Server, tenant: str, token: str, alg: str) -> dict[str, Any]:
    config = httpx.get(f"{issuer(server, tenant)}/.well-known/openid-configuration").json()
    assert alg in config["id_token_signing_alg_values_supported"]
    key = pyjwt.PyJWKClient(config["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(token)
    return dict(
        pyjwt.decode(
            token, key.key, algorithms=[alg], audience=server.base_url, issuer=config["issuer"]
        )
    )


@pytest.mark.parametrize("alg", NEW_ALGORITHMS)
def test_tokens_of_every_algorithm_verify_everywhere(
    server: Server, tenants: dict[str, Credentials], alg: str
) -> None:
    creds = tenants[alg]
    token = access_token(server, creds)
    header, claims, _ = jwt_parts(token)
    assert (header["alg"], header["typ"]) == (alg, "JWT")
    assert pyjwt_claims(server, creds.tenant, token, alg)["tenant"] == creds.tenant
    with Verifier([issuer(server, creds.tenant)], audience=None) as verifier:
        assert verifier.verify(token).client_id == creds.client_id
    assert assert_active(introspect(server, creds, token))["client_id"] == creds.client_id
    assert claims["azp"] == creds.client_id


def test_rotation_between_new_algorithms_keeps_old_tokens_valid(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("rot"), "--algorithm", "PS512")
    before = access_token(server, creds)
    cli_json(server, "keys", "rotate", creds.tenant, "--algorithm", "ES512")
    after = poll(lambda: access_token(server, creds), lambda t: jwt_parts(t)[0]["alg"] == "ES512")
    assert jwt_parts(after)[0]["alg"] == "ES512"
    with Verifier([issuer(server, creds.tenant)], audience=None) as verifier:
        assert verifier.verify(before).client_id == creds.client_id
        assert verifier.verify(after).client_id == creds.client_id
    assert_active(introspect(server, creds, before))


@pytest.mark.parametrize("alg", ["PS384", "PS512", "ES512"])
def test_private_key_jwt_clients_sign_with_the_new_algorithms(
    server: Server, tenants: dict[str, Credentials], tmp_path: Path, alg: str
) -> None:
    tenant = tenants["RS384"].tenant
    kid = f"client-{alg.lower()}"
    key: RSAKey | ECKey = (
        ECKey.generate_key("P-521", private=True)
        if alg == "ES512"
        else RSAKey.generate_key(2048, private=True)
    )
    jwk = {**key.as_dict(private=False), "kid": kid, "alg": alg, "use": "sig"}
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}), "utf-8")
    client_id = f"pkj-{alg.lower()}"
    cli_json(
        server,
        "client", "create", tenant, client_id,
        "--auth-method", "private_key_jwt", "--jwks-file", str(jwks),
    )  # fmt: skip

    def post() -> httpx.Response:  # a fresh assertion each time: each jti is used once
        claims = assertion_claims(client_id, issuer(server, tenant))
        assertion = jwt.encode({"alg": alg, "kid": kid}, claims, key, algorithms=[alg])
        return post_assertion(server, tenant, assertion)

    r = poll(post, lambda r: r.status_code == 200)
    assert r.status_code == 200, r.text
    assert jwt_parts(r.json()["access_token"])[1]["azp"] == client_id
