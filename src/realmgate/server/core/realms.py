"""Realm snapshots and the in-memory directory that keeps the token path off the database.

A :class:`Realm` is everything the token endpoint, the JWKS and discovery need for one tenant,
decrypted and pre-rendered once. The :class:`Directory` caches realms and clients; it is kept
fresh on every node by the change feed (:meth:`Directory.apply_changes`), with a TTL as the
fallback. On a warm cache the token path does no database query.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import anyio.to_thread
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose import KeyPair, load_private_key
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import (
    Change,
    ClientRecord,
    KeyRecord,
    RevokedToken,
    TenantRecord,
)
from realmgate.server.vault import Vault
from realmgate.wire.names import is_client_id, is_shortcode

PublicKey = RSAKey | ECKey | OKPKey

V = TypeVar("V")
GAP_WAIT = 60.0
MAX_GAPS = 1000
KID_RELOAD_INTERVAL = 1.0
_MISSING = object()


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str
    alg: str
    key: PublicKey = field(repr=False)
    verify_until: int | None  # None while the key is active


@dataclass(frozen=True, slots=True)
class Realm:
    tenant: TenantRecord
    issuer: str
    signing_key: KeyPair
    verify_keys: dict[str, VerifyKey]
    jwks_json: bytes

    @property
    def shortcode(self) -> str:
        return self.tenant.shortcode

    def verify_key(self, kid: str, now: float) -> VerifyKey | None:
        key = self.verify_keys.get(kid)
        if key is None or (key.verify_until is not None and key.verify_until < now):
            return None
        return key


def build_realm(
    tenant: TenantRecord, keys: list[KeyRecord], vault: Vault, issuer: str, now: float
) -> Realm:
    active = [k for k in keys if k.status == "active"]
    if not active:
        raise LookupError(f"tenant {tenant.shortcode!r} has no active signing key")
    current = active[0]
    pem = vault.decrypt_signing_key(tenant.shortcode, current.kid, current.private_key_enc)
    signing = load_private_key(pem, current.alg, current.kid)
    verify: dict[str, VerifyKey] = {}
    published: list[dict[str, Any]] = []
    for k in keys:
        if k.status == "revoked" or (k.verify_until is not None and k.verify_until < now):
            continue
        public = _import_public(k.public_jwk)
        verify[k.kid] = VerifyKey(k.kid, k.alg, public, k.verify_until)
        published.append(k.public_jwk)
    jwks = json.dumps({"keys": published}, separators=(",", ":")).encode()
    return Realm(tenant, issuer, signing, verify, jwks)


def _import_public(jwk: dict[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    if kty == "RSA":
        return RSAKey.import_key(jwk)
    if kty == "EC":
        return ECKey.import_key(jwk)
    return OKPKey.import_key(jwk)


class _Lru(Generic[V]):
    """A bounded LRU map whose entries also expire after ``ttl`` seconds."""

    def __init__(self, maxsize: int, ttl: float, clock: Callable[[], float]):
        self._data: OrderedDict[Any, tuple[float, V | None]] = OrderedDict()
        self._maxsize = maxsize
        self._ttl = ttl
        self._clock = clock

    def get(self, key: Any) -> object:
        hit = self._data.get(key)
        if hit is None:
            return _MISSING
        expires, value = hit
        if expires < self._clock():
            self._data.pop(key, None)
            return _MISSING
        self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: V | None) -> None:
        self._data[key] = (self._clock() + self._ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self._maxsize:
            self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        self._data.pop(key, None)

    def drop_where(self, predicate: Callable[[Any], bool]) -> None:
        for key in [k for k in self._data if predicate(k)]:
            del self._data[key]

    def clear(self) -> None:
        self._data.clear()


class Directory:
    """Cached realms and clients. Misses load from the store in a worker thread."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        *,
        ttl: float = 300.0,
        max_clients: int = 200_000,
        max_realms: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.vault = vault
        self.settings = settings
        self._realms: _Lru[Realm] = _Lru(max_realms, ttl, clock)
        self._clients: _Lru[ClientRecord] = _Lru(max_clients, ttl, clock)
        self.last_change_id = 0
        self.loads = 0  # database loads, for tests and metrics
        self.hits = 0  # lookups answered from memory
        # Revoked token ids (tenant, jti) -> expiry, shared by all nodes through the change feed.
        self._revoked: dict[tuple[str, str], int] = {}
        self.wall_clock: Callable[[], float] = time.time
        self._gaps: dict[int, float] = {}  # change ids not seen yet -> since when
        self._reloaded: dict[str, float] = {}  # realm -> when a missing kid last reloaded it

    def load_realm(self, shortcode: str) -> Realm | None:
        """Synchronous load from the store (used on a miss and by the CLI)."""
        self.loads += 1
        tenant = self.store.get_tenant(shortcode)
        if tenant is None:
            return None
        keys = self.store.list_keys(shortcode)
        issuer = self.settings.issuer(shortcode)
        return build_realm(tenant, keys, self.vault, issuer, self.wall_clock())

    async def realm(self, shortcode: str) -> Realm | None:
        if not is_shortcode(shortcode):
            return None
        cached = self._realms.get(shortcode)
        if cached is not _MISSING:
            self.hits += 1
            return cached  # type: ignore[return-value]
        realm = await anyio.to_thread.run_sync(self.load_realm, shortcode)
        self._realms.put(shortcode, realm)
        return realm

    def _load_client(self, tenant: str, client_id: str) -> ClientRecord | None:
        self.loads += 1
        return self.store.get_client(tenant, client_id)

    async def client(self, tenant: str, client_id: str) -> ClientRecord | None:
        if not is_client_id(client_id):
            return None
        key = (tenant, client_id)
        cached = self._clients.get(key)
        if cached is not _MISSING:
            self.hits += 1
            return cached  # type: ignore[return-value]
        client = await anyio.to_thread.run_sync(self._load_client, tenant, client_id)
        self._clients.put(key, client)
        return client

    def is_revoked(self, tenant: str, jti: str) -> bool:
        return (tenant, jti) in self._revoked

    def mark_revoked(self, tenant: str, jti: str, expires_at: int) -> None:
        self._revoked[(tenant, jti)] = expires_at

    def _prune_revoked(self) -> None:
        now = self.wall_clock()
        for key in [k for k, exp in self._revoked.items() if exp < now]:
            del self._revoked[key]

    def apply_changes(self, changes: list[Change], revoked: Sequence[RevokedToken] = ()) -> None:
        for token in revoked:
            self.mark_revoked(token.tenant, token.jti, token.expires_at)
        for change in changes:
            if change.kind == "revoked":
                self._revoked.setdefault((change.tenant, change.key), 2**62)
            elif change.kind == "client":
                self._clients.pop((change.tenant, change.key))
            else:
                self._realms.pop(change.tenant)
                if change.kind == "tenant":
                    tenant = change.tenant
                    self._clients.drop_where(lambda k, t=tenant: k[0] == t)  # type: ignore[misc]
            self.last_change_id = max(self.last_change_id, change.id)

    def _read_feed(self) -> tuple[list[Change], list[RevokedToken]]:
        changes = self.store.changes_since(self.last_change_id)
        if self._gaps:
            changes += self.store.changes_by_ids(sorted(self._gaps))
        revoked = [
            found
            for c in changes
            if c.kind == "revoked" and (found := self.store.get_revoked(c.tenant, c.key))
        ]
        return changes, revoked

    def _track_gaps(self, changes: list[Change]) -> None:
        """Remember ids skipped by the feed: a transaction that took an id before another may
        commit after it, so the reader asks for missing ids again for ``GAP_WAIT`` seconds
        (rolled-back transactions leave gaps that never fill)."""
        now = time.monotonic()
        expected = self.last_change_id + 1
        for change in sorted(changes, key=lambda c: c.id):
            self._gaps.pop(change.id, None)
            if change.id >= expected:
                for missing in range(expected, min(change.id, expected + MAX_GAPS)):
                    self._gaps.setdefault(missing, now)
                expected = change.id + 1
        for gap, since in list(self._gaps.items()):
            if now - since > GAP_WAIT:
                del self._gaps[gap]

    async def poll_changes(self) -> int:
        """Read the change feed once (in a worker thread) and evict what changed."""
        changes, revoked = await anyio.to_thread.run_sync(self._read_feed)
        self._track_gaps(changes)
        self.apply_changes(changes, revoked)
        self._prune_revoked()
        return len(changes)

    def start_at_head(self) -> None:
        """Skip the feed's history, but load every revocation that is still in force."""
        self.last_change_id = self.store.latest_change_id()
        for token in self.store.list_revoked(int(self.wall_clock())):
            self.mark_revoked(token.tenant, token.jti, token.expires_at)

    async def realm_with_kid(self, realm: Realm, kid: object) -> Realm:
        """The realm, reloaded once (at most every second) when it does not know ``kid``:
        another node may have rotated the key a moment ago."""
        if not isinstance(kid, str) or kid in realm.verify_keys:
            return realm
        now = time.monotonic()
        if now - self._reloaded.get(realm.shortcode, 0.0) < KID_RELOAD_INTERVAL:
            return realm
        self._reloaded[realm.shortcode] = now
        fresh = await anyio.to_thread.run_sync(self.load_realm, realm.shortcode)
        if fresh is None:
            return realm
        self._realms.put(realm.shortcode, fresh)
        return fresh

    def evict_realm(self, shortcode: str) -> None:
        self._realms.pop(shortcode)

    def clear(self) -> None:
        self._realms.clear()
        self._clients.clear()
