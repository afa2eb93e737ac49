"""Admin services Keycloak lacks: the throttle's blocks (list, unblock), the audit trail with
paging and filters, a tenant's own key rotation period, the tenant settings.

What the CLI (local) and the ``/admin/realmgate`` endpoints (and through them the remote CLI)
call; every change is audited with the :class:`~realmgate.server.core.admin.Admin`'s actor.
Methods touch the database: the HTTP layer calls them in a worker thread.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

from realmgate.server.core.admin import Admin, AdminError, Conflict, NotFound
from realmgate.server.core.admin_views import key_policy_view, ts
from realmgate.server.core.tenant_settings import SettingsInvalid, apply_patch, represent
from realmgate.server.core.throttle import (
    SOURCE,
    FailureCounters,
    client_key,
    source_key,
    source_tag,
)
from realmgate.server.storage.records import AuditEvent
from realmgate.wire.names import is_client_id

log = logging.getLogger("realmgate.admin")

MAX_LISTED = 1000  # blocks listed per kind
MAX_AUDIT_PAGE = 10_000
MAX_ROTATION_PERIOD = 10 * 365 * 86_400
MIN_ROTATION_PERIOD = 3600


class InvalidSettings(AdminError):
    """A settings patch failed validation; ``errors`` maps each field to its problem."""

    def __init__(self, errors: dict[str, str]):
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
        super().__init__(f"invalid settings: {detail}")
        self.errors = errors


def _source_key(value: str) -> str:
    """``10.0.0.1``, ``2001:db8::/64`` or ``src:10.0.0.1`` -> the throttle's key."""
    value = value.strip()
    value = value[len(SOURCE) :] if value.startswith(SOURCE) else value
    if not value or len(value) > 64 or any(not ch.isprintable() or ch == " " for ch in value):
        raise AdminError("invalid source: give an IP address (IPv6: its /64)")
    return source_key(value)


