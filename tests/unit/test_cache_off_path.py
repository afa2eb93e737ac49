"""With the remembered-request cache off, every token request is parsed, its secret checked
and the scope and audience policy answered; the policy's answer (a pure function of the realm
snapshot, the client snapshot and the request's ``scope`` and ``resource``) is worked out once
per such four, so a change to the realm or the client is answered anew on the next request,
and a refusal every time."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from realmgate.jose import decode_verified
from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.crypto import SecretHasher
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import InvalidScope
from tests.unit.test_grant_memo import NOW, make, raw


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
    creds = admin.create_tenant("acme")
    admin.configure_tenant("acme", scopes={"reports": "optional", "audit": "optional"})
    return creds


def test_every_request_checks_the_secret(runtime: Runtime, creds: IssuedCredentials) -> None:
    grant, _, hasher = make(runtime, token_request_cache_size=0)
    request = raw(creds.client_id, creds.client_secret)

    async def run() -> None:
        for _ in range(3):
            await grant.handle_body(request)

    anyio.run(run)
    assert hasher.compared == 6  # current and previous secret, each time
    assert grant.memo.hits == 0 and len(grant.memo) == 0


def test_the_policy_answers_each_scope_and_each_change(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    grant, directory, _ = make(runtime, token_request_cache_size=0)

    async def scope_of(extra: str = "") -> str:
        response = json.loads(
            await grant.handle_body(raw(creds.client_id, creds.client_secret, extra))
        )
        realm = await directory.realm("acme")
        assert realm is not None
        key = realm.verify_keys[realm.signing_key.kid]
        _, claims = decode_verified(response["access_token"], key.key, [key.alg])
        assert claims["scope"] == response["scope"]
        return str(response["scope"])

    async def run() -> None:
        plain = await scope_of()
        assert "reports" not in plain.split()
        assert "reports" in (await scope_of("&scope=reports")).split()
        assert "audit" in (await scope_of("&scope=audit")).split()
        for _ in range(2):  # refused every time, not remembered
            with pytest.raises(InvalidScope):
                await scope_of("&scope=unknown")
        admin.configure_tenant("acme", remove_scopes=("reports",))
        assert await directory.poll_changes() == 1
        with pytest.raises(InvalidScope):  # the new realm snapshot's policy
            await scope_of("&scope=reports")
        admin.update_client_fields("acme", creds.client_id, optional_scopes=())
        assert await directory.poll_changes() == 1
        with pytest.raises(InvalidScope):  # the new client snapshot's policy
            await scope_of("&scope=audit")
        assert await scope_of() == plain

    anyio.run(run)


def test_secret_hashes_are_hmac_sha256_under_the_pepper() -> None:
    """Stored hashes stay valid: the keyed object is copied per hash, never updated."""
    pepper = b"p" * 32
    hasher = SecretHasher(pepper)
    for secret in ("a", "s3cr3t", "ü" * 40, ""):
        expected = hmac.digest(pepper, secret.encode(), "sha256")
        assert hasher.hash(secret) == expected and hasher.hash(secret) == expected


def test_a_scope_removed_from_the_realm_leaves_the_clients_that_listed_it(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    grant, directory, _ = make(runtime, token_request_cache_size=0)
    admin.update_client_fields(
        "acme", creds.client_id, default_scopes=("audit",), optional_scopes=("reports",)
    )

    async def scope_of(extra: str = "") -> list[str]:
        body = await grant.handle_body(raw(creds.client_id, creds.client_secret, extra))
        return str(json.loads(body)["scope"]).split()

    async def run() -> None:
        await directory.poll_changes()
        assert await scope_of("&scope=reports") == ["reports", "audit"]
        admin.configure_tenant("acme", remove_scopes=("reports", "audit"))
        assert await directory.poll_changes() == 1
        assert await scope_of() == []
        with pytest.raises(InvalidScope):
            await scope_of("&scope=reports")

    anyio.run(run)


def test_long_repeated_parameters_are_not_kept_as_keys(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    """A client may repeat a scope it may ask for; such requests are answered alike, and what
    the grant cache keeps per request stays small."""
    grant, _, _ = make(runtime, token_request_cache_size=0)
    repeats = ["reports " * n for n in range(70, 80)]  # over MAX_KEYED_CHARS

    async def run() -> set[str]:
        scopes = set()
        for scope in repeats:
            body = await grant.handle_body(
                raw(creds.client_id, creds.client_secret, f"&scope={scope.strip()}")
            )
            scopes.add(json.loads(body)["scope"])
        return scopes

    scopes = anyio.run(run)
    assert len(scopes) == 1 and "reports" in scopes.pop().split()
    assert len(grant._grants) == 1
    assert all(len(str(key)) < 200 for key in grant._grants)
