"""openid-client (panva's certified relying-party library for Node, installed from npm with the
lockfile of ``tests/interop/node``) against a real ``realmgate serve``: DPoP (RFC 9449) with
the client credentials grant, end to end, by a client library we did not write.

``node/dpop.mjs`` discovers the realm, takes a token with ``getDPoPHandle`` (an ES256 key of
its own) and ``clientCredentialsGrant``, calls ``GET /v2/tenants/current/settings`` with
``fetchProtectedResource`` (``Authorization: DPoP`` and a fresh proof with ``ath``), then
replays that proof, sends the token as a bearer token, sends it with another key's proofs,
and introspects it; it checks each answer with ``node:assert`` and prints one JSON line per
step, which this test reads. With ``dpop_nonce`` on, the library's own nonce handling
(``use_dpop_nonce`` and ``DPoP-Nonce``, RFC 9449 §8 and §9) must get it through unchanged.

Node and the packages as for the Keycloak admin client test (``make interop-node``); neither
missing is a skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.helpers import SETTINGS_PATH, unique_shortcode
from tests.interop.test_keycloak_admin_client import NODE_DIR, node_binary
from tests.servers import Credentials, Server

CLIENT_PACKAGE = NODE_DIR / "node_modules" / "openid-client"
EXPECTED_VERSION = json.loads((NODE_DIR / "package.json").read_text())["dependencies"][
    "openid-client"
]
STEPS = [
    "discovered",
    "token",
    "resource",
    "replayed proof refused",
    "bearer downgrade refused",
    "stolen token refused",
    "introspected",
]
DPOP_ALGS = {"ES256", "EdDSA", "RS256", "PS256"}


def run_dpop_script(server: Server, creds: Credentials) -> list[dict[str, Any]]:
    assert (CLIENT_PACKAGE / "package.json").is_file(), "run `make interop-node` first"
    result = subprocess.run(
        [node_binary(), str(NODE_DIR / "dpop.mjs")],
        cwd=NODE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "ISSUER": f"{server.base_url}/realms/{creds.tenant}",
            "CLIENT_ID": creds.client_id,
            "CLIENT_SECRET": creds.client_secret,
            "API_URL": f"{server.base_url}{SETTINGS_PATH}",
        },
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (
        f"dpop.mjs failed (exit {result.returncode}) after steps "
        f"{[s.get('step') for s in lines]}:\n{result.stderr}"
    )
    # the secret never reaches the script's output, nor a token or a proof (no JWS)
    assert creds.client_secret not in result.stdout + result.stderr
    assert "eyJ" not in result.stdout
    assert [s["step"] for s in lines if "step" in s] == STEPS, lines
    assert lines[-1]["done"] is True
    return lines


def check_steps(lines: list[dict[str, Any]], tenant: str) -> dict[str, dict[str, Any]]:
    steps = {s["step"]: s for s in lines if "step" in s}
    assert set(steps["discovered"]["dpopAlgs"]) == DPOP_ALGS
    token = steps["token"]
    assert token["tokenType"] == "dpop"
    assert token["cnfMembers"] == ["jkt"]
    assert token["proofAlg"] == "ES256"
    resource = steps["resource"]
    assert resource["status"] == 200
    assert resource["shortcode"] == tenant
    replay = steps["replayed proof refused"]
    assert replay["status"] == 401
    assert 'error="invalid_dpop_proof"' in replay["challenge"], replay
    downgrade = steps["bearer downgrade refused"]
    assert downgrade["status"] == 401
    assert downgrade["challenge"].startswith("DPoP "), downgrade
    assert 'error="invalid_token"' in downgrade["challenge"], downgrade
    assert "algs=" in downgrade["challenge"], downgrade
    stolen = steps["stolen token refused"]
    assert stolen["status"] == 401
    # the proof is good but signed by another key than the token's cnf.jkt (RFC 9449 §7.1)
    assert stolen["error"] == "invalid_dpop_proof", stolen
    introspected = steps["introspected"]
    assert introspected["tokenType"] == "DPoP"
    assert introspected["cnfJkt"] is True
    return steps


def test_client_package_installed_from_the_lockfile() -> None:
    assert (CLIENT_PACKAGE / "package.json").is_file(), (
        f"{CLIENT_PACKAGE} is missing: run `make interop-node` (npm ci in {NODE_DIR})"
    )
    installed = json.loads((CLIENT_PACKAGE / "package.json").read_text())["version"]
    assert installed == EXPECTED_VERSION, "node_modules is stale: run `make interop-node`"
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/openid-client"]["version"] == EXPECTED_VERSION


def test_openid_client_gets_and_uses_a_dpop_bound_token(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("oidcdpop"))
    lines = run_dpop_script(server, creds)
    steps = check_steps(lines, creds.tenant)
    # without nonces: one token request and one API request, no retries
    assert steps["token"]["tokenRequests"] == 1
    assert steps["resource"]["apiRequests"] == 1

    # the realm's tokens without a proof are still plain bearer tokens
    plain = httpx.post(
        server.token_url(creds.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        timeout=30,
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["token_type"] == "Bearer"


@pytest.fixture(scope="module")
def nonce_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that requires DPoP nonces (``dpop_nonce``) at the token endpoint and the API."""
    srv = Server(tmp_path_factory.mktemp("dpop-nonce"), None, {"REALMGATE_DPOP_NONCE": "true"})
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_openid_client_follows_the_servers_dpop_nonces(nonce_server: Server) -> None:
    creds = nonce_server.create_tenant(unique_shortcode("oidcnonce"))
    lines = run_dpop_script(nonce_server, creds)
    steps = check_steps(lines, creds.tenant)
    # the library met use_dpop_nonce at the token endpoint and retried once with the nonce:
    # one refused and one answered token request
    assert steps["token"]["tokenRequests"] == 2, steps["token"]
    # the API accepted the token endpoint's nonce (the same nonces everywhere), or the
    # library retried once after a use_dpop_nonce challenge
    assert steps["resource"]["apiRequests"] in (1, 2), steps["resource"]


def test_a_proof_without_the_nonce_is_refused_with_a_fresh_one(nonce_server: Server) -> None:
    """What openid-client relies on, seen from Python: 400 ``use_dpop_nonce`` and a
    ``DPoP-Nonce`` header at the token endpoint (RFC 9449 §8)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from realmgate.jose.dpop import make_proof

    creds = nonce_server.create_tenant(unique_shortcode("nonce"))
    url = nonce_server.token_url(creds.tenant)
    key = ec.generate_private_key(ec.SECP256R1())
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    r = httpx.post(url, data=form, headers={"DPoP": make_proof(key, method="POST", url=url)})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "use_dpop_nonce"
    nonce = r.headers["DPoP-Nonce"]
    assert nonce
    proof = make_proof(key, method="POST", url=url, nonce=nonce)
    r = httpx.post(url, data=form, headers={"DPoP": proof})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
