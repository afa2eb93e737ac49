"""A client id cannot be told known from unknown by the work a failed authentication does.

A fresh unknown id is never in the cache, so its lookup reads the store; a known client
(or an id seen before) is answered from memory. Every failure therefore reads the store once
whichever way the lookup went (a cached answer is checked by its ``(sub, version)`` stamp),
does the same secret comparisons and moves the cache counters alike. Timing itself is measured
by hand (see the issue's note), never asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import OAuthError
from realmgate.wire.forms import parse_form
from tests.unit.support import CountingHasher
from tests.unit.test_token_path import CountingStore

READS = {"get_clients", "client_stamps"}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime whose secrets are hashed by a :class:`CountingHasher`."""
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield replace(rt, vault=replace(rt.vault, hasher=CountingHasher(b"p" * 32)))
    rt.close()


@pytest.fixture
def admin(runtime: Runtime) -> Admin:
    return Admin(runtime.store, runtime.vault, runtime.settings)


@pytest.fixture
def creds(admin: Admin) -> IssuedCredentials:
    c = admin.create_tenant("acme")
    admin.create_client("acme", "off")
    admin.set_client_enabled("acme", "off", False)
    return c


def request(client_id: str, secret: str) -> TokenRequest:
    body = f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
    return TokenRequest("acme", parse_form(body.encode()), None)


@dataclass
class Node:
    """One server's directory and grant over a store that counts its calls."""

    store: CountingStore
    hasher: CountingHasher
    directory: Directory
    grant: ClientCredentialsGrant

    @classmethod
    def open(cls, runtime: Runtime) -> Node:
        store = CountingStore(runtime.store)
        assert isinstance(runtime.vault.hasher, CountingHasher)
        directory = Directory(store, runtime.vault, runtime.settings)
        return cls(store, runtime.vault.hasher, directory, ClientCredentialsGrant(directory))

    async def token(self, client_id: str, secret: str) -> dict[str, Any]:
        return await self.grant.handle(request(client_id, secret))

    async def failure(self, client_id: str) -> tuple[Any, ...]:
        """Everything one failed attempt did and answered."""
        calls, compared = len(self.store.calls), self.hasher.compared
        hits, loads = self.directory.hits, self.directory.loads
        with pytest.raises(OAuthError) as caught:
            await self.token(client_id, "x" * 43)
        err = caught.value
        reads = self.store.calls[calls:]
        return (
            len(reads),
            set(reads) <= READS,
            self.hasher.compared - compared,
            self.directory.hits - hits,
            self.directory.loads - loads,
            err.status_code,
            err.body(),
            err.headers,
        )


def test_known_and_unknown_client_ids_fail_after_the_same_work(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    node = Node.open(runtime)

    async def run() -> None:
        for client_id in (creds.client_id, "off", "seen-before"):
            await node.failure(client_id)  # the realm and these three are in memory now
        known = await node.failure(creds.client_id)
        assert node.store.calls[-1] == "client_stamps"
        disabled = await node.failure("off")
        repeated = await node.failure("seen-before")
        fresh = await node.failure("never-seen")
        assert node.store.calls[-1] == "get_clients"
        assert known == disabled == repeated == fresh
        # one store read; two checks of the current and the previous secret; the realm a hit,
        # the client a load; 401 invalid_client
        assert known[:6] == (1, True, 4, 1, 1, 401)
        assert known[6]["error"] == "invalid_client"
        # and the right secret is still answered from memory, without the store
        calls = len(node.store.calls)
        assert (await node.token(creds.client_id, creds.client_secret))["token_type"] == "Bearer"
        assert len(node.store.calls) == calls

    anyio.run(run)


def test_a_client_created_under_a_refused_id_works_at_once_on_every_node(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    """Both nodes have just refused the id (and cached it as unknown); neither reads the
    change feed here: the failure's check against the store lets the new client in."""
    a, b = Node.open(runtime), Node.open(runtime)

    async def run() -> None:
        for node in (a, b):
            await node.failure("newcomer")
            await node.failure("newcomer")
        new = admin.create_client("acme", "newcomer")
        for node in (a, b):
            assert (await node.token("newcomer", new.client_secret))["token_type"] == "Bearer"
            calls = len(node.store.calls)  # cached again: the next one is from memory
            assert (await node.token("newcomer", new.client_secret))["token_type"] == "Bearer"
            assert len(node.store.calls) == calls

    anyio.run(run)


def test_a_new_secret_works_at_once(
    runtime: Runtime, admin: Admin, creds: IssuedCredentials
) -> None:
    node = Node.open(runtime)

    async def run() -> None:
        await node.token(creds.client_id, creds.client_secret)
        rotated = admin.rotate_secret("acme", creds.client_id)
        assert (await node.token(creds.client_id, rotated.client_secret))["token_type"] == "Bearer"
        assert (await node.token(creds.client_id, creds.client_secret))["token_type"] == "Bearer"

    anyio.run(run)
