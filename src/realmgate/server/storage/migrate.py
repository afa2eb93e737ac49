"""Schema migrations with Alembic, run programmatically (``realmgate db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


class SchemaError(Exception):
    """The database schema is not the one this version of realmgate runs on."""


def known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}


def check(engine: Engine) -> str | None:
    """The schema's revision; raise :class:`SchemaError` when it is not this version's."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return current
    if current is not None and current not in known_revisions():
        raise SchemaError(
            f"the database schema (revision {current}) is newer than this realmgate "
            f"(revision {head}): upgrade realmgate on this node"
        )
    raise SchemaError(
        f"the database schema is at revision {current or 'none'}, this realmgate needs {head}: "
        "run `realmgate db upgrade` (or start with REALMGATE_MIGRATE_ON_START=true)"
    )


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default; a no-op when it is there)."""
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
