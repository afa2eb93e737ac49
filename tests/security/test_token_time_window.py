"""The two token consumers of a server agree on a token's time window: introspection (RFC 7662)
answers ``active`` exactly when the tenant API accepts the token, with the same leeway on
``exp``, ``nbf`` and ``iat`` (``DEFAULT_LEEWAY``), and a token the API still accepts can be
revoked (RFC 7009).

Time is controlled by the tokens, not by waiting: each is the realm's genuine token with its
time claims rewritten and signed again with the realm's own key (read from the database with
the install's master key, as the operator could). The margins are the leeway's own (a token
``DEFAULT_LEEWAY - 25`` seconds past ``exp`` stays inside the window for 25 more seconds).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from realmgate.verifier import DEFAULT_LEEWAY
from tests.security.helpers import (
    access_token,
    api_get,
    assert_api_refused,
    assert_inactive,
    introspect,
    parts,
    revoke,
    rsa_private,
    sign_rs256,
    signing_keys,
    unique,
)
from tests.servers import Credentials, Server


@dataclass(frozen=True)
class Realm:
    admin: Credentials
    header: dict[str, Any]
    claims: dict[str, Any]
    sign_with: Callable[[dict[str, Any], dict[str, Any]], str]

    def token(self, **times: int) -> str:
        """The genuine token with a new ``jti`` and the time claims ``times``."""
        return self.sign_with(self.header, {**self.claims, "jti": str(uuid.uuid4()), **times})


@pytest.fixture(scope="module")
def realm(server: Server) -> Realm:
    admin = server.create_tenant(unique("tw"))
    header, claims, _ = parts(access_token(server, admin))
    private = rsa_private(signing_keys(server, admin.tenant)[header["kid"]])
    return Realm(admin, header, claims, lambda h, c: sign_rs256(private, h, c))


def answers(server: Server, realm: Realm, token: str) -> tuple[bool, bool]:
    """(the tenant API accepts the token, introspection says it is active)."""
    api = api_get(server, token)
    assert api.status_code in (200, 401), api.text
    if api.status_code == 401:
        assert_api_refused(api)
    found = introspect(server, realm.admin, token)
    assert found.status_code == 200, found.text
    return api.status_code == 200, found.json()["active"] is True


def now() -> int:
    return int(time.time())


# (name, the token's time claims relative to now, whether both consumers take it)
WINDOW: list[tuple[str, Callable[[], dict[str, int]], bool]] = [
    ("1 s past exp", lambda: {"iat": now() - 600, "exp": now() - 1}, True),
    (
        "just past exp, inside the leeway",
        lambda: {"iat": now() - 600, "exp": now() - (DEFAULT_LEEWAY - 25)},
        True,
    ),
    (
        "past exp and the leeway",
        lambda: {"iat": now() - 600, "exp": now() - DEFAULT_LEEWAY - 60},
        False,
    ),
    ("nbf ahead, inside the leeway", lambda: {"nbf": now() + 5, "exp": now() + 300}, True),
    (
        "nbf beyond the leeway",
        lambda: {"nbf": now() + DEFAULT_LEEWAY + 60, "exp": now() + 900},
        False,
    ),
    ("iat ahead, inside the leeway", lambda: {"iat": now() + 5, "exp": now() + 300}, True),
    (
        "iat beyond the leeway",
        lambda: {"iat": now() + DEFAULT_LEEWAY + 60, "exp": now() + 900},
        False,
    ),
    ("in force", lambda: {"iat": now() - 5, "exp": now() + 300}, True),
]


@pytest.mark.parametrize(
    ("times", "taken"), [(t, k) for _, t, k in WINDOW], ids=[n for n, _, _ in WINDOW]
)
def test_introspection_and_the_tenant_api_give_the_same_answer(
    server: Server, realm: Realm, times: Callable[[], dict[str, int]], taken: bool
) -> None:
    api_accepts, active = answers(server, realm, realm.token(**times()))
    assert (api_accepts, active) == (taken, taken)


def test_a_token_past_exp_but_still_accepted_can_be_revoked(server: Server, realm: Realm) -> None:
    token = realm.token(iat=now() - 600, exp=now() - 1)
    other = realm.token(iat=now() - 600, exp=now() - 1)
    assert answers(server, realm, token) == (True, True)
    r = revoke(server, realm.admin, token)
    assert r.status_code == 200, r.text
    assert_api_refused(api_get(server, token), "The access token was revoked")
    assert_inactive(introspect(server, realm.admin, token))
    # control: the same window, not revoked, is still taken by both
    assert answers(server, realm, other) == (True, True)
