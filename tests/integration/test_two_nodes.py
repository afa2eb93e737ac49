"""Two real server processes on one database (the same PostgreSQL database, or the same SQLite
data directory), with one issuer base URL: tokens, revocations, client changes, settings and
client assertions are shared between the nodes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

import httpx
import pytest

from tests.conformance.oauth_helpers import (
    ClientKey,
    assert_api_invalid_token,
    assert_inactive,
    assertion_claims,
    introspect,
    issuer,
    post_assertion,
    revoke,
    sign_rs256,
    token_claims,
)
from tests.integration.helpers import (
    access_token,
    assert_oauth_error,
    cli_json,
    get_settings,
    jwt_parts,
    patch_settings,
    poll,
    request_token,
    unique_shortcode,
)
from tests.servers import Credentials, Server, two_nodes

T = TypeVar("T")
# How long a wait for a change to reach the other node may take before the test gives up: a
# deadline, never a measurement. The change feed carries a change within about a second
# (cache_poll_interval); the only other way a node learns of one is the 5-minute expiry of its
# cached entries, far beyond this deadline, so a pass still shows the change feed at work, and
# a busy machine cannot fail it.
PROPAGATION = 60.0


def wait(fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Poll until ``done``; the caller asserts on what it returns."""
    return poll(fetch, done, timeout=PROPAGATION)


