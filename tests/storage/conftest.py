from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from realmgate.server.storage import migrate
from realmgate.server.storage.sql import SqlStore, make_engine
from tests.servers import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """A migrated, empty store on a real SQLite file or a fresh real PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'contract.db'}")
        migrate.upgrade(engine)
        s = SqlStore(engine)
        yield s
        s.close()
    else:
        with postgres_database() as url:
            engine = make_engine(url)
            migrate.upgrade(engine)
            s = SqlStore(engine)
            yield s
            s.close()
