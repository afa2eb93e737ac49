"""Wiring: settings + store + vault + directory, shared by ``serve``, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass

from realmgate.server.settings import Settings
from realmgate.server.storage import migrate
from realmgate.server.storage.sql import SqlStore, make_engine
from realmgate.server.vault import Vault, open_vault


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    store: SqlStore
    vault: Vault

    def close(self) -> None:
        self.store.close()


def open_runtime(settings: Settings, *, upgrade: bool = True) -> Runtime:
    """Open the database (creating the data directory), migrate it, and open the vault."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database)
    if upgrade:
        migrate.upgrade(engine)
    store = SqlStore(engine)
    try:
        vault = open_vault(settings, store)
    except Exception:
        store.close()
        raise
    return Runtime(settings=settings, store=store, vault=vault)
