"""The throttle's blocks across every tenant (and console sign-ins), and their unblocking: what
the console's throttling page and dashboard show.

Read from the shared counters (the database or Redis), so the list is every node's. Tenant
blocks are unblocked through :meth:`AdminOps.unblock` (audited, every node told through the
change feed); console sign-in blocks (tenant tag ``#console``, no tenant row) the same way by
hand, audited under tenant ``master``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from realmgate.server.core.admin_ops import AdminOps
from realmgate.server.core.admin_views import ts
from realmgate.server.core.throttle import CLIENT, SOURCE, SOURCE_OF, client_key, source_tag

CONSOLE_TAG = "#console"  # the throttle's tenant tag for console sign-ins (not a shortcode)
MAX_ROWS = 1000


@dataclass(frozen=True)
class Block:
    tenant: str  # a shortcode, "#console", or "" (a source no tenant's failures tagged)
    kind: str  # "client" or "source"
    key: str  # the client id (console: the username), or the source address
    until: float

    @property
    def until_text(self) -> str:
        return str(ts(math.ceil(self.until)))

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.until - now))


def list_blocks(ops: AdminOps, now: float, limit: int = MAX_ROWS) -> list[Block]:
    """Every client and source blocked at ``now`` (sources once per tenant that tagged them)."""
    counters = ops.counters
    blocks: list[Block] = []
    for key, until in counters.marks_with_prefix(CLIENT, now, limit).items():
        tenant, _, client_id = key[len(CLIENT) :].partition(":")
        blocks.append(Block(tenant, "client", client_id, until))
    sources = counters.marks_with_prefix(SOURCE, now, limit)
    tagged: set[str] = set()
    if sources:
        for tag in counters.marks_with_prefix(SOURCE_OF, now, limit * 10):
            tenant, _, source = tag[len(SOURCE_OF) :].partition(" ")
            if source in sources:
                tagged.add(source)
                blocks.append(Block(tenant, "source", source[len(SOURCE) :], sources[source]))
        for source, until in sources.items():
            if source not in tagged:
                blocks.append(Block("", "source", source[len(SOURCE) :], until))
    blocks.sort(key=lambda b: (b.tenant, b.kind, b.key))
    return blocks[:limit]


def unblock(ops: AdminOps, tenant: str, kind: str, key: str) -> None:
    """Unblock one client or source (raises AdminError/NotFound with a safe message)."""
    if tenant not in (CONSOLE_TAG, ""):
        if kind == "client":
            ops.unblock(tenant, client_id=key)
        else:
            ops.unblock(tenant, source=key, any_source=True)
        return
    # console sign-ins, or a source with no tenant tag: no tenant row to check
    now = ops.admin.clock()
    if kind == "client":
        keys = [client_key(CONSOLE_TAG, key)]
        changed = [key]
        target = f"operator:{key[:64]}"
    else:
        source = SOURCE + key
        tags = [
            t
            for t in ops.counters.marks_with_prefix(SOURCE_OF, now, MAX_ROWS * 10)
            if t.endswith(" " + source)
        ]
        keys = [source, source_tag(CONSOLE_TAG, source), *tags]
        changed = [source]
        target = key[:64]
    ops.counters.clear_marks(keys)
    ops.store.record_unblocks(tenant or CONSOLE_TAG, changed)
    ops.admin.audit("throttle.unblocked", "master", target, kind=kind, scope=tenant or "*")
