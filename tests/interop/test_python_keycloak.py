"""python-keycloak's ``KeycloakAdmin`` runs a Keycloak provisioning script unchanged against
``realmgate serve``: client credentials of the master admin client, ``user_realm_name="master"``,
the target realm as ``realm_name`` (KEYCLOAK-ADMIN.md §1).

The flow: create a realm, a confidential client with a service account, read its secret, create
a realm role and map it to the service account, get a token as the new client and find the role
in ``realm_access.roles``, regenerate the secret (the old one is refused, the new one works),
disable the client (refused), delete the client and the realm. Then the error paths as the
library raises them: a duplicate client (409), unknown ids (404), a token without the role (403).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from keycloak import (
    KeycloakAdmin,
    KeycloakAuthenticationError,
    KeycloakGetError,
    KeycloakOpenID,
    KeycloakPostError,
)
from keycloak.exceptions import KeycloakDeleteError, KeycloakPutError

from tests.admin_support import claims_of, master_admin, unique
from tests.integration.helpers import poll
from tests.servers import Server

T = TypeVar("T")
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def admin_client(server: Server, realm: str) -> KeycloakAdmin:
    admin = master_admin(server)
    return KeycloakAdmin(
        server_url=server.base_url,
        realm_name=realm,
        user_realm_name="master",
        client_id=admin.client_id,
        client_secret_key=admin.client_secret,
    )


def openid(server: Server, realm: str, client_id: str, secret: str) -> KeycloakOpenID:
    return KeycloakOpenID(
        server_url=server.base_url,
        realm_name=realm,
        client_id=client_id,
        client_secret_key=secret,
    )


def token_or_status(
    server: Server, realm: str, client_id: str, secret: str
) -> dict[str, Any] | int:
    """A token (python-keycloak's ``KeycloakOpenID.token``) or the status that refused it."""
    try:
        return openid(server, realm, client_id, secret).token(grant_type="client_credentials")
    except (KeycloakAuthenticationError, KeycloakPostError) as exc:
        assert exc.response_code is not None
        return exc.response_code


def refused(result: dict[str, Any] | int) -> bool:
    return result == 401


def eventually(fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
    """A change made on one worker reaches the others within the propagation bound."""
    return poll(fetch, done)


def body_of(exc: Any) -> Any:
    return json.loads(exc.response_body)


def test_the_whole_provisioning_flow(server: Server) -> None:
    realm = unique("pk")
    kc = admin_client(server, realm)

    # a realm: 201, empty body (python-keycloak raises TypeError on a JSON body)
    assert (
        kc.create_realm({"realm": realm, "enabled": True, "displayName": "Python Keycloak"}) == b""
    )
    rep = kc.get_realm(realm)
    assert (
        rep["realm"] == realm and rep["enabled"] is True and rep["displayName"] == "Python Keycloak"
    )
    assert realm in {r["realm"] for r in kc.get_realms()}

    # a confidential client with a service account, as a Keycloak script writes it
    payload = {
        "clientId": "billing-sync",
        "name": "Billing sync",
        "description": "nightly invoices",
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "redirectUris": [],
        "webOrigins": [],
        "attributes": {"access.token.lifespan": "600"},
    }
    client_uuid = kc.create_client(payload)
    assert kc.get_client_id("billing-sync") == client_uuid
    got = kc.get_client(client_uuid)
    assert got["id"] == client_uuid and got["clientId"] == "billing-sync"
    assert got["name"] == "Billing sync" and got["description"] == "nightly invoices"
    assert got["serviceAccountsEnabled"] is True and got["publicClient"] is False
    assert got["standardFlowEnabled"] is False and got["redirectUris"] == []
    assert got["attributes"]["access.token.lifespan"] == "600"
    assert "secret" not in got  # realmgate never echoes a secret in the representation
    assert "billing-sync" in {c["clientId"] for c in kc.get_clients()}

    # its secret, once
    secret = kc.get_client_secrets(client_uuid)
    assert secret["type"] == "secret" and len(secret["value"]) >= 32
    first = token_or_status(server, realm, "billing-sync", secret["value"])
    assert isinstance(first, dict), first
    assert first["token_type"].lower() == "bearer" and first["expires_in"] == 600

    # a realm role, mapped to the service account
    assert kc.create_realm_role({"name": "invoices:write", "description": "write invoices"}) == (
        "invoices:write"
    )
    role = kc.get_realm_role("invoices:write")
    assert role["name"] == "invoices:write" and role["description"] == "write invoices"
    assert role["clientRole"] is False and role["composite"] is False
    assert "invoices:write" in {r["name"] for r in kc.get_realm_roles()}
    user = kc.get_client_service_account_user(client_uuid)
    assert user["username"] == "service-account-billing-sync" and user["enabled"] is True
    assert kc.assign_realm_roles(user["id"], [role]) == {}
    assert "invoices:write" in {r["name"] for r in kc.get_realm_roles_of_user(user["id"])}

    # a token as the new client carries the role
    def roles_in_token() -> list[str] | int:
        got = token_or_status(server, realm, "billing-sync", secret["value"])
        if isinstance(got, int):
            return got
        return list(claims_of(got["access_token"]).get("realm_access", {}).get("roles", []))

    roles = eventually(roles_in_token, lambda r: isinstance(r, list) and "invoices:write" in r)
    assert isinstance(roles, list) and "invoices:write" in roles, roles

    # regenerate: the old secret is refused, the new one works
    regenerated = kc.generate_client_secrets(client_uuid)
    assert regenerated["type"] == "secret" and regenerated["value"] != secret["value"]
    old = eventually(
        lambda: token_or_status(server, realm, "billing-sync", secret["value"]), refused
    )
    assert old == 401, old
    new = token_or_status(server, realm, "billing-sync", regenerated["value"])
    assert isinstance(new, dict), new
    assert "invoices:write" in claims_of(new["access_token"])["realm_access"]["roles"]

    # disabled: refused
    assert kc.update_client(client_uuid, {"enabled": False}) == {}
    assert kc.get_client(client_uuid)["enabled"] is False
    off = eventually(
        lambda: token_or_status(server, realm, "billing-sync", regenerated["value"]), refused
    )
    assert off == 401, off

    # deleted: gone, and its secret with it
    assert kc.update_client(client_uuid, {"enabled": True}) == {}
    assert kc.delete_client(client_uuid) == {}
    assert kc.get_client_id("billing-sync") is None
    with pytest.raises(KeycloakGetError) as gone:
        kc.get_client(client_uuid)
    assert gone.value.response_code == 404
    assert (
        eventually(
            lambda: token_or_status(server, realm, "billing-sync", regenerated["value"]), refused
        )
        == 401
    )

    # the realm
    assert kc.delete_realm(realm) == {}
    with pytest.raises(KeycloakGetError) as no_realm:
        kc.get_realm(realm)
    assert no_realm.value.response_code == 404
    assert body_of(no_realm.value) == {"error": "Realm not found."}
    assert realm not in {r["realm"] for r in kc.get_realms()}


def test_error_paths(server: Server) -> None:
    realm = unique("pke")
    kc = admin_client(server, realm)
    kc.create_realm({"realm": realm, "enabled": True})
    try:
        client_uuid = kc.create_client(
            {"clientId": "app", "serviceAccountsEnabled": True, "publicClient": False}
        )

        # a duplicate client: 409 with Keycloak's body, which the exception carries
        with pytest.raises(KeycloakPostError) as dup:
            kc.create_client({"clientId": "app", "serviceAccountsEnabled": True})
        assert dup.value.response_code == 409
        assert body_of(dup.value) == {"errorMessage": "Client app already exists"}
        assert "Client app already exists" in str(dup.value)
        # skip_exists finds the existing one instead
        assert kc.create_client({"clientId": "app"}, skip_exists=True) == client_uuid

        # a duplicate realm and role: 409 too
        with pytest.raises(KeycloakPostError) as dup_realm:
            kc.create_realm({"realm": realm, "enabled": True})
        assert dup_realm.value.response_code == 409
        assert body_of(dup_realm.value) == {"errorMessage": f"Realm {realm} already exists"}
        kc.create_realm_role({"name": "reader"})
        with pytest.raises(KeycloakPostError) as dup_role:
            kc.create_realm_role({"name": "reader"})
        assert dup_role.value.response_code == 409
        assert body_of(dup_role.value) == {"errorMessage": "Role with name reader already exists"}

        # unknown ids: 404 with Keycloak's body, whatever the verb
        for call, exc_type in (
            (lambda: kc.get_client(UNKNOWN_ID), KeycloakGetError),
            (lambda: kc.get_client_secrets(UNKNOWN_ID), KeycloakGetError),
            (lambda: kc.generate_client_secrets(UNKNOWN_ID), KeycloakPostError),
            (lambda: kc.update_client(UNKNOWN_ID, {"enabled": False}), KeycloakPutError),
            (lambda: kc.delete_client(UNKNOWN_ID), KeycloakDeleteError),
        ):
            with pytest.raises(exc_type) as unknown:
                call()
            assert unknown.value.response_code == 404
            assert body_of(unknown.value) == {"error": "Could not find client"}
        with pytest.raises(KeycloakGetError) as no_role:
            kc.get_realm_role("no-such-role")
        assert no_role.value.response_code == 404
        assert body_of(no_role.value) == {"error": "Could not find role"}
        with pytest.raises(KeycloakGetError) as no_realm:
            kc.get_realm(unique("nope"))
        assert no_realm.value.response_code == 404

        # a token without the role: 403 (python-keycloak refreshes on 401 only)
        secret = kc.get_client_secrets(client_uuid)["value"]
        plain = KeycloakAdmin(
            server_url=server.base_url,
            realm_name=realm,
            client_id="app",
            client_secret_key=secret,
        )
        for forbidden_call, exc_type in (
            (plain.get_clients, KeycloakGetError),
            (lambda: plain.get_client(client_uuid), KeycloakGetError),
            (lambda: plain.create_client({"clientId": "intruder"}), KeycloakPostError),
            (lambda: plain.create_realm_role({"name": "intruder"}), KeycloakPostError),
            (lambda: plain.get_realm(realm), KeycloakGetError),
        ):
            with pytest.raises(exc_type) as denied:
                forbidden_call()
            assert denied.value.response_code == 403
            assert body_of(denied.value) == {"error": "HTTP 403 Forbidden"}
        assert kc.get_client_id("intruder") is None

        # a wrong admin secret: python-keycloak's token request fails with 401
        wrong = KeycloakAdmin(
            server_url=server.base_url,
            realm_name=realm,
            user_realm_name="master",
            client_id=master_admin(server).client_id,
            client_secret_key="not-the-secret",
        )
        with pytest.raises(KeycloakAuthenticationError) as bad_login:
            wrong.get_clients()
        assert bad_login.value.response_code == 401
    finally:
        kc.delete_realm(realm)
