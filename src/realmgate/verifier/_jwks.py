"""The JWKS key cache without I/O: documents parsed into keys, and when to fetch them.

Per issuer, the JWKS location is discovered from ``{issuer}/.well-known/openid-configuration``
(OpenID Connect Discovery 1.0 §4; the document's ``issuer`` must equal the configured one, §4.3),
then the JWKS (RFC 7517 §5) is fetched and cached. :class:`JwksCore` decides *when* to fetch and
:meth:`JwksCore.refresh_flow` is a generator that yields the :class:`httpx.Request` to send and
receives a :class:`Reply`; :mod:`realmgate.verifier._cache` drives it with a sync or an async
httpx client (the sans-I/O pattern of ``httpx.Auth.auth_flow``).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.verifier._core import PublicKey
from realmgate.verifier._errors import JwksFetchError

if TYPE_CHECKING:  # imported where a request is made (see _cache)
    import httpx

logger = logging.getLogger("realmgate.verifier")

DEFAULT_JWKS_TTL = 300.0
"""Seconds a fetched JWKS is used before it is fetched again (on the next verification)."""
DEFAULT_MIN_REFETCH_INTERVAL = 30.0
"""Minimum seconds between two fetches for one issuer, whatever triggers them (unknown ``kid``,
expired TTL, failed attempt): a flood of tokens with random ``kid`` costs one fetch per interval."""
DEFAULT_HTTP_TIMEOUT = 5.0
"""Seconds allowed for each discovery or JWKS request of a cache that creates its own client."""
MAX_DOCUMENT_BYTES = 256 * 1024
"""A discovery document or a JWKS larger than this is refused."""
MAX_KEYS = 100
"""Keys beyond this many in one JWKS are ignored."""
MIN_RSA_BITS = 2048

# JWS algorithm -> (the key type it needs, the curves allowed; None: any size-checked RSA key).
_ALG_KEYS: dict[str, tuple[str, frozenset[str] | None]] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),
}
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(_ALG_KEYS)
"""Every algorithm a verifier may allow; ``none`` and HMAC algorithms are never among them."""

# (kty, crv) -> the algorithm assumed when a JWK has no "alg".
_INFERRED_ALG = {
    ("RSA", None): "RS256",
    ("EC", "P-256"): "ES256",
    ("EC", "P-384"): "ES384",
    ("EC", "P-521"): "ES512",
    ("OKP", "Ed25519"): "EdDSA",
}
_PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_KEY_CLASSES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}

KeyMap = Mapping[str, tuple[PublicKey, str]]


@dataclass(frozen=True, slots=True)
class Reply:
    """What a driver hands back to the flow: the status and the (size-capped) body."""

    status: int
    body: bytes


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _json_object(reply: Reply, what: str) -> dict[str, Any]:
    if reply.status != 200:
        raise JwksFetchError(f"{what} answered HTTP {reply.status}")
    try:
        doc = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        raise JwksFetchError(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise JwksFetchError(f"{what} is not a JSON object")
    return doc


def parse_discovery(issuer: str, reply: Reply) -> str:
    """The ``jwks_uri`` of ``issuer``'s discovery document, after checking its ``issuer``."""
    doc = _json_object(reply, f"the discovery document of {issuer}")
    if doc.get("issuer") != issuer:
        raise JwksFetchError(f"the discovery document of {issuer} names another issuer")
    jwks_uri = doc.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise JwksFetchError(f"the discovery document of {issuer} has no jwks_uri")
    import httpx

    url = httpx.URL(jwks_uri)
    insecure_ok = issuer.startswith("http://")
    if not url.host or not (url.scheme == "https" or (url.scheme == "http" and insecure_ok)):
        raise JwksFetchError(f"the jwks_uri of {issuer} is not an https URL")
    return jwks_uri


def import_jwk(jwk: Any) -> tuple[str, PublicKey, str] | str:
    """``(kid, public key, alg)`` for a usable signature key; otherwise why it is skipped."""
    if not isinstance(jwk, dict):
        return "not a JSON object"
    kid, kty, use, key_ops = jwk.get("kid"), jwk.get("kty"), jwk.get("use"), jwk.get("key_ops")
    if not isinstance(kid, str) or not kid:
        return "no kid"
    if use is not None and use != "sig":
        return f"use {use!r}"
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return "key_ops without verify"
    if not isinstance(kty, str) or kty not in _PUBLIC_MEMBERS:
        return f"unsupported kty {kty!r}"
    crv = jwk.get("crv") if kty != "RSA" else None
    if crv is not None and not isinstance(crv, str):
        return "malformed crv"
    alg = jwk.get("alg", _INFERRED_ALG.get((kty, crv)))
    if not isinstance(alg, str) or alg not in _ALG_KEYS:
        return f"unsupported alg {alg!r}"
    needed_kty, curves = _ALG_KEYS[alg]
    if kty != needed_kty or (curves is not None and crv not in curves):
        return f"alg {alg} does not fit a {kty} {crv or ''} key"
    members: dict[str, str] = {}
    for name in _PUBLIC_MEMBERS[kty]:
        value = jwk.get(name)
        if not isinstance(value, str):
            return f"no '{name}' parameter"
        members[name] = value
    try:
        if kty == "RSA" and _uint_bits(members["n"]) < MIN_RSA_BITS:
            return f"RSA key shorter than {MIN_RSA_BITS} bits"
        key = _KEY_CLASSES[kty].import_key({"kty": kty, **members})
    except (JoseError, ValueError, TypeError, KeyError):
        return "invalid key parameters"
    return kid, key, alg


