"""Secret and key rotation at the core level, with an injected clock (no sleeps).

The runtime is real (SQLite in a temporary directory); only time is fake. The fake clock starts
far from the wall clock, so any check that reads the wall clock instead of the injected one
shows up as a failure.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.assertions import ASSERTION_TYPE
from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.introspection import TokenIntrospection, realm_resolver
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.verifier import DEFAULT_LEEWAY, InvalidTokenError, TokenPolicy, verify_token
from realmgate.wire.errors import InvalidClient
from realmgate.wire.forms import parse_form

T0 = 2_000_000_000  # 2033-05-18: far from the wall clock
LIFESPAN = 7200
MAX_LIFESPAN = 57600


class FakeClock:
    def __init__(self, start: float = T0):
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, at: float) -> None:
        self.now = float(at)


@dataclass
class Env:
    runtime: Runtime
    clock: FakeClock
    admin: Admin
    directory: Directory
    grant: ClientCredentialsGrant
    introspection: TokenIntrospection

    # requests ------------------------------------------------------------------------
    def _request(self, tenant: str, **form: str) -> TokenRequest:
        return TokenRequest(tenant, parse_form(urlencode(form).encode()), None)

    def token_response(self, creds: IssuedCredentials) -> dict[str, Any]:
        req = self._request(
            creds.tenant,
            grant_type="client_credentials",
            client_id=creds.client_id,
            client_secret=creds.client_secret,
        )
        return anyio.run(self.grant.handle, req)

    def token(self, creds: IssuedCredentials) -> str:
        return str(self.token_response(creds)["access_token"])

    def token_with_secret(self, creds: IssuedCredentials, secret: str) -> str:
        return self.token(IssuedCredentials(creds.tenant, creds.client_id, secret))

    def refused(self, creds: IssuedCredentials, secret: str) -> bool:
        try:
            self.token_with_secret(creds, secret)
        except InvalidClient:
            return True
        return False

    def token_with_assertion(self, tenant: str, assertion: str) -> str:
        req = self._request(
            tenant,
            grant_type="client_credentials",
            client_assertion_type=ASSERTION_TYPE,
            client_assertion=assertion,
        )
        return str(anyio.run(self.grant.handle, req)["access_token"])

    def introspect(self, caller: IssuedCredentials, token: str) -> dict[str, Any]:
        req = self._request(
            caller.tenant,
            client_id=caller.client_id,
            client_secret=caller.client_secret,
            token=token,
        )
        return anyio.run(self.introspection.introspect, req)

    # cache -------------------------------------------------------------------------
    def sync(self) -> int:
        """Read the change feed once, as every node does every second."""
        return anyio.run(self.directory.poll_changes)

    def realm(self, tenant: str) -> Realm:
        realm = anyio.run(self.directory.realm, tenant)
        assert realm is not None
        return realm


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    runtime = open_runtime(Settings(data_dir=tmp_path))
    clock = FakeClock()
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    directory.wall_clock = clock
    directory.start_at_head()
    authenticator = ClientAuthenticator(directory)
    yield Env(
        runtime=runtime,
        clock=clock,
        admin=Admin(runtime.store, runtime.vault, runtime.settings, clock=clock),
        directory=directory,
        grant=ClientCredentialsGrant(directory, clock=clock, authenticator=authenticator),
        introspection=TokenIntrospection(directory, authenticator, clock=clock),
    )
    runtime.close()


def header(token: str) -> dict[str, Any]:
    seg = token.split(".", maxsplit=1)[0]
    return dict(json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))))


def jwks_kids(realm: Realm) -> set[str]:
    return {k["kid"] for k in json.loads(realm.jwks_json)["keys"]}


# (a) client secret rotation ----------------------------------------------------------------
def test_both_secrets_work_during_the_grace_period_and_the_old_one_ends_with_it(
    env: Env,
) -> None:
    old = env.admin.create_tenant("acme")
    env.token(old)
    new = env.admin.rotate_secret("acme", old.client_id, grace=3600)
    assert new.client_secret != old.client_secret
    env.sync()
    assert env.admin.get_client("acme", old.client_id).previous_secret_expires_at == T0 + 3600

    env.clock.advance(3599)
    assert not env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)

    env.clock.advance(1)  # the grace period ends at T0 + 3600
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)
    env.clock.advance(10 * 24 * 3600)
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)


def test_default_grace_is_a_day(env: Env) -> None:
    old = env.admin.create_tenant("acme")
    new = env.admin.rotate_secret("acme", old.client_id)
    env.sync()
    env.clock.advance(86399)
    assert not env.refused(old, old.client_secret)
    env.clock.advance(1)
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)


def test_at_most_two_secrets_are_valid(env: Env) -> None:
    first = env.admin.create_tenant("acme")
    second = env.admin.rotate_secret("acme", first.client_id, grace=3600)
    env.sync()
    assert not env.refused(first, first.client_secret)
    env.clock.advance(60)
    third = env.admin.rotate_secret("acme", first.client_id, grace=3600)
    env.sync()
    # the first secret ends at once, well inside its own grace period
    assert env.refused(first, first.client_secret)
    assert not env.refused(first, second.client_secret)
    assert not env.refused(first, third.client_secret)
    # the second one now has the grace period of the second rotation
    env.clock.advance(3599)
    assert not env.refused(first, second.client_secret)
    env.clock.advance(1)
    assert env.refused(first, second.client_secret)
    assert not env.refused(first, third.client_secret)


def test_end_previous_secret_ends_it_at_once(env: Env) -> None:
    old = env.admin.create_tenant("acme")
    new = env.admin.rotate_secret("acme", old.client_id, grace=3600)
    env.sync()
    assert not env.refused(old, old.client_secret)
    env.clock.advance(5)
    env.admin.end_previous_secret("acme", old.client_id)
    env.sync()
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)
    assert env.admin.get_client("acme", old.client_id).previous_secret_expires_at is None


def test_rotation_without_grace_ends_the_old_secret_at_once(env: Env) -> None:
    old = env.admin.create_tenant("acme")
    new = env.admin.rotate_secret("acme", old.client_id, grace=0)
    env.sync()
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)


def test_the_change_feed_is_what_makes_a_rotation_visible(env: Env) -> None:
    old = env.admin.create_tenant("acme")
    env.sync()
    env.token(old)  # now cached
    new = env.admin.rotate_secret("acme", old.client_id, grace=0)
    assert env.sync() == 1
    assert env.refused(old, old.client_secret)
    assert not env.refused(old, new.client_secret)


def hs256_assertion(client_id: str, issuer: str, secret: str, now: float) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": issuer,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))


def test_client_secret_jwt_rotation_follows_the_clock(env: Env) -> None:
    """The previous secret of a client_secret_jwt client is an HMAC key during the grace
    period only, by the same clock as everything else."""
    env.admin.create_tenant("acme")
    old = env.admin.create_client("acme", "hs", auth_method="client_secret_jwt")
    issuer = env.runtime.settings.issuer("acme")

    def accepted(secret: str) -> bool:
        try:
            env.token_with_assertion("acme", hs256_assertion("hs", issuer, secret, env.clock()))
        except InvalidClient:
            return False
        return True

    assert accepted(old.client_secret)
    new = env.admin.rotate_secret("acme", "hs", grace=3600)
    env.sync()
    env.clock.advance(3599)
    assert accepted(old.client_secret)
    assert accepted(new.client_secret)
    env.clock.advance(1)
    assert not accepted(old.client_secret)
    assert accepted(new.client_secret)


# (b) signing key rotation --------------------------------------------------------------------
def test_a_retired_key_verifies_its_tokens_until_they_expire(env: Env) -> None:
    creds = env.admin.create_tenant("acme")
    (k1,) = [k.kid for k in env.admin.list_keys("acme")]
    token1 = env.token(creds)
    assert header(token1)["kid"] == k1

    env.clock.advance(100)
    k2 = env.admin.rotate_key("acme").kid
    env.sync()
    keys = {k.kid: k for k in env.admin.list_keys("acme")}
    assert keys[k1].status == "retired"
    assert keys[k1].verify_until == T0 + 100 + MAX_LIFESPAN
    assert keys[k2].status == "active"

    token2 = env.token(creds)
    assert header(token2)["kid"] == k2
    realm = env.realm("acme")
    assert jwks_kids(realm) == {k1, k2}
    assert env.introspect(creds, token1)["active"] is True
    assert env.introspect(creds, token2)["active"] is True

    # token1 lives until its own exp, T0 + 7200, and the clock-skew leeway the tenant API
    # allows too (introspection and the API agree: tests/security/test_token_time_window.py)
    env.clock.set(T0 + LIFESPAN + DEFAULT_LEEWAY - 1)
    assert env.introspect(creds, token1)["active"] is True
    env.clock.set(T0 + LIFESPAN + DEFAULT_LEEWAY)
    assert env.introspect(creds, token1) == {"active": False}


def test_a_retired_key_stops_verifying_after_its_verify_until(env: Env) -> None:
    creds = env.admin.create_tenant("acme")
    (k1,) = [k.kid for k in env.admin.list_keys("acme")]
    token1 = env.token(creds)
    env.clock.advance(100)
    env.admin.rotate_key("acme")
    env.sync()
    verify_until = T0 + 100 + MAX_LIFESPAN
    lenient = TokenPolicy(issuers=(env.runtime.settings.issuer("acme"),), leeway=10**9)

    # with the expiry check out of the way, only the key decides
    realm = env.realm("acme")
    assert realm.verify_key(k1, verify_until) is not None
    claims = verify_token(token1, realm_resolver(realm, verify_until), lenient, now=verify_until)
    assert claims.client_id == creds.client_id
    assert realm.verify_key(k1, verify_until + 1) is None
    with pytest.raises(InvalidTokenError, match="unknown key"):
        verify_token(token1, realm_resolver(realm, verify_until + 1), lenient, now=verify_until)

    # a realm loaded after verify_until neither trusts nor publishes the key
    env.clock.set(verify_until + 1)
    env.directory.evict_realm("acme")
    reloaded = env.realm("acme")
    assert k1 not in reloaded.verify_keys
    assert k1 not in jwks_kids(reloaded)
    with pytest.raises(InvalidTokenError, match="unknown key"):
        verify_token(token1, realm_resolver(reloaded, env.clock()), lenient, now=env.clock())
    # the new key keeps working
    assert env.introspect(creds, env.token(creds))["active"] is True


# (c) emergency rotation ----------------------------------------------------------------------
def test_emergency_rotation_voids_the_old_keys_tokens_at_once(env: Env) -> None:
    creds = env.admin.create_tenant("acme")
    (k1,) = [k.kid for k in env.admin.list_keys("acme")]
    token1 = env.token(creds)
    assert env.introspect(creds, token1)["active"] is True

    env.clock.advance(10)
    k2 = env.admin.rotate_key("acme", emergency=True).kid
    assert env.sync() >= 1
    keys = {k.kid: k for k in env.admin.list_keys("acme")}
    assert keys[k1].status == "revoked"
    assert env.admin.get_tenant("acme").not_before == T0 + 10

    assert env.introspect(creds, token1) == {"active": False}
    realm = env.realm("acme")
    assert realm.verify_key(k1, env.clock()) is None
    assert jwks_kids(realm) == {k2}
    lenient = TokenPolicy(issuers=(realm.issuer,), leeway=10**9)
    with pytest.raises(InvalidTokenError, match="unknown key"):
        verify_token(token1, realm_resolver(realm, env.clock()), lenient, now=env.clock())

    # tokens signed after the rotation (same second included) are in force
    token2 = env.token(creds)
    assert header(token2)["kid"] == k2
    assert env.introspect(creds, token2)["active"] is True
    env.clock.advance(60)
    assert env.introspect(creds, token1) == {"active": False}
    assert env.introspect(creds, token2)["active"] is True


def test_emergency_rotation_also_drops_retired_keys(env: Env) -> None:
    creds = env.admin.create_tenant("acme")
    token1 = env.token(creds)
    env.clock.advance(10)
    env.admin.rotate_key("acme")
    env.sync()
    token2 = env.token(creds)
    assert env.introspect(creds, token1)["active"] is True
    env.clock.advance(10)
    k3 = env.admin.rotate_key("acme", emergency=True).kid
    env.sync()
    assert env.introspect(creds, token1) == {"active": False}
    assert env.introspect(creds, token2) == {"active": False}
    assert jwks_kids(env.realm("acme")) == {k3}


# (d) scheduled rotation ----------------------------------------------------------------------
def test_rotate_due_keys_rotates_only_tenants_with_old_keys(env: Env) -> None:
    period = 60
    a = env.admin.create_tenant("alpha")
    (a1,) = [k.kid for k in env.admin.list_keys("alpha")]
    token_a = env.token(a)
    env.clock.advance(50)
    env.admin.create_tenant("bravo")
    (b1,) = [k.kid for k in env.admin.list_keys("bravo")]

    env.clock.set(T0 + 59)  # alpha's key is 59 s old: not due yet
    assert env.admin.rotate_due_keys(period) == []
    env.clock.set(T0 + 100)  # alpha's key is 100 s old, bravo's 50 s
    assert env.admin.rotate_due_keys(period) == ["alpha"]
    assert env.admin.rotate_due_keys(period) == []

    keys_a = {k.kid: k for k in env.admin.list_keys("alpha")}
    assert keys_a[a1].status == "retired"
    assert keys_a[a1].verify_until == T0 + 100 + MAX_LIFESPAN
    (a2,) = [kid for kid, k in keys_a.items() if k.status == "active"]
    assert keys_a[a2].created_at == T0 + 100
    assert [k.kid for k in env.admin.list_keys("bravo")] == [b1]

    # the rotation reaches the cache through the feed; old tokens keep verifying
    env.sync()
    assert header(env.token(a))["kid"] == a2
    assert env.introspect(a, token_a)["active"] is True

    env.clock.set(T0 + 111)  # bravo's key is 61 s old, alpha's new key 11 s
    assert env.admin.rotate_due_keys(period) == ["bravo"]
    assert env.admin.rotate_due_keys(period) == []
    assert len(env.admin.list_keys("alpha")) == 2


def test_rotate_due_keys_with_nothing_due(env: Env) -> None:
    env.admin.create_tenant("alpha")
    env.clock.advance(10)
    assert env.admin.rotate_due_keys(60) == []
    env.clock.advance(10**6)
    assert env.admin.rotate_due_keys(60) == ["alpha"]
    assert env.admin.rotate_due_keys(60) == []
