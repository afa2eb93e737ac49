"""The token path at the core level: warm-cache behaviour and indistinguishable failures."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import InvalidClient, OAuthError
from realmgate.wire.forms import parse_form
from tests.unit.support import CountingHasher


class CountingStore:
    """Wraps the real store and counts every call made through it."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if callable(attr):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path))
    yield rt
    rt.close()


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    admin = Admin(runtime.store, runtime.vault, runtime.settings)
    c = admin.create_tenant("acme")
    admin.create_client("acme", "off")
    admin.set_client_enabled("acme", "off", False)
    return c


def form(client_id: str, secret: str) -> TokenRequest:
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    return TokenRequest("acme", parse_form(body.encode()), None)


def test_warm_token_path_does_no_database_query(runtime: Runtime, creds: IssuedCredentials) -> None:
    store = CountingStore(runtime.store)
    grant = ClientCredentialsGrant(Directory(store, runtime.vault, runtime.settings))  # type: ignore[arg-type]

    async def run() -> None:
        await grant.handle(form(creds.client_id, creds.client_secret))
        cold = len(store.calls)
        assert cold > 0
        for _ in range(20):
            result = await grant.handle(form(creds.client_id, creds.client_secret))
            assert result["token_type"] == "Bearer"
        assert len(store.calls) == cold

    anyio.run(run)


def test_change_feed_evicts_a_disabled_client(runtime: Runtime, creds: IssuedCredentials) -> None:
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    directory.start_at_head()
    grant = ClientCredentialsGrant(directory)
    admin = Admin(runtime.store, runtime.vault, runtime.settings)

    async def run() -> None:
        await grant.handle(form(creds.client_id, creds.client_secret))
        admin.set_client_enabled("acme", creds.client_id, False)
        # still cached until the feed is read
        await grant.handle(form(creds.client_id, creds.client_secret))
        assert await directory.poll_changes() == 1
        with pytest.raises(InvalidClient):
            await grant.handle(form(creds.client_id, creds.client_secret))

    anyio.run(run)


def test_unknown_disabled_and_wrong_secret_do_the_same_work(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    hasher = CountingHasher(b"p" * 32)
    vault = replace(runtime.vault, hasher=hasher)
    grant = ClientCredentialsGrant(Directory(runtime.store, vault, runtime.settings))
    outcomes: list[tuple[int, int, dict[str, str], dict[str, str]]] = []

    async def attempt(req: TokenRequest) -> None:
        before = hasher.compared
        with pytest.raises(OAuthError) as exc:
            await grant.handle(req)
        err = exc.value
        outcomes.append((hasher.compared - before, err.status_code, err.body(), err.headers))

    async def run() -> None:
        await attempt(form("nobody", "x" * 43))
        await attempt(form("off", "x" * 43))
        await attempt(form(creds.client_id, "x" * 43))

    anyio.run(run)
    assert outcomes[0] == outcomes[1] == outcomes[2]
    # current and previous secret, always both; twice: a failure checks again after a read
    assert outcomes[0][0] == 4
    assert outcomes[0][1] == 401


@pytest.mark.parametrize(("size", "loads"), [(1, 3), (2, 2)])
def test_realm_cache_size_bounds_the_realms_a_worker_keeps(
    tmp_path: Path, size: int, loads: int
) -> None:
    from realmgate.server.http.app import create_app

    rt = open_runtime(Settings(data_dir=tmp_path, realm_cache_size=size, client_cache_size=size))
    try:
        admin = Admin(rt.store, rt.vault, rt.settings)
        admin.create_tenant("one")
        admin.create_tenant("two")
        directory = create_app(rt).state.realmgate.directory

        async def main() -> None:
            for shortcode in ("one", "two", "one"):
                assert (await directory.realm(shortcode)) is not None

        anyio.run(main)
        assert directory.loads == loads  # size 1: "one" was pushed out by "two", read again
    finally:
        rt.close()
