"""Remembered token requests: a repeat skips the checks only while what they checked holds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import anyio
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from realmgate.jose import decode_verified
from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.grants import ClientCredentialsGrant, RawTokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import Throttle, ThrottlePolicy
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import InvalidClient, InvalidRequest, TooManyRequests
from tests.unit.support import CountingHasher

NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.fixture
def admin(runtime: Runtime) -> Admin:
    return Admin(runtime.store, runtime.vault, runtime.settings, clock=lambda: NOW)


@pytest.fixture
def creds(admin: Admin) -> IssuedCredentials:
    return admin.create_tenant("acme")


def raw(client_id: str, secret: str, extra: str = "", source: str = "10.0.0.1") -> RawTokenRequest:
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}{extra}"
    return RawTokenRequest("acme", body.encode(), None, source)


def make(
    runtime: Runtime,
    *,
    clock: Clock | None = None,
    throttle: Throttle | None = None,
    **settings: object,
) -> tuple[ClientCredentialsGrant, Directory, CountingHasher]:
    hasher = CountingHasher(runtime.vault.hasher._pepper)  # counts, and matches stored hashes
    vault = replace(runtime.vault, hasher=hasher)
    directory = Directory(runtime.store, vault, runtime.settings.model_copy(update=settings))
    directory.start_at_head()
    authenticator = ClientAuthenticator(directory, throttle=throttle)
    grant = ClientCredentialsGrant(directory, clock or Clock(), authenticator)
    return grant, directory, hasher


def test_a_repeated_request_skips_the_secret_check_and_still_gets_a_new_valid_token(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    grant, directory, hasher = make(runtime)
    request = raw(creds.client_id, creds.client_secret)

    async def run() -> list[dict[str, object]]:
        return [json.loads(await grant.handle_body(request)) for _ in range(3)]

    responses = anyio.run(run)
    assert hasher.compared == 2  # the first request only (current and previous secret)
    assert grant.memo.hits == 2
    realm = anyio.run(directory.realm, "acme")
    assert realm is not None
    key = realm.verify_keys[realm.signing_key.kid]
    jtis = set()
    for response in responses:
        assert response["token_type"] == "Bearer"
        _, claims = decode_verified(str(response["access_token"]), key.key, [key.alg])
        assert claims["azp"] == creds.client_id and claims["exp"] == NOW + response["expires_in"]
        jtis.add(claims["jti"])
    assert len(jtis) == 3


def test_wrong_secrets_are_never_remembered(runtime: Runtime, creds: IssuedCredentials) -> None:
    grant, _, hasher = make(runtime)

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(InvalidClient):
                await grant.handle_body(raw(creds.client_id, "x" * 43))

    anyio.run(run)
    # each failure: current and previous secret, checked twice (again after a store read)
    assert len(grant.memo) == 0 and hasher.compared == 12


def test_a_changed_client_is_checked_again(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    grant, directory, _ = make(runtime)
    request = raw(creds.client_id, creds.client_secret)

    async def run() -> None:
        await grant.handle_body(request)
        await grant.handle_body(request)
        assert grant.memo.hits == 1
        admin.set_client_enabled("acme", creds.client_id, False)
        assert await directory.poll_changes() == 1
        with pytest.raises(InvalidClient):
            await grant.handle_body(request)
        admin.set_client_enabled("acme", creds.client_id, True)
        await directory.poll_changes()
        rotated = admin.rotate_secret("acme", creds.client_id, grace=0)
        await directory.poll_changes()
        with pytest.raises(InvalidClient):  # the remembered request held the old secret
            await grant.handle_body(request)
        await grant.handle_body(raw(creds.client_id, rotated.client_secret))

    anyio.run(run)


def test_a_request_made_with_the_previous_secret_ends_with_its_grace_period(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    clock = Clock()
    grant, directory, _ = make(runtime, clock=clock)
    admin.rotate_secret("acme", creds.client_id, grace=60)
    old = raw(creds.client_id, creds.client_secret)

    async def run() -> None:
        await directory.poll_changes()
        await grant.handle_body(old)
        clock.now = NOW + 59
        await grant.handle_body(old)
        assert grant.memo.hits == 1
        clock.now = NOW + 60
        with pytest.raises(InvalidClient):
            await grant.handle_body(old)

    anyio.run(run)


def test_throttle_and_rate_limit_apply_to_remembered_requests(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    throttle = Throttle(runtime.store, ThrottlePolicy(source_free=0, client_free=1000))
    grant, _, _ = make(runtime, throttle=throttle, token_rate_limit=1, token_rate_burst=2)

    async def run() -> None:
        await grant.handle_body(raw(creds.client_id, creds.client_secret))
        assert grant.memo.hits == 0
        with pytest.raises(InvalidClient):  # one failure blocks this source
            await grant.handle_body(raw(creds.client_id, "x" * 43, source="10.0.0.9"))
        with pytest.raises(TooManyRequests):  # remembered, and refused by the throttle
            await grant.handle_body(raw(creds.client_id, creds.client_secret, source="10.0.0.9"))
        assert grant.memo.hits == 1
        await grant.handle_body(raw(creds.client_id, creds.client_secret))  # burst: 2
        assert grant.memo.hits == 2
        with pytest.raises(TooManyRequests):  # remembered, and refused by the rate limit
            await grant.handle_body(raw(creds.client_id, creds.client_secret))
        assert grant.memo.hits == 3

    anyio.run(run)


def test_assertions_are_never_remembered(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    """An accepted ``client_secret_jwt`` request is not remembered: the same body again is a
    replayed assertion, refused (a remembered one would skip that check and pass)."""
    grant, directory, _ = make(runtime)
    signer = admin.create_client("acme", "signer", auth_method="client_secret_jwt")

    async def run() -> None:
        realm = await directory.realm("acme")
        assert realm is not None
        claims = {
            "iss": "signer",
            "sub": "signer",
            "aud": realm.issuer,
            "iat": NOW,
            "exp": NOW + 60,
            "jti": "only-once",
        }
        assertion = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(signer.client_secret))
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
        }
        request = RawTokenRequest("acme", urlencode(form).encode(), None, "10.0.0.1")
        response = json.loads(await grant.handle_body(request))
        assert response["token_type"] == "Bearer"
        with pytest.raises(InvalidClient):
            await grant.handle_body(request)

    anyio.run(run)
    assert len(grant.memo) == 0 and grant.memo.hits == 0


def test_a_request_with_an_assertion_parameter_is_refused_and_not_remembered(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    grant, _, _ = make(runtime)
    extra = (
        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
    )

    async def run() -> None:
        with pytest.raises((InvalidRequest, InvalidClient)):
            await grant.handle_body(raw(creds.client_id, creds.client_secret, extra))

    anyio.run(run)
    assert len(grant.memo) == 0


def test_size_zero_turns_the_memo_off_and_nothing_shows_the_secret(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    grant, _, _ = make(runtime, token_request_cache_size=0)
    request = raw(creds.client_id, creds.client_secret)

    async def run() -> None:
        for _ in range(2):
            await grant.handle_body(request)

    anyio.run(run)
    assert len(grant.memo) == 0 and grant.memo.hits == 0
    for text in (repr(request), repr(grant.memo), repr(grant.memo._entries)):
        assert creds.client_secret not in text
