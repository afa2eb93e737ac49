"""The revocation deny-list in a node's memory: bounded, and never forgetting a revoked token
while any check of realmgate could still accept it (its ``exp`` plus the verifier's leeway).

Beyond the bound, the entries due first stay only in the database and lookups of ids not in
memory ask it until those entries would have been due."""

from __future__ import annotations

import gc
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from realmgate.server.api import auth
from realmgate.server.api.auth import BearerAuth
from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.deny_list import DenyList
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import Change
from realmgate.verifier import DEFAULT_LEEWAY, InvalidTokenError
from realmgate.wire.forms import parse_form

NOW = 1_800_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the structure -------------------------------------------------------------------------


def test_an_entry_lives_until_exp_plus_the_leeway() -> None:
    deny = DenyList(10)
    deny.add("acme", "j1", NOW)
    assert deny.lookup("acme", "j1", NOW) is True
    assert deny.prune(NOW + DEFAULT_LEEWAY) == 0  # a check with the leeway still takes it
    assert deny.lookup("acme", "j1", NOW + DEFAULT_LEEWAY) is True
    assert deny.prune(NOW + DEFAULT_LEEWAY + 1) == 1
    assert deny.lookup("acme", "j1", NOW + DEFAULT_LEEWAY + 1) is False
    assert len(deny) == 0
    assert deny.lookup("other", "j1", NOW) is False  # keyed by tenant and jti


def test_pruning_takes_only_what_is_due_and_a_later_expiry_wins() -> None:
    deny = DenyList(100, margin=0)
    for i in range(10):
        deny.add("acme", f"j{i}", NOW + i)
    deny.add("acme", "j0", NOW + 50)  # the same id again, due later: the later time holds
    deny.add("acme", "j1", NOW - 50)  # ... an earlier time changes nothing
    assert deny.prune(NOW + 5) == 4  # j1 .. j4 (j0 is due at NOW + 50)
    assert {j for j in (f"j{i}" for i in range(10)) if deny.lookup("acme", j, NOW + 5)} == {
        "j0",
        "j5",
        "j6",
        "j7",
        "j8",
        "j9",
    }
    assert deny.prune(NOW + 10) == 5
    assert deny.lookup("acme", "j0", NOW + 10) is True
    assert deny.prune(NOW + 51) == 1
    assert len(deny) == 0
    assert not deny._due and not deny._times  # nothing stale left behind


def test_the_bound_drops_the_entries_due_first_and_then_sends_misses_to_the_database() -> None:
    deny = DenyList(3, margin=0)
    for i in range(5):
        deny.add("acme", f"j{i}", NOW + 100 - i)  # j4 is due first, j0 last
    assert len(deny) == 3
    assert deny.spilled == 2
    assert deny.spilled_until == NOW + 97  # j3, the later of the two dropped
    for kept in ("j0", "j1", "j2"):
        assert deny.lookup("acme", kept, NOW) is True
    # a dropped id, and any other id, may be one of the dropped ones: ask the database
    for unknown in ("j3", "j4", "never-revoked"):
        assert deny.lookup("acme", unknown, NOW) is None
        assert deny.lookup("acme", unknown, NOW + 97) is None
    # once every dropped entry would have been due, memory is the whole answer again
    assert deny.lookup("acme", "never-revoked", NOW + 98) is False
    # an id due before everything kept is dropped at once, with the same guarantee
    deny.add("acme", "early", NOW + 1)
    assert len(deny) == 3
    assert deny.lookup("acme", "early", NOW) is None


def test_a_bound_of_zero_keeps_nothing_and_always_asks_while_a_revocation_is_in_force() -> None:
    deny = DenyList(0, margin=0)
    assert deny.lookup("acme", "x", NOW) is False  # nothing revoked: nothing to ask
    deny.add("acme", "j", NOW + 10)
    assert len(deny) == 0
    assert deny.lookup("acme", "j", NOW) is None
    assert deny.lookup("acme", "x", NOW + 10) is None
    assert deny.lookup("acme", "x", NOW + 11) is False


def test_many_more_revocations_than_the_bound_stay_within_it() -> None:
    deny = DenyList(1000)
    for i in range(20_000):
        deny.add("acme", str(uuid.uuid4()), NOW + (i * 7919) % 5000)
        assert len(deny) <= 1000
    assert len(deny) == 1000
    assert sum(len(b) - 1 for b in deny._due.values()) == 1000  # no stale items pile up
    assert len(deny._times) == len(deny._due)


def test_memory_per_entry_is_what_the_setting_says() -> None:
    """The figure in ``revocation_cache_size``'s description (about 210 bytes, 100,000: 21 MB;
    208 bytes measured at 20,000, 50,000 and 100,000 entries): entries as they come from the
    database (new strings for tenant and jti, UUID jtis, expiries spread over an hour),
    measured with tracemalloc."""
    n = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        deny = DenyList(n)
        for i in range(n):
            tenant = "".join(["tenant-", str(i % 100)])
            deny.add(tenant, str(uuid.uuid4()), NOW + i % 3600)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(deny) == n
    assert 150 * n < used < 230 * n, used / n