def _uint_bits(value: str) -> int:
    """Bit length of a base64url-encoded unsigned integer (RFC 7518 §2 "Base64urlUInt")."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    return int.from_bytes(raw, "big").bit_length()


def parse_jwks(url: str, reply: Reply) -> dict[str, tuple[PublicKey, str]]:
    """The usable signature keys of a JWKS, by ``kid``; a JWKS without any is refused."""
    doc = _json_object(reply, f"the JWKS at {url}")
    entries = doc.get("keys")
    if not isinstance(entries, list):
        raise JwksFetchError(f"the JWKS at {url} has no 'keys' list")
    keys: dict[str, tuple[PublicKey, str]] = {}
    for entry in entries[:MAX_KEYS]:
        imported = import_jwk(entry)
        if isinstance(imported, str):
            logger.debug("JWKS at %s: key skipped (%s)", url, imported)
            continue
        kid, key, alg = imported
        keys.setdefault(kid, (key, alg))
    if not keys:
        raise JwksFetchError(f"the JWKS at {url} has no usable signature key")
    return keys


@dataclass(slots=True)
class _IssuerState:
    jwks_uri: str | None
    keys: KeyMap = field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None
    in_flight: bool = False  # a fetch has started and not ended: lookups wait for it


class JwksCore:
    """The cache's state and decisions for every issuer; no I/O, no locking.

    ``clock`` is monotonic seconds. ``jwks_uris`` pins the JWKS URL of some issuers, which
    then skip discovery.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_JWKS_TTL,
        min_refetch_interval: float = DEFAULT_MIN_REFETCH_INTERVAL,
        clock: Callable[[], float],
        jwks_uris: Mapping[str, str] | None = None,
    ) -> None:
        if ttl <= 0 or min_refetch_interval < 0:
            raise ValueError("ttl must be positive and min_refetch_interval not negative")
        self.ttl = ttl
        self.min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._pinned = dict(jwks_uris or {})
        self._issuers: dict[str, _IssuerState] = {}
        self.fetches = 0  # refresh attempts, for metrics

    def _state(self, issuer: str) -> _IssuerState:
        state = self._issuers.get(issuer)
        if state is None:
            state = self._issuers[issuer] = _IssuerState(jwks_uri=self._pinned.get(issuer))
        return state

    def pin(self, issuer: str, jwks_uri: str) -> None:
        """Use ``jwks_uri`` for ``issuer`` without discovery (a changed URL drops its keys)."""
        if self._pinned.get(issuer) != jwks_uri:
            self._pinned[issuer] = jwks_uri
            self._issuers.pop(issuer, None)

    def get(self, issuer: str, kid: str) -> tuple[PublicKey, str] | None:
        """The cached key ``kid`` of ``issuer`` with its algorithm; never fetches."""
        state = self._issuers.get(issuer)
        return None if state is None else state.keys.get(kid)

    def kids(self, issuer: str) -> frozenset[str]:
        """The key ids cached for ``issuer``."""
        state = self._issuers.get(issuer)
        return frozenset(state.keys) if state is not None else frozenset()

    def needs_refresh(self, issuer: str, kid: str | None = None) -> bool:
        """Whether a fetch is due: nothing cached yet, the TTL expired, or ``kid`` is unknown,
        and in every case no attempt for this issuer within the minimum interval. True while a
        fetch is in flight, so that the caller waits for it (on the issuer's lock) instead of
        reading a cache that the fetch is about to fill."""
        state = self._issuers.get(issuer)
        if state is None or state.attempted_at is None or state.in_flight:
            return True
        now = self._clock()
        if now - state.attempted_at < self.min_refetch_interval:
            return False
        if kid is not None and kid not in state.keys:
            return True
        return state.fetched_at is None or now - state.fetched_at >= self.ttl

    def refresh_flow(self, issuer: str) -> Generator[httpx.Request, Reply, int]:
        """Fetch ``issuer``'s keys: yields requests, receives replies, returns the key count.

        Raises :class:`JwksFetchError` (the cached keys are then left as they were)."""
        import httpx

        state = self._state(issuer)
        state.attempted_at = self._clock()
        state.in_flight = True
        self.fetches += 1
        headers = {"Accept": "application/json"}
        try:
            if state.jwks_uri is None:
                url = discovery_url(issuer)
                reply = yield httpx.Request("GET", url, headers=headers)
                state.jwks_uri = parse_discovery(issuer, reply)
            jwks_uri = state.jwks_uri
            reply = yield httpx.Request("GET", jwks_uri, headers=headers)
            keys = parse_jwks(jwks_uri, reply)
            state.keys = keys
            state.fetched_at = self._clock()
        finally:
            state.in_flight = False
        logger.info("fetched %d signature key(s) of %s", len(keys), issuer)
        return len(keys)


def check_size(received: int, url: httpx.URL) -> None:
    if received > MAX_DOCUMENT_BYTES:
        raise JwksFetchError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
