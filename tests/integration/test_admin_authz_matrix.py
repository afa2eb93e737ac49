"""Every admin route by every kind of caller -> the status Keycloak gives (KEYCLOAK-ADMIN.md §1).

Callers, all service-account clients with tokens from the ordinary token endpoint:
``none`` (no token) and ``expired`` (the master admin's genuine token with its time claims
moved an hour back, signed again with the master realm's own key read from the database as the
operator could): 401 everywhere. ``master-admin`` (master realm role ``admin``): everything.
``realm-admin``, ``view-clients``, ``manage-clients``: clients of the target realm holding that
role of its ``realm-management`` client; ``ordinary``: a client of the target realm with no
admin role; ``other-realm-admin``: ``realm-admin`` of another realm. What a caller may not do is
403 ``{"error": "HTTP 403 Forbidden"}``; what it may do gets the route's success status.

The table (:mod:`tests.integration.admin_matrix_rows`) names, per route, the callers Keycloak
lets through: its fgap checks (view-realm, manage-realm, list/view/manage clients, list roles,
view/manage users) and, for reading a realm and listing realms, ``isAdmin`` (any admin role).
A destructive request acts on something made for that one attempt (a client, a role, a realm
with its own ``realm-admin``), so the table's order does not matter.

Last, a token that really expires (a 60 s ``realm-admin`` token, taken when the module starts)
is polled until the server refuses it: 200 while valid, then 401, never 403.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from realmgate.verifier import DEFAULT_LEEWAY
from tests.admin_support import claims_of, token_of
from tests.integration.admin_matrix_rows import (
    IDENTITIES,
    ROWS,
    Kit,
    Row,
    build_kit,
    matrix_server,
)
from tests.servers import Server

FORBIDDEN = {"error": "HTTP 403 Forbidden"}
UNAUTHORIZED = {"error": "HTTP 401 Unauthorized"}


@pytest.fixture(scope="module")
def srv(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with matrix_server(backend, tmp_path_factory.mktemp(f"authz-{backend}")) as server:
        yield server


@pytest.fixture(scope="module")
def kit(srv: Server) -> Kit:
    return build_kit(srv)


def expected(row: Row, identity: str) -> int:
    if identity in ("none", "expired"):
        return 401
    return row.ok if identity in row.allowed else 403


def test_every_identity_is_what_it_claims(kit: Kit) -> None:
    """The callers hold exactly the roles their names say (else the matrix proves nothing)."""
    for identity, roles in (
        ("realm-admin", ["realm-admin"]),
        ("view-clients", ["view-clients"]),
        ("manage-clients", ["manage-clients"]),
        ("other-realm-admin", ["realm-admin"]),
        ("ordinary", []),
    ):
        claims = claims_of(kit.token(identity) or "")
        held = claims.get("resource_access", {}).get("realm-management", {}).get("roles", [])
        assert sorted(held) == roles, (identity, claims)
        assert "admin" not in claims.get("realm_access", {}).get("roles", [])
    master = claims_of(kit.token("master-admin") or "")
    assert "admin" in master["realm_access"]["roles"]
    expired = claims_of(kit.expired)
    assert expired["exp"] + DEFAULT_LEEWAY < time.time()
    assert {k: v for k, v in expired.items() if k not in ("exp", "iat", "jti", "nbf")} == {
        k: v for k, v in master.items() if k not in ("exp", "iat", "jti", "nbf")
    }


@pytest.mark.parametrize("identity", IDENTITIES)
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_status(kit: Kit, row: Row, identity: str) -> None:
    attempt = row.prepare(kit, identity, expected(row, identity) != 403)
    headers = {} if attempt.token is None else {"Authorization": f"Bearer {attempt.token}"}
    r = httpx.request(
        row.method,
        f"{kit.server.base_url}{attempt.path}",
        json=attempt.body,
        headers=headers,
        timeout=30,
    )
    want = expected(row, identity)
    assert r.status_code == want, (
        f"{row.method} {attempt.path} as {identity}: expected {want}, got {r.status_code} {r.text}"
    )
    if want == 401:
        assert r.json() == UNAUTHORIZED
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    elif want == 403:
        assert r.json() == FORBIDDEN
    elif row.check is not None:
        row.check(kit, r)


def test_a_forbidden_read_does_not_spend_a_revealable_secret(kit: Kit) -> None:
    internal_id = kit.master.create_client(kit.realm, f"reveal-{time.monotonic_ns()}")
    path = f"/admin/realms/{kit.realm}/clients/{internal_id}/client-secret"
    for identity in ("none", "expired", "other-realm-admin", "ordinary"):
        token = kit.token(identity)
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{kit.server.base_url}{path}", headers=headers).status_code in (401, 403)
    secret = kit.master.ok("GET", path)
    assert secret["type"] == "secret" and secret["value"]


def test_a_token_that_really_expires_gets_401(kit: Kit) -> None:
    """The 60 s token taken at the start of the module: accepted until it expires (with the
    verifier's leeway), then 401 (python-keycloak re-authenticates on 401 only), never 403."""
    token, exp = kit.short_lived
    path = f"{kit.server.base_url}/admin/realms/{kit.realm}/clients"
    deadline = exp + DEFAULT_LEEWAY + 120
    seen: list[int] = []
    while True:
        r = httpx.get(path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        seen.append(r.status_code)
        if r.status_code != 200 or time.time() > deadline:
            break
        time.sleep(0.5)
    assert set(seen) <= {200, 401}, seen
    assert seen[-1] == 401, (
        f"still {seen[-1]} {exp + DEFAULT_LEEWAY - time.time():.0f} s past expiry"
    )
    assert r.json() == UNAUTHORIZED
    # a fresh token of the same client works again
    fresh = token_of(kit.server, kit.short_lived_creds)
    r = httpx.get(path, headers={"Authorization": f"Bearer {fresh}"}, timeout=30)
    assert r.status_code == 200, r.text
