"""Schema migrations with Alembic, run programmatically (``realmgate db upgrade``).

Alembic (with its dialect modules and templates) is imported only when there is something to
migrate or to explain: on a database already at this version's revision, which is every start
but the first after an upgrade, :func:`current_revision` is a plain query and
:func:`script_head` reads the revision identifiers from the migration files.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, String, column, inspect, select, table

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which realmgate keeps


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


class SchemaError(Exception):
    """The database schema is not the one this version of realmgate runs on."""


def known_revisions() -> set[str]:
    return {rev.revision for rev in _scripts().walk_revisions()}


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
    head = _scripts().get_current_head()
    assert head is not None
    return head


def _literal_assignments(source: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name):
            try:
                values[target.id] = ast.literal_eval(value)
            except (ValueError, TypeError):
                values[target.id] = value  # not a literal: the caller gives up
    return values


def script_head() -> str | None:
    """The head revision of the migration files, read without Alembic.

    None (ask Alembic) unless every file names its revision and the revision(s) it revises
    with literals, as our template writes them, and there is exactly one head.
    """
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in MIGRATIONS.joinpath("versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        values = _literal_assignments(path.read_text(encoding="utf-8"))
        if "down_revision" not in values:
            return None
        revision, down = values.get("revision"), values["down_revision"]
        downs = down if isinstance(down, tuple) else () if down is None else (down,)
        if not isinstance(revision, str) or not all(isinstance(d, str) for d in downs):
            return None
        revisions.add(revision)
        revised.update(downs)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    """The revision stored in the database (None: an empty database), read without Alembic."""
    version_num = column("version_num", String)
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(select(version_num).select_from(table(VERSION_TABLE))).scalars().all()
    if len(rows) > 1:
        raise SchemaError(f"the database schema has several revisions at once: {sorted(rows)}")
    return rows[0] if rows else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default; a no-op when it is there)."""
    from alembic import command

    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
