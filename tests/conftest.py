"""Shared fixtures. Integration tests get a real ``realmgate serve`` process per backend:
a SQLite file in a temporary data directory, and a fresh database on the real PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Server, postgres_database

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A running server on ``backend``, shared by the session (tests create their own tenants)."""
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    if backend == "postgres":
        with postgres_database() as url:
            srv = Server(data_dir, url)
            srv.start()
            try:
                yield srv
            finally:
                srv.stop()
    else:
        srv = Server(data_dir, None)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def fresh_server(backend: str, tmp_path: Path) -> Iterator[Server]:
    """A server of its own, for tests that stop, restart or break it."""
    if backend == "postgres":
        with postgres_database() as url:
            srv = Server(tmp_path / "data", url)
            try:
                yield srv
            finally:
                srv.stop()
    else:
        srv = Server(tmp_path / "data", None)
        try:
            yield srv
        finally:
            srv.stop()
