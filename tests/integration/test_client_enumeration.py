"""Over HTTP, on two nodes of one database: a client id both nodes have refused as unknown
works at once once a client of that id is created, on both; and a known id with a wrong secret
gets the very answer an unknown id gets. On SQLite the nodes read the change feed once a
minute here, so what lets the new client in is the failed lookup's check against the database
(see ``core.client_auth``), not the feed (on PostgreSQL a notification still wakes the feed
reader at once; ``test_two_nodes`` covers the feed)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.helpers import unique_shortcode
from tests.servers import Server, two_nodes

FEED_SLOW = {"REALMGATE_CACHE_POLL_INTERVAL": "60"}  # the longest allowed
VARYING = {"date", "x-request-id", "content-length"}


@pytest.fixture(scope="module")
def nodes(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    data_dir = tmp_path_factory.mktemp(f"enumeration-{backend}")
    with two_nodes(data_dir, backend, FEED_SLOW) as pair:
        yield pair


def post(node: Server, tenant: str, client_id: str, secret: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return httpx.post(node.token_url(tenant), data=form, timeout=10)


def test_a_client_created_under_a_refused_id_works_at_once_on_both_nodes(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    tenant = a.create_tenant(unique_shortcode("e")).tenant
    for node in (a, b):
        for _ in range(2):  # refused, then refused from memory
            assert post(node, tenant, "late-comer", "x" * 43).status_code == 401
    creds = a.create_client(tenant, "late-comer")
    for node in (b, a):
        r = post(node, tenant, "late-comer", creds.client_secret)
        assert r.status_code == 200, (node.base_url, r.text)


def test_a_known_id_with_a_wrong_secret_is_answered_like_an_unknown_id(
    nodes: tuple[Server, Server],
) -> None:
    a, _ = nodes
    creds = a.create_tenant(unique_shortcode("e"))
    assert post(a, creds.tenant, creds.client_id, creds.client_secret).status_code == 200
    answers = [
        post(a, creds.tenant, creds.client_id, "x" * 43),  # the client is in memory
        post(a, creds.tenant, unique_shortcode("fresh"), "x" * 43),
    ]
    for r in answers:
        assert r.status_code == 401
    known, unknown = answers
    assert known.content == unknown.content
    assert {k: v for k, v in known.headers.items() if k not in VARYING} == {
        k: v for k, v in unknown.headers.items() if k not in VARYING
    }
