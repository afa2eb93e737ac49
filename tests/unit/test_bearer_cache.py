"""The tenant API's cache of verified bearer tokens: a hit skips only the signature check.

Everything that can change after a token was verified is rechecked on every hit: revocation,
the client being disabled, the signing key being withdrawn, and expiry.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from realmgate.server.api import auth
from realmgate.server.api.auth import BearerAuth
from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.verifier import InvalidTokenError
from realmgate.wire.forms import parse_form


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.fixture
def admin(runtime: Runtime) -> Admin:
    return Admin(runtime.store, runtime.vault, runtime.settings)


@pytest.fixture
def creds(admin: Admin) -> IssuedCredentials:
    return admin.create_tenant("acme")


@pytest.fixture
def directory(runtime: Runtime) -> Directory:
    return Directory(runtime.store, runtime.vault, runtime.settings)


def token_for(directory: Directory, creds: IssuedCredentials) -> str:
    body = f"grant_type=client_credentials&client_id={creds.client_id}"
    body += f"&client_secret={creds.client_secret}"
    request = TokenRequest(creds.tenant, parse_form(body.encode()), None)
    result = anyio.run(ClientCredentialsGrant(directory).handle, request)
    return str(result["access_token"])


def check(bearer: BearerAuth, token: str) -> str:
    async def run() -> str:
        caller = await bearer.authenticate(f"Bearer {token}")
        return caller.realm.shortcode

    return anyio.run(run)


def test_a_repeated_token_is_answered_from_the_cache(
    directory: Directory, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    assert check(bearer, token) == "acme"
    assert bearer.hits == 0
    assert check(bearer, token) == "acme"
    assert check(bearer, token) == "acme"
    assert bearer.hits == 2


def test_a_tampered_copy_of_a_cached_token_is_refused(
    directory: Directory, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    check(bearer, token)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidTokenError):
        check(bearer, forged)
    assert bearer.hits == 0


def test_revocation_after_caching_is_enforced(
    directory: Directory, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    check(bearer, token)
    claims = anyio.run(auth.authenticate, directory, f"Bearer {token}").claims
    assert claims.token_id is not None
    directory.mark_revoked("acme", claims.token_id, claims.expires_at)
    with pytest.raises(InvalidTokenError, match="revoked"):
        check(bearer, token)


def test_disabling_the_client_after_caching_is_enforced(
    directory: Directory, admin: Admin, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    check(bearer, token)
    admin.set_client_enabled("acme", creds.client_id, False)
    anyio.run(directory.poll_changes)
    with pytest.raises(InvalidTokenError):
        check(bearer, token)
    admin.set_client_enabled("acme", creds.client_id, True)
    anyio.run(directory.poll_changes)
    assert check(bearer, token) == "acme"


def test_a_withdrawn_key_is_enforced_for_cached_tokens(
    directory: Directory, admin: Admin, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    check(bearer, token)
    admin.rotate_key("acme", emergency=True)
    anyio.run(directory.poll_changes)
    with pytest.raises(InvalidTokenError, match="unknown key"):
        check(bearer, token)


def test_an_expired_cached_token_is_refused(
    directory: Directory, creds: IssuedCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    bearer = BearerAuth(directory)
    token = token_for(directory, creds)
    check(bearer, token)
    later = time.time() + 10 * 3600
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(InvalidTokenError, match="expired"):
        check(bearer, token)


def test_the_cache_is_bounded_and_can_be_turned_off(
    directory: Directory, creds: IssuedCredentials
) -> None:
    bearer = BearerAuth(directory, cache_size=2)
    tokens = [token_for(directory, creds) for _ in range(3)]
    for token in tokens:
        check(bearer, token)
    assert len(bearer._verified) == 2
    check(bearer, tokens[0])  # evicted first: verified again, not a hit
    assert bearer.hits == 0
    off = BearerAuth(directory, cache_size=0)
    check(off, tokens[1])
    check(off, tokens[1])
    assert off.hits == 0
    assert len(off._verified) == 0
