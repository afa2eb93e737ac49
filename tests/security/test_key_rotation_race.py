"""Concurrent key rotations of one tenant (two admins, an admin beside the scheduled rotation,
or an admin and the crash-safety load) leave exactly one active signing key, on both backends.

Regressions on PostgreSQL (READ COMMITTED): two concurrent ``keys rotate`` each retired the key
they saw and each inserted an active key, leaving two active keys. Later the scheduled rotation
(``rotate_keys_if_older``) did not take the tenant lock that the others take: beside a rotation
by hand or an emergency rotation it deadlocked with them (one of them failed) or found no active
key and skipped its rotation. Every rotation now takes the lock, and the schema refuses a second
active key of a tenant (``tests/storage/test_signing_key_constraint.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytest

from realmgate.server.core.admin import Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from tests.servers import postgres_database

ROUNDS = 15
THREADS = 6
MIXED_ROUNDS = 40
PERIOD = 60  # the scheduled rotation's period in the mixed race


@pytest.fixture
def admin(backend: str, tmp_path: Path) -> Iterator[Admin]:
    def opened(url: str | None) -> Iterator[Admin]:
        rt = open_runtime(Settings(data_dir=tmp_path / "data", database_url=url))
        try:
            yield Admin(rt.store, rt.vault, rt.settings)
        finally:
            rt.close()

    if backend == "postgres":
        with postgres_database() as url:
            yield from opened(url)
    else:
        yield from opened(None)


def _race(jobs: list[Callable[[], object]]) -> None:
    """Run ``jobs`` in threads released together; re-raise the first error."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=60)
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a rotation did not finish"
    assert errors == []


@pytest.mark.parametrize("emergency_every", [0, 2], ids=["normal", "mixed-emergency"])
def test_concurrent_rotations_leave_one_active_key(admin: Admin, emergency_every: int) -> None:
    # ES256: key generation is quick, so the rotations' transactions overlap
    admin.create_tenant("race", signing_alg="ES256")
    for round_no in range(ROUNDS):
        emergency = [bool(emergency_every) and i % emergency_every == 0 for i in range(THREADS)]
        _race([partial(admin.rotate_key, "race", emergency=e) for e in emergency])
        statuses = [k.status for k in admin.store.list_keys("race")]
        assert statuses.count("active") == 1, (round_no, statuses)
        assert len(statuses) == 1 + THREADS * (round_no + 1)


def test_scheduled_rotation_beside_manual_and_emergency_rotations(admin: Admin) -> None:
    """Every round races two rotations by hand, two emergency rotations and two scheduled
    rotations (on a clock far enough ahead that the active key is always due)."""
    admin.create_tenant("race", signing_alg="ES256")
    ahead = {"now": 0.0}
    scheduler = Admin(admin.store, admin.vault, admin.settings, clock=lambda: ahead["now"])
    rotated_by_schedule = 0
    for round_no in range(MIXED_ROUNDS):
        newest = max(k.created_at for k in admin.store.list_keys("race"))
        ahead["now"] = float(max(newest, int(admin.clock())) + 10 * PERIOD)
        done: list[list[str]] = []
        _race(
            [
                lambda: admin.rotate_key("race"),
                lambda: admin.rotate_key("race", emergency=True),
                lambda: done.append(scheduler.rotate_due_keys(PERIOD)),
                lambda: admin.rotate_key("race"),
                lambda: admin.rotate_key("race", emergency=True),
                lambda: done.append(scheduler.rotate_due_keys(PERIOD)),
            ]
        )
        statuses = [k.status for k in admin.store.list_keys("race")]
        assert statuses.count("active") == 1, (round_no, statuses)
        # the first scheduled rotation to take the tenant lock finds a due key; the second
        # finds the first one's key, not due, unless a rotation by hand came in between
        scheduled = sum(len(d) for d in done)
        assert 1 <= scheduled <= 2, (round_no, done)
        rotated_by_schedule += scheduled
        assert len(statuses) == 1 + 4 * (round_no + 1) + rotated_by_schedule


class _WriterBeforeCall:
    """The admin's store, with another writer changing the tenant just before the admin's
    ``before``-th storage call (the interleaving an optimistic update can lose to)."""

    def __init__(self, store: Store, before: int, write: Callable[[], object]):
        self._store, self._before, self._write = store, before, write
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.calls == self._before:
                self._write()
            self.calls += 1
            return attr(*args, **kwargs)

        return call


@pytest.mark.parametrize("emergency", [False, True], ids=["rotation", "emergency"])
def test_algorithm_change_survives_a_concurrent_tenant_change(
    admin: Admin, emergency: bool
) -> None:
    """``keys rotate --algorithm`` beside another change of the tenant (a settings PATCH, a
    not-before, new lifespans) at every point of the rotation: both changes stay."""
    before = 0
    while True:
        shortcode = f"alg-{before}"
        admin.create_tenant(shortcode, signing_alg="RS256")
        lifespan = 600 + before
        store = _WriterBeforeCall(
            admin.store,
            before,
            lambda: admin.configure_tenant(shortcode, access_token_lifespan=lifespan),
        )
        rotating = Admin(cast(Store, store), admin.vault, admin.settings)
        key = rotating.rotate_key(shortcode, signing_alg="ES256", emergency=emergency)
        tenant = admin.get_tenant(shortcode)
        active = [k for k in admin.store.list_keys(shortcode) if k.status == "active"]
        assert [k.kid for k in active] == [key.kid] and key.alg == "ES256"
        if store.calls <= before:  # the rotation made fewer calls: every point was tried
            break
        assert (tenant.signing_alg, tenant.access_token_lifespan) == ("ES256", lifespan), before
        before += 1
    assert before >= 2
