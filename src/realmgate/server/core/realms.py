"""Realm snapshots and the in-memory directory that keeps the token path off the database.

A :class:`Realm` is everything the token endpoint, the JWKS and discovery need for one tenant,
decrypted once. The :class:`Directory` caches realms and clients; it is kept fresh on every node
by the change feed (:meth:`Directory.apply_changes`), with a TTL as the fallback. On a warm
cache the token path does no database query. A process may hold tens of thousands of realms:
a miss is one statement per realm (tenant and keys together), misses that arrive together are
loaded together, and a realm holds little beyond its parsed signing key.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose import KeyPair, pair_from_private_key
from realmgate.server.core.cache import BatchLoader, TtlLru
from realmgate.server.core.deny_list import DenyList
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
log = logging.getLogger("realmgate.cache")

GAP_WAIT = 60.0
MAX_GAPS = 1000
KID_RELOAD_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class VerifyKey:
    kid: str
    alg: str
    key: PublicKey = field(repr=False)
    verify_until: int | None  # None while the key is active


class Realm:
    """One tenant as the token path needs it: the record, the issuer, the decrypted signing
    key and the published JWKS. Immutable; a change is a new snapshot.

    Kept by the ten thousand per process, so it holds little: when the signing key is the
    only published key (the usual case) the JWKS is rendered from it on first use, and the
    verification keys are imported the first time a token of the realm is verified (the token
    endpoint needs neither)."""

    __slots__ = ("_jwks", "_keys", "_verify_keys", "issuer", "signing_key", "tenant")

    def __init__(
        self,
        tenant: TenantRecord,
        issuer: str,
        signing_key: KeyPair,
        jwks_json: bytes | None = None,
        keys: tuple[tuple[str, str, int | None], ...] | None = None,
    ):
        """``jwks_json``: ``{"keys": [...]}`` of the published keys, whose (kid, alg,
        verify_until) are ``keys`` in the same order; both None: the signing key alone."""
        self.tenant = tenant
        self.issuer = issuer
        self.signing_key = signing_key
        self._jwks = jwks_json
        self._keys = keys
        self._verify_keys: dict[str, VerifyKey] | None = None

    def __repr__(self) -> str:
        return f"Realm({self.tenant.shortcode!r}, kid={self.signing_key.kid!r})"

    @property
    def shortcode(self) -> str:
        return self.tenant.shortcode

    @property
    def jwks_json(self) -> bytes:
        """The published keys as a JWKS document."""
        jwks = self._jwks
        if jwks is None:
            doc = {"keys": [self.signing_key.public_jwk()]}
            jwks = self._jwks = json.dumps(doc, separators=(",", ":")).encode()
        return jwks

    @property
    def verify_keys(self) -> dict[str, VerifyKey]:
        """The keys that verify this realm's tokens, by kid (imported on first use)."""
        keys = self._verify_keys
        if keys is None:
            jwks = json.loads(self.jwks_json)["keys"]
            signing = self.signing_key
            published = self._keys or ((signing.kid, signing.alg, None),)
            keys = {
                kid: VerifyKey(kid, alg, _import_public(jwk), until)
                for (kid, alg, until), jwk in zip(published, jwks, strict=True)
            }
            self._verify_keys = keys
        return keys

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
    signing = _signing_key(pem, current.alg, current.kid)
    published = [
        k
        for k in keys
        if k.status != "revoked" and (k.verify_until is None or k.verify_until >= now)
    ]
    verify = tuple((k.kid, k.alg, k.verify_until) for k in published)
    if verify == ((current.kid, current.alg, None),):
        return Realm(tenant, issuer, signing)  # the signing key alone: rendered when asked
    jwks = json.dumps({"keys": [k.public_jwk for k in published]}, separators=(",", ":"))
    return Realm(tenant, issuer, signing, jwks.encode(), verify)


