"""DPoP across two nodes on one PostgreSQL database (one issuer base URL): a proof used at one
node is refused at the other, at the token endpoint and at the tenant API, and a nonce handed
out by one node is accepted by the other (every node derives the same nonces).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conformance.dpop_helpers import SETTINGS_PATH, new_key, proof
from tests.integration.helpers import assert_oauth_error, token_form, unique_shortcode
from tests.servers import Credentials, Server, two_nodes


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    data_dir = tmp_path_factory.mktemp("dpop-nodes")
    with two_nodes(data_dir, "postgres", {"REALMGATE_DPOP_NONCE": "true"}) as pair:
        yield pair


@pytest.fixture(scope="module")
def tenant(nodes: tuple[Server, Server]) -> Credentials:
    return nodes[0].create_tenant(unique_shortcode("dn"))


def token_url(a: Server, tenant: str) -> str:
    """The token endpoint under the shared issuer base (node A's URL): what htu names."""
    return a.token_url(tenant)


def post_token(node: Server, creds: Credentials, dpop: str) -> httpx.Response:
    return httpx.post(node.token_url(creds.tenant), data=token_form(creds), headers={"DPoP": dpop})


def nonce_of(node: Server, creds: Credentials, url: str) -> str:
    r = post_token(node, creds, proof(new_key(), "POST", url))
    assert_oauth_error(r, 400, "use_dpop_nonce")
    return r.headers["dpop-nonce"]


def test_nonce_of_one_node_is_accepted_by_the_other(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    url = token_url(a, tenant.tenant)
    nonce = nonce_of(a, tenant, url)
    r = post_token(b, tenant, proof(new_key(), "POST", url, nonce=nonce))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"


def test_token_endpoint_proof_used_at_a_is_refused_at_b(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    url = token_url(a, tenant.tenant)
    p = proof(new_key(), "POST", url, nonce=nonce_of(a, tenant, url))
    assert post_token(a, tenant, p).status_code == 200
    body = assert_oauth_error(post_token(b, tenant, p), 400, "invalid_dpop_proof")
    assert body["error_description"] == "DPoP proof has already been used"


def test_api_proof_used_at_a_is_refused_at_b(
    nodes: tuple[Server, Server], tenant: Credentials
) -> None:
    a, b = nodes
    key = new_key()
    url = token_url(a, tenant.tenant)
    r = post_token(a, tenant, proof(key, "POST", url, nonce=nonce_of(a, tenant, url)))
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    nonce = r.headers["dpop-nonce"]
    api = f"{a.base_url}{SETTINGS_PATH}"  # the shared api base URL
    p = proof(key, "GET", api, access_token=token, nonce=nonce)
    headers = {"Authorization": f"DPoP {token}", "DPoP": p}
    r = httpx.get(f"{a.base_url}{SETTINGS_PATH}", headers=headers)
    assert r.status_code == 200, r.text
    r = httpx.get(f"{b.base_url}{SETTINGS_PATH}", headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in r.headers["www-authenticate"]
    # and a fresh proof with the same nonce works at B
    p = proof(key, "GET", api, access_token=token, nonce=nonce)
    r = httpx.get(f"{b.base_url}{SETTINGS_PATH}", headers={**headers, "DPoP": p})
    assert r.status_code == 200, r.text
