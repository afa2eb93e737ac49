"""The admin services in Keycloak's model (realms, clients by Keycloak ids, secrets readable
once, realm roles and role mappings, admin roles, disabled realms, the realm ``master``), on a
real SQLite runtime with an injected clock (no sleeps)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest

from realmgate.server.core.admin import (
    ADMIN_ROLE_NAMES,
    MASTER,
    Admin,
    AdminError,
    Conflict,
    IssuedCredentials,
    NotFound,
)
from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.introspection import TokenIntrospection
from realmgate.server.core.realms import Directory
from realmgate.server.core.token_state import inactive_reason
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.verifier import AccessTokenClaims
from realmgate.wire.errors import InvalidClient, RealmDisabled
from realmgate.wire.forms import parse_form

T0 = 2_000_000_000
WINDOW = 300


class FakeClock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    runtime: Runtime
    clock: FakeClock
    admin: Admin
    directory: Directory
    grant: ClientCredentialsGrant
    introspection: TokenIntrospection

    def claims(self, creds: IssuedCredentials, secret: str | None = None) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": secret or creds.client_secret,
        }
        req = TokenRequest(creds.tenant, parse_form(urlencode(form).encode()), None)
        token = anyio.run(self.grant.handle, req)["access_token"]
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))

    def refused(self, creds: IssuedCredentials, secret: str) -> bool:
        try:
            self.claims(creds, secret)
        except InvalidClient:
            return True
        return False

    def sync(self) -> None:
        anyio.run(self.directory.poll_changes)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    settings = Settings(data_dir=tmp_path, admin_secret_reveal_window=WINDOW)
    runtime = open_runtime(settings)
    clock = FakeClock()
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    directory.wall_clock = clock
    directory.start_at_head()
    authenticator = ClientAuthenticator(directory)
    yield Env(
        runtime=runtime,
        clock=clock,
        admin=Admin(runtime.store, runtime.vault, runtime.settings, clock=clock, actor="test"),
        directory=directory,
        grant=ClientCredentialsGrant(directory, clock=clock, authenticator=authenticator),
        introspection=TokenIntrospection(directory, authenticator, clock=clock),
    )
    runtime.close()


# realms ------------------------------------------------------------------------------------
def test_a_realm_is_created_as_keycloak_does_without_any_client(env: Env) -> None:
    realm = env.admin.create_realm(
        "acme", display_name="ACME", access_token_lifespan=600, extra={"defaultLocale": "de"}
    )
    assert (realm.name, realm.access_token_lifespan, realm.enabled) == ("ACME", 600, True)
    assert len(realm.realm_id) == 36
    assert env.admin.get_tenant("acme") == realm
    assert env.admin.list_clients("acme") == []
    assert env.admin.list_roles("acme") == []
    assert [k.status for k in env.admin.list_keys("acme")] == ["active"]
    with pytest.raises(Conflict, match=r"^Realm acme already exists$"):
        env.admin.create_realm("acme")
    with pytest.raises(AdminError, match=r"^Realm name cannot be empty$"):
        env.admin.create_realm("")
    with pytest.raises(AdminError, match="invalid tenant shortcode"):
        env.admin.create_realm("Not A Name")
    with pytest.raises(AdminError, match="cannot exceed the maximum"):
        env.admin.create_realm("long", access_token_lifespan=10**6)


def test_a_realm_update_is_partial_and_merges_the_echoed_fields(env: Env) -> None:
    env.admin.create_realm("acme", extra={"defaultLocale": "de", "attributes": {"a": "1"}})
    before = env.admin.get_tenant("acme")
    updated = env.admin.update_realm(
        "acme", display_name="New", extra={"attributes": {"b": "2"}, "defaultLocale": None}
    )
    assert updated.name == "New"
    assert updated.extra == {"attributes": {"b": "2"}}
    assert updated.access_token_lifespan == before.access_token_lifespan
    assert updated.signing_alg == "RS256"
    rotated = env.admin.update_realm("acme", signing_alg="ES256", not_before=T0 - 5)
    assert (rotated.signing_alg, rotated.not_before) == ("ES256", T0 - 5)
    assert [k.alg for k in env.admin.list_keys("acme") if k.status == "active"] == ["ES256"]
    with pytest.raises(AdminError, match="unsupported algorithm"):
        env.admin.update_realm("acme", signing_alg="HS256")
    with pytest.raises(NotFound):
        env.admin.update_realm("nobody", display_name="x")


def test_a_disabled_realm_issues_no_tokens_and_its_tokens_stop_working(env: Env) -> None:
    creds = env.admin.create_tenant("acme")
    claims = env.claims(creds)
    env.admin.update_realm("acme", enabled=False)
    env.sync()
    with pytest.raises(RealmDisabled) as refused:
        env.claims(creds)
    assert (refused.value.status_code, refused.value.body()) == (
        403,
        {"error": "access_denied", "error_description": "Realm not enabled"},
    )
    realm = anyio.run(env.directory.realm, "acme")
    assert realm is not None  # JWKS and discovery stay served, as Keycloak does
    parsed = AccessTokenClaims.from_claims(claims)
    assert anyio.run(inactive_reason, env.directory, realm, parsed) == "tenant disabled"
    env.admin.update_realm("acme", enabled=True)
    env.sync()
    assert env.claims(creds)["azp"] == creds.client_id


def test_master_cannot_be_deleted_or_disabled_nor_lose_its_admin_role(env: Env) -> None:
    creds = env.admin.create_admin_client()
    assert (creds.tenant, creds.client_id) == (MASTER, "realmgate-admin")
    with pytest.raises(AdminError, match="cannot be deleted"):
        env.admin.delete_tenant(MASTER)
    with pytest.raises(AdminError, match="cannot be disabled"):
        env.admin.update_realm(MASTER, enabled=False)
    with pytest.raises(AdminError, match="cannot be deleted"):
        env.admin.delete_role(MASTER, "admin")
    assert env.admin.get_tenant(MASTER).enabled


def test_the_admin_client_of_master_has_the_realm_role_admin(env: Env) -> None:
    first = env.admin.create_admin_client()
    assert [r.name for r in env.admin.list_roles(MASTER)] == ["admin", "create-realm"]
    assert env.claims(first)["realm_access"] == {"roles": ["admin"]}
    second = env.admin.create_admin_client("ops-admin")  # master exists: only the client
    assert env.claims(second)["realm_access"] == {"roles": ["admin"]}
    assert len(env.admin.list_tenants()) == 1
    with pytest.raises(Conflict):
        env.admin.create_admin_client("ops-admin")


# clients -----------------------------------------------------------------------------------
def test_a_client_with_keycloak_fields_and_a_given_secret(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client(
        "acme",
        "app",
        secret="test-secret",
        name="App",
        description="An app",
        extra={"redirectUris": ["https://app/cb"], "protocol": "openid-connect"},
        roles=("reader",),
        access_token_lifespan=900,
    )
    assert creds.client_secret == "test-secret"
    client = env.admin.get_client_by_internal_id("acme", creds.internal_id)
    assert (client.client_id, client.name, client.description) == ("app", "App", "An app")
    assert client.extra["redirectUris"] == ["https://app/cb"]
    assert env.admin.get_client_by_sub("acme", creds.sub).client_id == "app"
    assert b"test-secret" not in client.secret_hash
    assert client.reveal_enc is None  # not asked to be revealable
    claims = env.claims(creds)
    assert claims["exp"] - claims["iat"] == 900
    assert [r.name for r in env.admin.list_roles("acme")] == ["reader"]  # created with it
    with pytest.raises(Conflict, match=r"^Client app already exists$"):
        env.admin.create_client("acme", "app")
    with pytest.raises(NotFound, match=r"^Could not find client$"):
        env.admin.get_client_by_internal_id("acme", "nobody")
    with pytest.raises(NotFound, match=r"^User not found$"):
        env.admin.get_client_by_sub("acme", "nobody")
    for bad in ("", "x" * 513):
        with pytest.raises(AdminError, match="1 to 512 characters"):
            env.admin.create_client("acme", "bad", secret=bad)


def test_a_new_secret_is_readable_once_within_the_window(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client("acme", "app", reveal=True)
    stored = env.admin.get_client("acme", "app")
    assert stored.reveal_until == T0 + WINDOW
    assert stored.reveal_enc is not None
    assert creds.client_secret.encode() not in stored.reveal_enc
    assert env.admin.reveal_secret("acme", "app") == creds.client_secret
    assert env.admin.reveal_secret("acme", "app") is None  # destroyed by the first read
    assert env.admin.get_client("acme", "app").reveal_enc is None
    assert not env.refused(creds, creds.client_secret)  # the secret itself still works


def test_after_the_window_a_secret_is_never_readable_again(env: Env) -> None:
    env.admin.create_realm("acme")
    env.admin.create_client("acme", "app", reveal=True)
    env.admin.create_client("acme", "other", reveal=True)
    env.clock.now = T0 + WINDOW
    assert env.admin.reveal_secret("acme", "app") is None
    assert env.admin.get_client("acme", "app").reveal_enc is None  # destroyed on reading
    assert env.runtime.store.clear_expired_reveals(int(env.clock.now)) == 1
    assert env.admin.get_client("acme", "other").reveal_enc is None


def test_regenerating_a_secret_refuses_the_old_one_at_once(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client("acme", "app", reveal=True)
    assert not env.refused(creds, creds.client_secret)
    env.admin.rotate_secret("acme", "app", grace=3600)  # a grace period is ended too
    new = env.admin.regenerate_secret("acme", "app")
    env.sync()
    assert env.refused(creds, creds.client_secret)
    assert not env.refused(creds, new)
    client = env.admin.get_client("acme", "app")
    assert client.previous_secret_hash is None
    assert env.admin.reveal_secret("acme", "app") == new
    assert env.admin.reveal_secret("acme", "app") is None
    events = [e.action for e in env.runtime.store.list_audit("acme")]
    assert "client.secret_regenerated" in events
    assert "client.secret_revealed" in events


def test_no_reveal_when_the_window_is_zero(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_secret_reveal_window=0)
    runtime = open_runtime(settings)
    try:
        admin = Admin(runtime.store, runtime.vault, settings)
        admin.create_realm("acme")
        admin.create_client("acme", "app", reveal=True)
        assert admin.reveal_secret("acme", "app") is None
        admin.regenerate_secret("acme", "app")
        assert admin.reveal_secret("acme", "app") is None
    finally:
        runtime.close()


def test_client_fields_update_partially_and_the_client_id_stays(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client(
        "acme", "app", extra={"a": 1, "b": 2}, access_token_lifespan=900
    )
    updated = env.admin.update_client_fields(
        "acme", "app", name="N", enabled=False, extra={"b": None, "c": 3}, access_token_lifespan=0
    )
    assert (updated.name, updated.enabled, updated.access_token_lifespan) == ("N", False, None)
    assert updated.extra == {"a": 1, "c": 3}
    assert updated.internal_id == creds.internal_id
    same = env.admin.update_client_fields("acme", "app", new_client_id="app")
    assert same.name == "N"
    with pytest.raises(AdminError, match="cannot change a client's clientId"):
        env.admin.update_client_fields("acme", "app", new_client_id="renamed")
    with pytest.raises(AdminError, match="unknown client scopes"):
        env.admin.update_client_fields("acme", "app", default_scopes=("nope",))


# admin roles -------------------------------------------------------------------------------
def test_admin_roles_are_carried_where_keycloak_puts_them(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client("acme", "ops", admin_roles=("view-clients",))
    assert env.claims(creds)["resource_access"] == {"realm-management": {"roles": ["view-clients"]}}
    env.admin.set_admin_roles("acme", "ops", ["realm-admin", "manage-clients"])
    env.sync()
    assert env.claims(creds)["resource_access"]["realm-management"]["roles"] == [
        "realm-admin",
        "manage-clients",
    ]
    env.admin.set_admin_roles("acme", "ops", [])
    env.sync()
    assert "resource_access" not in env.claims(creds)
    with pytest.raises(AdminError, match="unknown realm-management roles: admin"):
        env.admin.set_admin_roles("acme", "ops", ["admin"])
    with pytest.raises(AdminError, match="reserved claims"):
        env.admin.configure_client(
            "acme", "ops", claims={"resource_access": {"realm-management": {"roles": ["x"]}}}
        )
    assert "realm-admin" in ADMIN_ROLE_NAMES


def test_the_rfc9068_profile_carries_admin_roles_too(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client("acme", "ops", admin_roles=("view-realm",))
    env.admin.configure_client("acme", "ops", token_profile="rfc9068")
    env.sync()
    assert env.claims(creds)["resource_access"] == {"realm-management": {"roles": ["view-realm"]}}


# realm roles and role mappings -------------------------------------------------------------
def test_realm_roles_list_page_search_get_delete(env: Env) -> None:
    env.admin.create_realm("acme")
    for name in ("writer", "reader", "admin", "auditor"):
        env.admin.create_role("acme", name, description=f"the {name}")
    names = [r.name for r in env.admin.list_roles("acme")]
    assert names == ["admin", "auditor", "reader", "writer"]
    assert [r.name for r in env.admin.list_roles("acme", first=1, max=2)] == ["auditor", "reader"]
    assert [r.name for r in env.admin.list_roles("acme", first=4, max=100)] == []
    assert [r.name for r in env.admin.list_roles("acme", search="ADM")] == ["admin"]
    role = env.admin.get_role("acme", "reader")
    assert (role.description, len(role.id)) == ("the reader", 36)
    with pytest.raises(Conflict, match=r"^Role with name reader already exists$"):
        env.admin.create_role("acme", "reader")
    with pytest.raises(NotFound, match=r"^Could not find role$"):
        env.admin.get_role("acme", "nobody")
    env.admin.delete_role("acme", "reader")
    with pytest.raises(NotFound, match=r"^Could not find role$"):
        env.admin.delete_role("acme", "reader")
    with pytest.raises(AdminError, match="invalid role name"):
        env.admin.create_role("acme", "bad name")


def test_role_mappings_of_a_service_account_reach_its_tokens(env: Env) -> None:
    env.admin.create_realm("acme")
    creds = env.admin.create_client("acme", "app")
    reader = env.admin.create_role("acme", "reader")
    writer = env.admin.create_role("acme", "writer")
    env.admin.add_role_mappings("acme", creds.sub, [(reader.id, "reader"), (None, "writer")])
    assert [r.name for r in env.admin.role_mappings("acme", creds.sub)] == ["reader", "writer"]
    env.sync()
    assert env.claims(creds)["realm_access"] == {"roles": ["reader", "writer"]}
    with pytest.raises(NotFound, match=r"^Role not found$"):
        env.admin.add_role_mappings("acme", creds.sub, [(writer.id, "reader")])  # id mismatch
    with pytest.raises(NotFound, match=r"^Role not found$"):
        env.admin.add_role_mappings("acme", creds.sub, [(None, "nobody")])
    with pytest.raises(NotFound, match=r"^User not found$"):
        env.admin.add_role_mappings("acme", "nobody", [(None, "reader")])
    env.admin.remove_role_mappings("acme", creds.sub, [(reader.id, "reader")])
    env.sync()
    assert env.claims(creds)["realm_access"] == {"roles": ["writer"]}
    env.admin.delete_role("acme", "writer")  # a deleted role leaves every client at once
    env.sync()
    assert env.claims(creds)["realm_access"] == {"roles": []}


# audit -------------------------------------------------------------------------------------
def test_every_change_is_audited_with_its_actor_and_source(env: Env) -> None:
    api = Admin(
        env.runtime.store,
        env.runtime.vault,
        env.runtime.settings,
        clock=env.clock,
        actor="admin:master/realmgate-admin",
        source="192.0.2.7",
    )
    api.create_realm("acme")
    creds = api.create_client("acme", "app", secret="s3cret-value", reveal=True)
    api.reveal_secret("acme", "app")
    api.create_role("acme", "reader")
    api.add_role_mappings("acme", creds.sub, [(None, "reader")])
    api.update_realm("acme", display_name="ACME")
    events = env.runtime.store.list_audit("acme")
    assert {e.actor for e in events} == {"admin:master/realmgate-admin"}
    assert all(e.details["source"] == "192.0.2.7" for e in events)
    assert {e.action for e in events} >= {
        "tenant.created",
        "client.created",
        "client.secret_revealed",
        "role.created",
        "client.roles_added",
        "tenant.updated",
    }
    assert "s3cret-value" not in json.dumps([e.details for e in events])
    cli = env.admin  # no source: none recorded
    cli.create_role("acme", "writer")
    assert "source" not in env.runtime.store.list_audit("acme")[0].details
