"""Admin identities on a real server: the admin client of realm ``master`` created on the first
start (and by ``realmgate admin create-client``) gets tokens at the ordinary token endpoint with
the realm role ``admin``; a client with admin roles carries them in
``resource_access.realm-management.roles``; a disabled realm is refused as Keycloak refuses it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from realmgate.server.core.admin import Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from tests.admin_support import claims_of
from tests.integration.helpers import poll, request_token, unique_shortcode
from tests.servers import Credentials, Server


@pytest.fixture
def admin(server: Server) -> Iterator[Admin]:
    """The admin services on the server's own database (as the CLI opens it)."""
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    runtime = open_runtime(settings, upgrade=False)
    try:
        yield Admin(runtime.store, runtime.vault, settings, actor="test")
    finally:
        runtime.close()


def test_the_first_start_prints_the_master_admin_client_whose_token_works(
    server: Server,
) -> None:
    assert server.admin is not None, server.output()
    assert (server.admin.tenant, server.admin.client_id) == ("master", "realmgate-admin")
    assert server.demo is not None
    assert server.demo.tenant == "demo"  # the demo's credentials are still the demo's
    r = request_token(server, server.admin)
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["realm_access"] == {"roles": ["admin"]}
    assert claims["iss"] == f"{server.base_url}/realms/master"
    assert "resource_access" not in claims


def test_admin_create_client_makes_another_master_admin(server: Server) -> None:
    client_id = unique_shortcode("ops")
    data = json.loads(
        server.cli("admin", "create-client", "--client-id", client_id, "--json").stdout
    )
    assert (data["tenantShortcode"], data["clientId"]) == ("master", client_id)
    creds = Credentials(data["tenantShortcode"], data["clientId"], data["clientSecret"])
    r = request_token(server, creds)
    assert r.status_code == 200, r.text
    assert claims_of(r.json()["access_token"])["realm_access"] == {"roles": ["admin"]}
    again = server.cli("admin", "create-client", "--client-id", client_id, check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_a_client_with_admin_roles_carries_them_in_resource_access(
    server: Server, admin: Admin
) -> None:
    realm = unique_shortcode("adm")
    admin.create_realm(realm)
    issued = admin.create_client(realm, "ops", admin_roles=("view-clients", "manage-clients"))
    creds = Credentials(issued.tenant, issued.client_id, issued.client_secret)
    r = request_token(server, creds)
    assert r.status_code == 200, r.text
    claims = claims_of(r.json()["access_token"])
    assert claims["resource_access"] == {
        "realm-management": {"roles": ["view-clients", "manage-clients"]}
    }
    assert claims["realm_access"] == {"roles": []}
    admin.set_admin_roles(realm, "ops", ["realm-admin"])
    wanted = {"realm-management": {"roles": ["realm-admin"]}}
    later = poll(  # the change feed reaches the server's cache
        lambda: claims_of(request_token(server, creds).json()["access_token"]),
        lambda c: c["resource_access"] == wanted,
    )
    assert later["resource_access"] == wanted


def test_a_disabled_realm_is_refused_as_keycloak_does(server: Server, admin: Admin) -> None:
    realm = unique_shortcode("off")
    admin.create_realm(realm)
    issued = admin.create_client(realm, "app")
    creds = Credentials(issued.tenant, issued.client_id, issued.client_secret)
    assert request_token(server, creds).status_code == 200
    admin.update_realm(realm, enabled=False)
    r = poll(lambda: request_token(server, creds), lambda r: r.status_code != 200)
    assert r.status_code == 403
    assert r.json() == {"error": "access_denied", "error_description": "Realm not enabled"}
    base = f"{server.base_url}/realms/{realm}"
    assert httpx.get(f"{base}/protocol/openid-connect/certs").status_code == 200
    assert httpx.get(f"{base}/.well-known/openid-configuration").status_code == 200
    admin.update_realm(realm, enabled=True)
    r = poll(lambda: request_token(server, creds), lambda r: r.status_code == 200)
    assert r.status_code == 200