# -- the directory: the change feed, the database behind the bound, the tenant API ---------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


def directory_of(runtime: Runtime, size: int = 50_000, clock: Clock | None = None) -> Directory:
    settings = runtime.settings.model_copy(update={"revocation_cache_size": size})
    directory = Directory(runtime.store, runtime.vault, settings)
    directory.wall_clock = clock or Clock()
    return directory


def test_a_revocation_survives_the_feed_poll_until_the_leeway_ends(runtime: Runtime) -> None:
    clock = Clock()
    directory = directory_of(runtime, clock=clock)
    directory.mark_revoked("acme", "jti", NOW - 10)  # expired 10 s ago: the API still takes it
    anyio.run(directory.poll_changes)
    assert directory.is_revoked("acme", "jti")
    clock.now = NOW + DEFAULT_LEEWAY
    anyio.run(directory.poll_changes)
    assert not directory.is_revoked("acme", "jti")
    assert len(directory.deny_list) == 0


def test_a_node_starting_loads_revocations_still_within_the_leeway(runtime: Runtime) -> None:
    runtime.store.revoke_token("acme", "recent", NOW - 10)
    runtime.store.revoke_token("acme", "long-gone", NOW - DEFAULT_LEEWAY - 10)
    directory = directory_of(runtime)
    directory.start_at_head()
    assert directory.is_revoked("acme", "recent")
    assert not directory.is_revoked("acme", "long-gone")


def test_a_feed_revocation_without_its_row_is_kept_for_the_leeway_only(runtime: Runtime) -> None:
    """The row goes when it is pruned after its token expired: the entry then needs to hold
    only for the leeway (it used to be kept for ever, an entry that never left memory)."""
    clock = Clock()
    directory = directory_of(runtime, clock=clock)
    directory.apply_changes([Change(1, "acme", "revoked", "pruned")])
    assert directory.is_revoked("acme", "pruned")
    clock.now = NOW + DEFAULT_LEEWAY + 1
    anyio.run(directory.poll_changes)
    assert len(directory.deny_list) == 0


def test_beyond_the_bound_the_database_answers(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    directory = directory_of(runtime, size=2, clock=clock)
    for i, exp in enumerate((NOW + 100, NOW + 300, NOW + 200)):
        runtime.store.revoke_token("acme", f"j{i}", exp)
        directory.mark_revoked("acme", f"j{i}", exp)
    assert len(directory.deny_list) == 2  # j0 went to the database only
    asked: list[str] = []
    real = runtime.store.get_revoked

    def counted(tenant: str, jti: str):  # type: ignore[no-untyped-def]
        asked.append(jti)
        return real(tenant, jti)

    monkeypatch.setattr(runtime.store, "get_revoked", counted)

    async def revoked(jti: str) -> bool:
        return await directory.revoked("acme", jti)

    assert [anyio.run(revoked, f"j{i}") for i in range(3)] == [True, True, True]
    assert not anyio.run(revoked, "never")
    assert asked == ["j0", "never"]  # memory answered the others
    clock.now = NOW + 100 + DEFAULT_LEEWAY + 1  # j0 can no longer be accepted anywhere
    asked.clear()
    assert not anyio.run(revoked, "never")
    assert asked == []


def test_a_database_failure_behind_the_bound_refuses_the_token(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = directory_of(runtime, size=0)
    directory.mark_revoked("acme", "j", NOW + 100)

    def down(tenant: str, jti: str) -> None:
        raise OSError("database unreachable")

    monkeypatch.setattr(runtime.store, "get_revoked", down)
    assert anyio.run(directory.revoked, "acme", "other")


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


@pytest.mark.parametrize("size", [50_000, 0])
def test_the_tenant_api_refuses_a_revoked_token_through_the_leeway_after_its_expiry(
    runtime: Runtime, creds: IssuedCredentials, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A revoked token, 10 s past its ``exp``: the verifier's 30 s leeway would take it, so
    the deny-list must still hold it after the feed poll pruned what was due."""
    directory = directory_of(runtime, size=size, clock=Clock(time.time()))
    body = f"grant_type=client_credentials&client_id={creds.client_id}"
    body += f"&client_secret={creds.client_secret}"
    request = TokenRequest("acme", parse_form(body.encode()), None)
    token = str(anyio.run(ClientCredentialsGrant(directory).handle, request)["access_token"])
    claims = anyio.run(auth.authenticate, directory, f"Bearer {token}").claims
    assert claims.token_id is not None
    runtime.store.revoke_token("acme", claims.token_id, claims.expires_at)
    directory.mark_revoked("acme", claims.token_id, claims.expires_at)
    later = claims.expires_at + 10.0
    monkeypatch.setattr(auth.time, "time", lambda: later)
    directory.wall_clock = lambda: later
    anyio.run(directory.poll_changes)
    bearer = BearerAuth(directory)
    with pytest.raises(InvalidTokenError, match="revoked"):
        anyio.run(bearer.authenticate, f"Bearer {token}")