def _signing_key(pem: bytes, alg: str, kid: str) -> KeyPair:
    """The realm's private key, parsed by cryptography and given to joserfc as an object (so
    that no copy of the PEM stays in memory). It is our own key, authenticated at rest by
    AES-GCM: RSA's key consistency check, tens of milliseconds per key, is skipped."""
    private = load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
    key: RSAKey | ECKey | OKPKey
    if alg == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        key = RSAKey.import_key(private)
    elif alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey):
        key = ECKey.import_key(private)
    elif alg == "EdDSA" and isinstance(private, ed25519.Ed25519PrivateKey):
        key = OKPKey.import_key(private)
    else:  # RS384/512, PS*, ES384/512 (imported keys): checked there, or ValueError
        return pair_from_private_key(private, alg, kid)
    return KeyPair(kid=kid, alg=alg, key=key)


def _import_public(jwk: dict[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    if kty == "RSA":
        return RSAKey.import_key(jwk)
    if kty == "EC":
        return ECKey.import_key(jwk)
    return OKPKey.import_key(jwk)


class Directory:
    """Cached realms and clients. Misses load from the store in worker threads, once per key
    and in batches (:class:`~realmgate.server.core.cache.BatchLoader`); an expired entry is
    served to concurrent lookups while one of them reloads it."""

    def __init__(
        self,
        store: Store,
        vault: Vault,
        settings: Settings,
        *,
        ttl: float = 300.0,
        max_clients: int = 200_000,
        max_realms: int = 100_000,
        load_concurrency: int = 2,
        max_batch: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.vault = vault
        self.settings = settings
        limits = {"concurrency": load_concurrency, "max_batch": max_batch}
        self._realms: BatchLoader[str, Realm] = BatchLoader(
            TtlLru(max_realms, ttl, clock), self._load_realms, **limits
        )
        self._clients: BatchLoader[tuple[str, str], ClientRecord] = BatchLoader(
            TtlLru(max_clients, ttl, clock), self.store.get_clients, **limits
        )
        # (sub, version) of clients, read to check a cached answer: nothing is kept.
        self._stamps: BatchLoader[tuple[str, str], tuple[str, int]] = BatchLoader(
            TtlLru(0, 0.0, clock), self.store.client_stamps, **limits
        )
        self._direct_loads = 0
        self.last_change_id = 0
        # Revoked token ids, shared by all nodes through the change feed (bounded: see DenyList).
        self._revoked = DenyList(settings.revocation_cache_size)
        self.wall_clock: Callable[[], float] = time.time
        self._gaps: dict[int, float] = {}  # change ids not seen yet -> since when
        self._reloaded: dict[str, float] = {}  # realm -> when a missing kid last reloaded it
        # Told of the feed's throttle unblocks (tenant, key): ``Throttle.unblocked``.
        self.on_unblock: Callable[[str, str], None] | None = None

    @property
    def loads(self) -> int:
        """Realms and clients loaded from the store, for tests and metrics."""
        return self._direct_loads + self._realms.loaded + self._clients.loaded + self._stamps.loaded

    @property
    def hits(self) -> int:
        """Lookups answered from memory (or by the load another lookup was doing)."""
        return self._realms.hits + self._clients.hits + self._stamps.hits

    def _load_realms(self, shortcodes: list[str]) -> dict[str, Realm | Exception]:
        """Build realms from one query; a realm that cannot be built is its own error."""
        now = self.wall_clock()
        built: dict[str, Realm | Exception] = {}
        for shortcode, (tenant, keys) in self.store.get_tenants_and_keys(shortcodes).items():
            try:
                issuer = self.settings.issuer(shortcode)
                built[shortcode] = build_realm(tenant, keys, self.vault, issuer, now)
            except Exception as exc:  # raised to the lookups of that realm alone
                built[shortcode] = exc
        return built

    def load_realm(self, shortcode: str) -> Realm | None:
        """Synchronous load from the store, bypassing the cache (used to reload a realm and
        by the CLI)."""
        self._direct_loads += 1
        realm = self._load_realms([shortcode]).get(shortcode)
        if isinstance(realm, Exception):
            raise realm
        return realm

    async def realm(self, shortcode: str) -> Realm | None:
        if not is_shortcode(shortcode):
            return None
        return await self._realms.get(shortcode)

    async def client(self, tenant: str, client_id: str) -> ClientRecord | None:
        if not is_client_id(client_id):
            return None
        return await self._clients.get((tenant, client_id))

    async def client_lookup(self, tenant: str, client_id: str) -> tuple[ClientRecord | None, bool]:
        """The client (None: unknown), and whether it was read from the store for this lookup
        (an id that no client can have is answered at once, as if read)."""
        if not is_client_id(client_id):
            return None, True
        return await self._clients.fetch((tenant, client_id))

    async def recheck_client(
        self, tenant: str, client_id: str, cached: ClientRecord | None
    ) -> ClientRecord | None:
        """The client again, after :meth:`client_lookup` answered ``cached`` from memory and
        authentication failed: one primary-key read of its ``(sub, version)`` tells whether
        ``cached`` is current; if not, the client is read (and cached) again. That lookup then
        counts as a load, not a hit: a fresh unknown id (a miss) and a known one cost one
        read of the same kind each, and count alike (see ``client_auth``)."""
        key = (tenant, client_id)
        self._clients.hits -= 1
        stamp = await self._stamps.reread(key)
        if stamp == (None if cached is None else (cached.sub, cached.version)):
            return cached
        return await self._clients.reread(key)

    @property
    def deny_list(self) -> DenyList:
        return self._revoked

    async def revoked(self, tenant: str, jti: str) -> bool:
        """Whether the token id was revoked: from memory, or from the database (in a worker
        thread) while the in-memory deny-list has spilled over its bound."""
        known = self._revoked.lookup(tenant, jti, self.wall_clock())
        if known is not None:
            return known
        return await anyio.to_thread.run_sync(self._revoked_in_store, tenant, jti)

    def is_revoked(self, tenant: str, jti: str) -> bool:
        """:meth:`revoked` for synchronous callers (the store is asked in this thread)."""
        known = self._revoked.lookup(tenant, jti, self.wall_clock())
        return self._revoked_in_store(tenant, jti) if known is None else known

    def _revoked_in_store(self, tenant: str, jti: str) -> bool:
        try:
            return self.store.get_revoked(tenant, jti) is not None
        except Exception:  # fail closed: a token that may be revoked is not in force
            log.warning("revocation lookup failed; the token is refused", exc_info=True)
            return True

    def mark_revoked(self, tenant: str, jti: str, expires_at: int) -> None:
        self._revoked.add(tenant, jti, expires_at)

    def _prune_revoked(self) -> None:
        self._revoked.prune(self.wall_clock())

    def apply_changes(self, changes: list[Change], revoked: Sequence[RevokedToken] = ()) -> None:
        found: set[tuple[str, str]] = set()
        for token in revoked:
            self.mark_revoked(token.tenant, token.jti, token.expires_at)
            found.add((token.tenant, token.jti))
        for change in changes:
            if change.kind == "revoked":
                if (change.tenant, change.key) not in found:
                    # Its row is gone: pruned once its token expired. Kept for the leeway.
                    self.mark_revoked(change.tenant, change.key, int(self.wall_clock()))
            elif change.kind == "client":
                self._clients.evict((change.tenant, change.key))
            elif change.kind == "throttle":
                if self.on_unblock is not None:  # an admin unblocked a client or a source
                    self.on_unblock(change.tenant, change.key)
            else:
                self._realms.evict(change.tenant)
                if change.kind == "tenant":
                    tenant = change.tenant
                    self._clients.evict_where(lambda key, t=tenant: key[0] == t)  # type: ignore[misc]
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
        for token in self.store.list_revoked(int(self.wall_clock()) - self._revoked.margin):
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
        self._realms.cache.put(realm.shortcode, fresh)
        return fresh

    def evict_realm(self, shortcode: str) -> None:
        self._realms.evict(shortcode)

    def clear(self) -> None:
        self._realms.clear()
        self._clients.clear()

    def cached(self) -> tuple[int, int]:
        """How many realms and clients are cached (unknown ones included)."""
        return len(self._realms.cache), len(self._clients.cache)
