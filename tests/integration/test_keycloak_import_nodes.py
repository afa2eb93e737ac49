"""Issue 16 item 4: an import on a live cluster. Two nodes on one database; a realm imported
with the CLI, then overwritten with another secret, is served by both nodes (each had already
answered for the realm's name before it existed: no stale negative cache).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import poll, unique_shortcode
from tests.servers import Server, two_nodes

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keycloak"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())


@pytest.fixture(scope="module")
def nodes(
    backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    data_dir = tmp_path_factory.mktemp(f"kc-nodes-{backend}")
    with two_nodes(data_dir, backend) as pair:
        yield pair


def fresh_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: str(uuid.uuid4()) if k == "id" else fresh_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fresh_ids(v) for v in value]
    return value


def token_status(node: Server, realm: str, client_id: str, secret: str) -> int:
    r = httpx.post(
        node.token_url(realm),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=10,
    )
    return r.status_code


def test_an_import_reaches_every_node(nodes: tuple[Server, Server], tmp_path: Path) -> None:
    a, b = nodes
    realm = unique_shortcode("kcnode")
    rep = fresh_ids(json.loads((FIXTURES / EXPECTED["kc21"]["path"]).read_text()))
    rep["realm"] = realm
    client = EXPECTED["kc21"]["clients"][0]
    cid, secret = client["clientId"], client["secret"]
    for node in (a, b):  # both nodes have answered for the name before the realm exists
        assert token_status(node, realm, cid, secret) in (400, 401, 404)
    path = tmp_path / "realm.json"
    path.write_text(json.dumps(rep))
    a.cli("import", "keycloak", str(path))
    for node in (a, b):
        assert poll(lambda n=node: token_status(n, realm, cid, secret), lambda s: s == 200) == 200
    billing = next(c for c in rep["clients"] if c["clientId"] == cid)
    billing["secret"] = "rotated-" + uuid.uuid4().hex
    path.write_text(json.dumps(rep))
    a.cli("import", "keycloak", str(path), "--if-exists", "overwrite")
    for node in (a, b):
        new = poll(
            lambda n=node: token_status(n, realm, cid, billing["secret"]), lambda s: s == 200
        )
        assert new == 200
        old = poll(lambda n=node: token_status(n, realm, cid, secret), lambda s: s == 401)
        assert old == 401
