"""The change feed reader does not lose a change whose transaction commits after a later one
(PostgreSQL hands out ids at insert, not at commit), and a node reloads a realm once when a
token names a key it does not know yet (another node rotated a moment ago)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy import insert

from realmgate.server.core.admin import Admin
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.models import changes


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path))
    yield rt
    rt.close()


def _feed(rt: Runtime, id_: int, kind: str, key: str) -> None:
    with rt.store.engine.begin() as conn:
        conn.execute(insert(changes).values(id=id_, tenant="acme", kind=kind, key=key, at=1))


def test_a_late_commit_below_the_last_id_is_still_read(runtime: Runtime) -> None:
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    directory.start_at_head()
    start = directory.last_change_id
    runtime.store.revoke_token("acme", "jti-late", 2**40)  # its feed row, below, we remove
    with runtime.store.engine.begin() as conn:
        conn.execute(changes.delete().where(changes.c.id > start))
    # the feed shows start+2 first; start+1 commits only later
    _feed(runtime, start + 2, "revoked", "jti-other")
    anyio.run(directory.poll_changes)
    assert directory.last_change_id == start + 2
    assert not directory.is_revoked("acme", "jti-late")
    _feed(runtime, start + 1, "revoked", "jti-late")
    anyio.run(directory.poll_changes)
    assert directory.is_revoked("acme", "jti-late")


def test_unknown_kid_reloads_the_realm_once(runtime: Runtime) -> None:
    admin = Admin(runtime.store, runtime.vault, runtime.settings)
    admin.create_tenant("acme")
    directory = Directory(runtime.store, runtime.vault, runtime.settings)

    async def run() -> None:
        realm = await directory.realm("acme")
        assert realm is not None
        new = admin.rotate_key("acme")  # another node did this: our cache does not know
        loads = directory.loads
        fresh = await directory.realm_with_kid(realm, new.kid)
        assert new.kid in fresh.verify_keys
        assert directory.loads == loads + 1
        # an unknown kid does not reload again within the interval
        same = await directory.realm_with_kid(fresh, "no-such-kid")
        assert same is fresh
        assert directory.loads == loads + 1
        # a known kid never reloads
        assert await directory.realm_with_kid(fresh, new.kid) is fresh

    anyio.run(run)
