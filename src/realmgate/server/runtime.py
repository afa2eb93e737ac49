"""Wiring: settings + store + vault + directory, shared by ``serve``, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from realmgate.server.settings import Settings
from realmgate.server.storage import migrate
from realmgate.server.storage.files import secure_data_dir
from realmgate.server.storage.sql import SqlStore, make_engine
from realmgate.server.vault import Vault, open_vault


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    store: SqlStore
    vault: Vault

    def close(self) -> None:
        self.store.close()


def _prepare_schema(engine: Engine, settings: Settings, upgrade: bool | None) -> None:
    current = migrate.current_revision(engine)
    if current is not None and current == migrate.script_head():
        return  # at this version's revision: nothing to migrate, and Alembic stays unloaded
    if current is not None and current not in migrate.known_revisions():
        migrate.check(engine)  # raises: a schema newer than this code
    if upgrade or (upgrade is None and settings.migrate_on_start) or current is None:
        migrate.upgrade(engine)
    else:
        migrate.check(engine)


def open_runtime(settings: Settings, *, upgrade: bool | None = None) -> Runtime:
    """Open the database (creating the data directory) and the vault.

    ``upgrade``: migrate the schema first (default: ``settings.migrate_on_start``). An empty
    database is always initialised. Otherwise a schema this version does not run on raises
    :class:`~realmgate.server.storage.migrate.SchemaError` with what to do.
    """
    if settings.is_sqlite or (settings.master_key is None and settings.master_key_file is None):
        secure_data_dir(settings.data_dir)  # 0700: it holds the database or the master key
    engine = make_engine(settings.database)
    try:
        _prepare_schema(engine, settings, upgrade)
    except Exception:
        engine.dispose()
        raise
    store = SqlStore(engine)
    try:
        vault = open_vault(settings, store)
    except Exception:
        store.close()
        raise
    return Runtime(settings=settings, store=store, vault=vault)
