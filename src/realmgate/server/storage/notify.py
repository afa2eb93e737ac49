"""PostgreSQL LISTEN/NOTIFY: wake a node's change-feed reader as soon as another node commits.

The change feed stays the source of truth (a node also reads it every
``cache_poll_interval``); notifications only cut the delay to milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from sqlalchemy.engine import make_url

from realmgate.server.storage.sql_feed import NOTIFY_CHANNEL

log = logging.getLogger("realmgate.storage")


def libpq_url(sqlalchemy_url: str) -> str:
    """The psycopg connection string for a SQLAlchemy URL (password kept, driver dropped)."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(sqlalchemy_url: str, on_notify: Callable[[], None], retry: float = 5.0) -> None:
    """LISTEN forever, reconnecting after failures; call ``on_notify`` for each notification."""
    import psycopg  # here: a SQLite node never loads libpq (several MB per worker)

    while True:
        try:
            async with await psycopg.AsyncConnection.connect(
                libpq_url(sqlalchemy_url), autocommit=True
            ) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                on_notify()  # catch up on anything committed while we were away
                async for _ in conn.notifies():
                    on_notify()
        except (psycopg.Error, OSError):
            log.warning("LISTEN connection lost; polling until it is back", exc_info=True)
        await anyio.sleep(retry)
