"""No client secret and no access token ever reaches the server's log, even at debug level."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import (
    access_token,
    bearer,
    cli_json,
    get_settings,
    jwt_parts,
    patch_settings,
    poll,
    request_token,
    settings_url,
    token_form,
    unique_shortcode,
)
from tests.servers import Credentials, Server, postgres_database


@pytest.fixture
def debug_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A server of its own that logs at debug level."""
    env = {"REALMGATE_LOG_LEVEL": "debug"}
    if backend == "postgres":
        with postgres_database() as url:
            srv = Server(tmp_path / "data", url, env)
            try:
                srv.start()
                yield srv
            finally:
                srv.stop()
    else:
        srv = Server(tmp_path / "data", None, env)
        try:
            srv.start()
            yield srv
        finally:
            srv.stop()


def basic(client_id: str, secret: str) -> str:
    return base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def run_scenario(srv: Server) -> tuple[set[str], set[str]]:
    """Good and bad token requests, API calls and rotations; returns (secrets, tokens)."""
    secrets: set[str] = set()
    tokens: set[str] = set()

    shortcode = unique_shortcode("hyg")
    admin = srv.create_tenant(shortcode)
    reader = srv.create_client(shortcode, "reader", "reader")
    secrets |= {admin.client_secret, reader.client_secret}

    # Good requests, post and basic.
    for creds in (admin, reader):
        tokens.add(access_token(srv, creds))
        r = httpx.post(
            srv.token_url(shortcode),
            data={"grant_type": "client_credentials"},
            auth=(creds.client_id, creds.client_secret),
        )
        assert r.status_code == 200
        tokens.add(r.json()["access_token"])

    # Bad requests that carry secrets.
    wrong_secret = f"wrong-{uuid.uuid4().hex}"
    secrets.add(wrong_secret)
    bad = Credentials(shortcode, admin.client_id, wrong_secret)
    assert request_token(srv, bad).status_code == 401
    assert request_token(srv, Credentials(shortcode, "ghost", wrong_secret)).status_code == 401
    assert (
        httpx.post(
            srv.token_url(shortcode),
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic(admin.client_id, wrong_secret)}"},
        ).status_code
        == 401
    )
    assert request_token(srv, admin, grant_type="password").status_code == 400
    assert request_token(srv, admin, scope="admin").status_code == 400
    dup = httpx.post(
        srv.token_url(shortcode),
        content=f"client_secret={admin.client_secret}&client_secret={admin.client_secret}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert dup.status_code == 400
    assert (
        httpx.post(
            srv.token_url(f"missing{uuid.uuid4().hex[:6]}"), data=token_form(admin)
        ).status_code
        == 404
    )
    assert (
        httpx.post(
            srv.token_url(shortcode), content=b"client_secret=" + admin.client_secret.encode()
        ).status_code
        == 400
    )

    # API calls: good, forged, wrong role.
    admin_token = access_token(srv, admin)
    reader_token = access_token(srv, reader)
    tokens |= {admin_token, reader_token}
    assert get_settings(srv, admin_token).status_code == 200
    assert patch_settings(srv, admin_token, {"name": "Hygiene"}).status_code == 200
    assert patch_settings(srv, admin_token, {"bogus": admin.client_secret}).status_code == 422
    assert patch_settings(srv, reader_token, {"name": "x"}).status_code == 403
    signature = jwt_parts(admin_token)[2]
    tampered = admin_token.rsplit(".", 1)[0] + "." + signature[::-1]
    tokens.add(tampered)
    assert get_settings(srv, tampered).status_code == 401
    assert httpx.get(settings_url(srv), headers=bearer(admin_token + "x")).status_code == 401

    # Rotations: secret (with and without grace) and key.
    rotated = cli_json(srv, "client", "rotate-secret", shortcode, reader.client_id, "--grace", "0")
    secrets.add(rotated["clientSecret"])
    new_reader = Credentials(shortcode, reader.client_id, rotated["clientSecret"])
    r = poll(lambda: request_token(srv, new_reader), lambda r: r.status_code == 200)
    assert r.status_code == 200
    tokens.add(r.json()["access_token"])
    assert (
        poll(lambda: request_token(srv, reader), lambda r: r.status_code == 401).status_code == 401
    )
    graced = cli_json(srv, "client", "rotate-secret", shortcode, admin.client_id, "--grace", "600")
    secrets.add(graced["clientSecret"])
    srv.cli("keys", "rotate", shortcode)
    new_admin = Credentials(shortcode, admin.client_id, graced["clientSecret"])
    r = poll(lambda: request_token(srv, new_admin), lambda r: r.status_code == 200)
    assert r.status_code == 200
    tokens.add(r.json()["access_token"])
    tokens.add(access_token(srv, admin))
    return secrets, tokens


def assert_log_clean(log: str, secrets: set[str], tokens: set[str]) -> None:
    assert log, "the server wrote no log at all"
    for secret in secrets:
        assert secret not in log, "a client secret is in the server log"
    for token in tokens:
        header, payload, signature = token.split(".")
        assert signature not in log, "an access token's signature is in the server log"
        assert f"{header}.{payload}" not in log, "an access token is in the server log"


def test_debug_log_has_no_secret_and_no_token(debug_server: Server) -> None:
    secrets, tokens = run_scenario(debug_server)
    assert_log_clean(debug_server.output(), secrets, tokens)