class AdminOps:
    """The extension services, acting as ``admin`` (its store, settings, clock and actor)."""

    def __init__(self, admin: Admin, counters: FailureCounters | None = None):
        self.admin = admin
        self.store = admin.store
        self.counters: FailureCounters = counters if counters is not None else admin.store

    # throttle -----------------------------------------------------------------------
    def _blocks(self, tenant: str, now: float) -> tuple[dict[str, float], dict[str, float]]:
        """The tenant's client blocks (client id -> end) and the blocks of the sources its
        clients' failures started (source key -> end), both still in force."""
        prefix = client_key(tenant, "")
        clients = {
            key[len(prefix) :]: until
            for key, until in self.counters.marks_with_prefix(prefix, now, MAX_LISTED).items()
        }
        tag = source_tag(tenant, "")
        tagged = self.counters.marks_with_prefix(tag, now, MAX_LISTED)
        blocked = self.counters.marks_with_prefix(SOURCE, now, MAX_LISTED * 10)
        sources = {
            key[len(tag) :]: blocked[key[len(tag) :]]
            for key in tagged
            if key[len(tag) :] in blocked
        }
        return clients, sources

    def throttle_state(self, tenant: str) -> dict[str, Any]:
        """What is blocked for ``tenant``: its clients, and the sources its failures blocked."""
        self.admin.get_tenant(tenant)
        now = self.admin.clock()
        clients, sources = self._blocks(tenant, now)

        def entry(until: float) -> dict[str, Any]:
            return {"blockedUntil": ts(until), "retryAfter": max(1, math.ceil(until - now))}

        return {
            "tenant": tenant,
            "clients": [{"clientId": c} | entry(u) for c, u in sorted(clients.items())],
            "sources": [
                {"source": s[len(SOURCE) :]} | entry(u) for s, u in sorted(sources.items())
            ],
        }

    def unblock(
        self,
        tenant: str,
        *,
        client_id: str | None = None,
        source: str | None = None,
        any_source: bool = False,
    ) -> dict[str, Any]:
        """Unblock a client of ``tenant``, a source, or (neither given) every client of the
        tenant and every source its failures blocked; their failures are forgotten too.
        A source's block is global: without ``any_source`` (an admin of every realm, or the
        local CLI) only a source that failures against this tenant blocked may be unblocked.
        Every node drops the blocks from memory through the change feed."""
        self.admin.get_tenant(tenant)
        now = self.admin.clock()
        clients: list[str] = []
        sources: list[str] = []
        if client_id is not None:
            if not is_client_id(client_id):
                raise AdminError(f"invalid client id {client_id[:70]!r}")
            clients.append(client_id)
        if source is not None:
            key = _source_key(source)
            tagged = self.counters.marks_with_prefix(source_tag(tenant, key), now, 50)
            if not any_source and source_tag(tenant, key) not in tagged:
                raise NotFound(f"no block of source {key[len(SOURCE) :]!r} for tenant {tenant!r}")
            sources.append(key)
        if client_id is None and source is None:
            blocked_clients, blocked_sources = self._blocks(tenant, now)
            clients, sources = sorted(blocked_clients), sorted(blocked_sources)
        keys = [client_key(tenant, c) for c in clients]
        keys += sources + [source_tag(tenant, s) for s in sources]
        if keys:
            self.counters.clear_marks(keys)
            self.store.record_unblocks(tenant, clients + sources)
        done = {"clients": clients, "sources": [s[len(SOURCE) :] for s in sources]}
        self.admin.audit("throttle.unblocked", tenant, client_id or source or "*", **done)
        return {"tenant": tenant, "unblocked": done}

    # audit trail --------------------------------------------------------------------
    def audit(
        self,
        *,
        tenant: str | None = None,
        first: int = 0,
        limit: int = 100,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[AuditEvent]:
        """Audit events, newest first: ``first`` skipped, at most ``limit``."""
        if first < 0 or not 1 <= limit <= MAX_AUDIT_PAGE:
            raise AdminError(f"first must be 0 or more and max between 1 and {MAX_AUDIT_PAGE}")
        return self.store.list_audit(
            tenant, limit, first=first, actor=actor, action=action, since=since, until=until
        )

    # key rotation policy -------------------------------------------------------------
    def key_policy(self, tenant: str) -> dict[str, Any]:
        record = self.admin.get_tenant(tenant)
        default = self.admin.settings.key_rotation_period
        return key_policy_view(tenant, record.key_rotation_period, default)

    def set_key_policy(self, tenant: str, period: int | None) -> dict[str, Any]:
        """The tenant's own rotation period in seconds (0: never rotate on schedule; None: the
        server's ``key_rotation_period``)."""
        if period and not MIN_ROTATION_PERIOD <= period <= MAX_ROTATION_PERIOD:
            raise AdminError(
                f"rotationPeriod must be 0 (never), null (the server's) or between "
                f"{MIN_ROTATION_PERIOD} and {MAX_ROTATION_PERIOD} seconds"
            )
        for _ in range(5):
            current = self.admin.get_tenant(tenant)
            updated = replace(current, key_rotation_period=period, updated_at=self.admin._now())
            if self.store.update_tenant(updated):
                self.admin.audit("key.policy_set", tenant, tenant, rotationPeriod=period)
                return key_policy_view(tenant, period, self.admin.settings.key_rotation_period)
        raise Conflict(f"tenant {tenant!r} is being changed concurrently; try again")

    # tenant settings -----------------------------------------------------------------
    def settings(self, tenant: str) -> dict[str, Any]:
        return represent(self.admin.get_tenant(tenant))

    def patch_settings(self, tenant: str, patch: Any) -> dict[str, Any]:
        """A JSON merge patch of the tenant settings (the tenant API's rules)."""
        for _ in range(5):
            current = self.admin.get_tenant(tenant)
            try:
                updated = apply_patch(current, patch, self.admin._now())
            except SettingsInvalid as exc:
                raise InvalidSettings(exc.errors) from None
            if self.store.update_tenant(updated):
                changed = sorted(str(k)[:64] for k in patch)
                self.admin.audit("tenant.settings_changed", tenant, tenant, changed=changed)
                return represent(updated)
        raise Conflict(f"tenant {tenant!r} is being changed concurrently; try again")


def rotate_due_keys(admin: Admin, default_period: int, limit: int = 100) -> list[str]:
    """Scheduled rotation: a new key for each tenant whose active key is older than its own
    rotation period or, without one, ``default_period`` (0: never). Safe on many nodes at once
    and beside rotations by hand: each is a conditional update under the tenant's lock."""
    now = admin._now()
    rotated = []
    for shortcode, period in admin.store.tenants_due_for_rotation(now, default_period, limit):
        tenant = admin.store.get_tenant(shortcode)
        if tenant is None:
            continue
        key = admin._new_key(shortcode, tenant.signing_alg, now)
        retire_until = now + tenant.session_max_lifespan
        if admin.store.rotate_keys_if_older(shortcode, key, now - period, retire_until):
            rotated.append(shortcode)
            admin.audit("key.rotated", shortcode, key.kid, scheduled=True, period=period)
    return rotated


def check_period(value: Any) -> int | None:
    """A ``rotationPeriod`` from JSON: null or a whole number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AdminError("rotationPeriod must be a whole number of seconds or null")
    return value


__all__ = ["AdminOps", "InvalidSettings", "check_period", "rotate_due_keys"]
