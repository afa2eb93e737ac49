"""The modes of what realmgate keeps on disk: the data directory 0700, SQLite's files 0600.

The database holds the secrets' keyed hashes, the encrypted signing keys, the audit trail and
the source addresses of failed logins: no other user of the host may read it. SQLite creates
a new database file 0644 (less the umask) and gives its ``-wal``, ``-shm`` and ``-journal``
files the mode of the database file, so the database file is created here, 0600, before
SQLite opens it; files of an older install are narrowed on every start. A mode that cannot be
changed (a file of another owner) is logged as a warning, and the server starts anyway.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("realmgate.storage")

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def _narrow(path: Path, mode: int, what: str) -> None:
    """Take from ``path`` every permission bit outside ``mode``."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode == 0:
        return
    try:
        os.chmod(path, current & mode)
    except OSError as exc:
        log.warning(
            "cannot restrict the %s %s to mode %o (it is %o): %s",
            what,
            path,
            current & mode,
            current,
            exc.strerror or exc,
        )
        return
    log.warning("the %s %s was mode %o; now %o", what, path, current, current & mode)


def secure_data_dir(path: Path) -> None:
    """Create the data directory, or narrow an existing one, to mode 0700."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _narrow(path, DIRECTORY_MODE, "data directory")


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory or URI-style database."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_files(database: Path) -> None:
    """Create the database file 0600 if there is none (SQLite takes an empty file for a new
    database, and gives its companion files its mode), and narrow existing ones to 0600."""
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # no such directory, or not ours to create: SQLite reports it when it opens
    for path in (database, *(Path(f"{database}{suffix}") for suffix in SQLITE_COMPANIONS)):
        _narrow(path, FILE_MODE, "database file")
