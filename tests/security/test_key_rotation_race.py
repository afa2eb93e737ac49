"""Concurrent key rotations of one tenant (two admins, or an admin and the crash-safety load)
leave exactly one active signing key, on both backends.

Regression: on PostgreSQL (READ COMMITTED) two concurrent ``keys rotate`` each retired the key
they saw and each inserted an active key, leaving two active keys.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from realmgate.server.core.admin import Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from tests.servers import postgres_database

ROUNDS = 15
THREADS = 6


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


@pytest.mark.parametrize("emergency_every", [0, 2], ids=["normal", "mixed-emergency"])
def test_concurrent_rotations_leave_one_active_key(admin: Admin, emergency_every: int) -> None:
    # ES256: key generation is quick, so the rotations' transactions overlap
    admin.create_tenant("race", signing_alg="ES256")
    errors: list[BaseException] = []
    for round_no in range(ROUNDS):
        barrier = threading.Barrier(THREADS)

        def rotate(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                emergency = bool(emergency_every) and i % emergency_every == 0
                admin.rotate_key("race", emergency=emergency)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=rotate, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        statuses = [k.status for k in admin.store.list_keys("race")]
        assert statuses.count("active") == 1, (round_no, statuses)
        assert len(statuses) == 1 + THREADS * (round_no + 1)