@pytest.fixture(scope="module")
def nodes(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    data_dir = tmp_path_factory.mktemp(f"two-nodes-{backend}")
    with two_nodes(data_dir, backend) as pair:
        yield pair


@pytest.fixture(scope="module")
def tenant(nodes: tuple[Server, Server]) -> Credentials:
    return nodes[0].create_tenant(unique_shortcode("n"))


def test_both_nodes_publish_the_same_realm(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    assert a.port != b.port
    docs = []
    for node in (a, b):
        r = httpx.get(
            f"{node.base_url}/.well-known/oauth-authorization-server/realms/{tenant.tenant}"
        )
        assert r.status_code == 200
        docs.append(r.json())
    assert docs[0]["issuer"] == docs[1]["issuer"] == issuer(a, tenant.tenant)
    jwks = [
        httpx.get(f"{node.base_url}/realms/{tenant.tenant}/protocol/openid-connect/certs").json()
        for node in (a, b)
    ]
    assert jwks[0] == jwks[1]


def test_a_token_of_one_node_works_on_the_other(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    token_a = access_token(a, tenant)
    token_b = access_token(b, tenant)
    assert token_claims(token_a)["iss"] == token_claims(token_b)["iss"] == issuer(a, tenant.tenant)
    for node in (a, b):
        for token in (token_a, token_b):
            r = get_settings(node, token)
            assert r.status_code == 200, r.text
            assert r.json()["data"]["shortcode"] == tenant.tenant
            body = introspect(node, tenant, token).json()
            assert body["active"] is True
            assert body["jti"] == token_claims(token)["jti"]


def test_a_token_revoked_on_one_node_is_refused_by_the_other(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    for first, second in ((a, b), (b, a)):
        token = access_token(first, tenant)
        assert get_settings(second, token).status_code == 200
        r = revoke(first, tenant, token)
        assert r.status_code == 200
        assert r.content == b""
        assert_inactive(
            wait(lambda: introspect(second, tenant, token), lambda r: r.json() == {"active": False})
        )
        assert_api_invalid_token(
            wait(lambda: get_settings(second, token), lambda r: r.status_code == 401)
        )
        assert_inactive(introspect(first, tenant, token))


def test_a_disabled_client_gets_no_tokens_on_either_node(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    client = a.create_client(tenant.tenant, f"off-{uuid.uuid4().hex[:8]}")
    tokens = [access_token(node, client) for node in (a, b)]  # cached on both
    a.cli("client", "disable", tenant.tenant, client.client_id)
    for node in (a, b):
        r = wait(lambda: request_token(node, client), lambda r: r.status_code == 401)
        assert_oauth_error(r, 401, "invalid_client")
        for token in tokens:
            assert_inactive(
                wait(
                    lambda: introspect(node, tenant, token), lambda r: r.json() == {"active": False}
                )
            )
            assert_api_invalid_token(
                wait(lambda: get_settings(node, token), lambda r: r.status_code == 401)
            )
    b.cli("client", "enable", tenant.tenant, client.client_id)
    for node in (a, b):
        r = wait(lambda: request_token(node, client), lambda r: r.status_code == 200)
        assert r.status_code == 200, r.text


def test_a_rotated_secret_reaches_both_nodes(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    old = a.create_client(tenant.tenant, f"rot-{uuid.uuid4().hex[:8]}")
    for node in (a, b):
        access_token(node, old)  # the client is cached on both nodes
    rotated = json.loads(
        b.cli(
            "client", "rotate-secret", tenant.tenant, old.client_id, "--grace", "0", "--json"
        ).stdout
    )
    new = Credentials(tenant.tenant, old.client_id, rotated["clientSecret"])
    for node in (a, b):
        r = wait(lambda: request_token(node, old), lambda r: r.status_code == 401)
        assert_oauth_error(r, 401, "invalid_client")
        assert request_token(node, new).status_code == 200


def test_settings_patched_on_one_node_are_read_on_the_other(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    name = f"Renamed {uuid.uuid4().hex[:6]}"
    r = patch_settings(a, access_token(a, tenant), {"name": name})
    assert r.status_code == 200, r.text
    token_b = access_token(b, tenant)
    r = wait(lambda: get_settings(b, token_b), lambda r: r.json()["data"]["name"] == name)
    assert r.json()["data"]["name"] == name


def test_a_key_rotation_reaches_both_nodes(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    creds = a.create_tenant(unique_shortcode("nk"))
    old = access_token(b, creds)
    old_kid = jwt_parts(old)[0]["kid"]
    new_kid = cli_json(a, "keys", "rotate", creds.tenant)["kid"]
    assert new_kid != old_kid
    # within the propagation bound both nodes sign with the new key ...
    tokens = [
        wait(lambda: access_token(node, creds), lambda t: jwt_parts(t)[0]["kid"] == new_kid)
        for node in (a, b)
    ]
    # ... and then both verify tokens of either node, and the old key's tokens too
    for token in (*tokens, old):
        for node in (a, b):
            assert get_settings(node, token).status_code == 200
            assert introspect(node, creds, token).json()["active"] is True
    for node in (a, b):
        certs = httpx.get(f"{node.base_url}/realms/{creds.tenant}/protocol/openid-connect/certs")
        assert {k["kid"] for k in certs.json()["keys"]} == {old_kid, new_kid}


def test_a_client_assertion_is_accepted_once_across_nodes(
    nodes: tuple[Server, Server], tenant: Credentials, tmp_path_factory: pytest.TempPathFactory
) -> None:
    a, b = nodes
    key = ClientKey()
    jwks = key.write_jwks(tmp_path_factory.mktemp("node-jwks"))
    client_id = f"pkj-{uuid.uuid4().hex[:8]}"
    a.cli(
        "client", "create", tenant.tenant, client_id,
        "--auth-method", "private_key_jwt", "--jwks-file", str(jwks),
    )  # fmt: skip
    aud = issuer(a, tenant.tenant)
    for first, second in ((a, b), (b, a)):
        assertion = sign_rs256(key, assertion_claims(client_id, aud))
        r = post_assertion(first, tenant.tenant, assertion)
        assert r.status_code == 200, r.text
        replay = post_assertion(second, tenant.tenant, assertion)
        assert_oauth_error(replay, 401, "invalid_client")
        assert_oauth_error(post_assertion(first, tenant.tenant, assertion), 401, "invalid_client")
