"""The data directory is 0700 and SQLite's files (database, -wal, -shm) are 0600: they hold
the secrets' keyed hashes, the encrypted keys, the audit trail and failed logins' addresses.
A new install is created so; an older one is narrowed on start, with a warning."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from realmgate.server.core.admin import Admin
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage import files

DB_FILES = ("realmgate.db", "realmgate.db-wal", "realmgate.db-shm")


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems give a service started by hand (files 0644, directories 0755)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_install_is_private_and_so_are_the_wal_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rt = open_runtime(Settings(data_dir=data, bootstrap_demo=False))
    try:
        Admin(rt.store, rt.vault, rt.settings).create_tenant("modes")  # writes: WAL in use
        assert mode(data) == 0o700
        for name in DB_FILES:
            assert (data / name).exists(), name  # the open connections keep them
            assert mode(data / name) == 0o600, name
        assert mode(data / "master.key") == 0o600
    finally:
        rt.close()


def test_an_older_install_is_narrowed_on_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    rt = open_runtime(Settings(data_dir=data, bootstrap_demo=False))
    Admin(rt.store, rt.vault, rt.settings).create_tenant("modes")
    rt.close()
    for name in DB_FILES:  # as a crash leaves them, or an older version made them
        path = data / name
        path.touch()
        path.chmod(0o644)
    data.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="realmgate.storage"):
        rt = open_runtime(Settings(data_dir=data, bootstrap_demo=False))
    try:
        assert mode(data) == 0o700
        for name in DB_FILES:
            assert mode(data / name) == 0o600, name
        assert rt.store.get_tenant("modes") is not None
    finally:
        rt.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "realmgate.storage"]
    assert f"the data directory {data} was mode 755; now 700" in messages
    assert f"the database file {data / 'realmgate.db'} was mode 644; now 600" in messages


def test_a_mode_that_cannot_be_changed_is_a_warning_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)

    def refuse(path: object, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chmod", refuse)
    with caplog.at_level(logging.WARNING, logger="realmgate.storage"):
        rt = open_runtime(Settings(data_dir=data, bootstrap_demo=False))
    rt.close()
    assert mode(data) == 0o755
    assert (
        f"cannot restrict the data directory {data} to mode 700 (it is 755): "
        "Operation not permitted"
    ) in [r.getMessage() for r in caplog.records]
    assert mode(data / "realmgate.db") == 0o600  # created so: no chmod needed


def test_other_sqlite_urls_are_left_to_sqlite(tmp_path: Path) -> None:
    assert files.sqlite_path("sqlite://") is None
    assert files.sqlite_path("sqlite:///:memory:") is None
    assert files.sqlite_path(f"sqlite:///{tmp_path}/x.db") == tmp_path / "x.db"
    files.secure_sqlite_files(tmp_path / "missing-dir" / "x.db")  # SQLite will say so
    assert not (tmp_path / "missing-dir").exists()
