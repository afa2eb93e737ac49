"""State survives a restart; signing-key rotation keeps earlier tokens valid."""

from __future__ import annotations

import httpx

from tests.integration.helpers import (
    access_token,
    cli_json,
    get_settings,
    jwt_parts,
    poll,
    request_token,
    unique_shortcode,
)
from tests.servers import Server


def jwks_kids(server: Server, tenant: str) -> set[str]:
    r = httpx.get(f"{server.base_url}/realms/{tenant}/protocol/openid-connect/certs")
    assert r.status_code == 200
    return {k["kid"] for k in r.json()["keys"]}


def test_tenants_clients_keys_and_tokens_survive_a_restart(fresh_server: Server) -> None:
    srv = fresh_server
    srv.start()
    assert srv.demo is not None
    assert "clientSecret" in srv.output()

    shortcode = unique_shortcode("restart")
    admin = srv.create_tenant(shortcode, "--algorithm", "ES256")
    other = srv.create_client(shortcode, "worker", "reader")
    token = access_token(srv, admin)
    demo_token = access_token(srv, srv.demo)

    tenants_before = cli_json(srv, "tenant", "list")
    clients_before = cli_json(srv, "client", "list", shortcode)
    keys_before = cli_json(srv, "keys", "list", shortcode)
    jwks_before = httpx.get(f"{srv.base_url}/realms/{shortcode}/protocol/openid-connect/certs")
    assert jwks_before.status_code == 200

    log_size = len(srv.output())
    proc = srv.proc
    assert proc is not None
    srv.stop()  # SIGTERM
    # A graceful shutdown: uvicorn finishes the lifespan, then re-raises the captured SIGTERM.
    assert proc.returncode in {0, -15}, proc.returncode
    assert "Application shutdown complete" in srv.output()[log_size:]
    srv.start()
    after_restart = srv.output()[log_size:]
    assert "realmgate listening" in after_restart
    assert "clientSecret" not in after_restart
    assert "First start" not in after_restart
    assert srv.demo.client_secret not in after_restart
    assert admin.client_secret not in after_restart

    tenants_after = cli_json(srv, "tenant", "list")
    assert {t["shortcode"] for t in tenants_after} == {"demo", "master", shortcode}
    assert tenants_after == tenants_before
    assert cli_json(srv, "client", "list", shortcode) == clients_before
    assert cli_json(srv, "keys", "list", shortcode) == keys_before
    assert {c["clientId"] for c in clients_before} == {admin.client_id, "worker"}
    jwks_after = httpx.get(f"{srv.base_url}/realms/{shortcode}/protocol/openid-connect/certs")
    assert jwks_after.json() == jwks_before.json()

    # The old tokens still open the API; the old credentials still get tokens.
    r = get_settings(srv, token)
    assert r.status_code == 200
    assert r.json()["data"]["shortcode"] == shortcode
    assert get_settings(srv, demo_token).json()["data"]["shortcode"] == "demo"
    new_token = access_token(srv, admin)
    assert jwt_parts(new_token)[0]["kid"] == jwt_parts(token)[0]["kid"]
    assert jwt_parts(new_token)[1]["sub"] == jwt_parts(token)[1]["sub"]
    assert request_token(srv, other).status_code == 200
    assert request_token(srv, srv.demo).status_code == 200


def test_settings_survive_a_restart(fresh_server: Server) -> None:
    srv = fresh_server
    srv.start()
    assert srv.demo is not None
    token = access_token(srv, srv.demo)
    r = httpx.patch(
        f"{srv.base_url}/v2/tenants/current/settings",
        json={"timezone": "Europe/Vienna", "duplicateCheck": True},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    srv.restart()
    after = get_settings(srv, token)
    assert after.status_code == 200
    assert after.json() == r.json()


def test_key_rotation_keeps_earlier_tokens_valid(server: Server) -> None:
    shortcode = unique_shortcode("rot")
    admin = server.create_tenant(shortcode)
    old_token = access_token(server, admin)
    old_kid = jwt_parts(old_token)[0]["kid"]
    assert jwks_kids(server, shortcode) == {old_kid}

    rotated = cli_json(server, "keys", "rotate", shortcode)
    new_kid = rotated["kid"]
    assert new_kid != old_kid
    assert rotated["status"] == "active"
    assert rotated["alg"] == "RS256"

    # The server picks up the rotation from its change feed (bounded wait).
    kids = poll(lambda: jwks_kids(server, shortcode), lambda k: k == {old_kid, new_kid})
    assert kids == {old_kid, new_kid}
    new_token = poll(
        lambda: access_token(server, admin), lambda t: jwt_parts(t)[0]["kid"] == new_kid
    )
    assert jwt_parts(new_token)[0]["kid"] == new_kid

    # A second rotation, to another algorithm: every earlier token still verifies.
    eddsa = cli_json(server, "keys", "rotate", shortcode, "--algorithm", "EdDSA")
    assert eddsa["alg"] == "EdDSA"
    eddsa_token = poll(
        lambda: access_token(server, admin), lambda t: jwt_parts(t)[0]["alg"] == "EdDSA"
    )
    assert jwt_parts(eddsa_token)[0]["kid"] == eddsa["kid"]
    assert jwks_kids(server, shortcode) == {old_kid, new_kid, eddsa["kid"]}

    keys = {k["kid"]: k for k in cli_json(server, "keys", "list", shortcode)}
    assert set(keys) == {old_kid, new_kid, eddsa["kid"]}
    assert keys[eddsa["kid"]]["status"] == "active"
    for kid in (old_kid, new_kid):
        assert keys[kid]["status"] != "active"
        assert keys[kid]["verifyUntil"] is not None

    for token in (old_token, new_token, eddsa_token):
        r = get_settings(server, token)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["shortcode"] == shortcode
