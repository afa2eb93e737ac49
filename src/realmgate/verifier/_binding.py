"""Sender-constrained access tokens at the resource server: a verified token's ``cnf`` checked
against the request that presents it.

- ``cnf.jkt`` (DPoP, RFC 9449 §7): the request must use ``Authorization: DPoP <token>`` and
  carry exactly one ``DPoP`` proof for its method and URL, with ``ath`` of the token, signed
  by the key whose thumbprint is ``jkt``, never seen before (replay cache), with a valid nonce
  when nonces are required. ``Authorization: Bearer`` with such a token is refused (§7.2).
- ``cnf["x5t#S256"]`` (mutual TLS, RFC 8705 §3): the request must come with the very
  certificate the token was issued to.
- No ``cnf``: a plain bearer token, accepted as ``Bearer`` (and refused as ``DPoP``).

:class:`SenderConstraint` holds what the check needs beyond the request (replay cache, nonces,
proof lifetime); the ASGI middleware and the FastAPI dependency build one from their options.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from realmgate.jose.dpop import (
    ALREADY_USED,
    BINDING_MISMATCH,
    DPOP_ALGS,
    HEADER_FAILURE,
    MAX_FUTURE_SKEW,
    MISSING,
    DpopError,
    check_proof,
)
from realmgate.verifier._certs import cert_thumbprint
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._dpop import DpopNonces, MemoryReplayCache, ReplayCache
from realmgate.verifier._errors import (
    BEARER,
    DPOP,
    InvalidDpopProofError,
    InvalidTokenError,
    ReplayCheckUnavailableError,
    TokenError,
    UseDpopNonceError,
)

_log = logging.getLogger(__name__)

_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MISSING_CREDENTIALS_DESCRIPTION = "A bearer or DPoP access token is required"
NONCE_REQUIRED = "Resource server requires nonce in DPoP proof"
CERT_MISMATCH = "The access token is bound to a client certificate the request did not present"
DPOP_BOUND_AS_BEARER = "The access token type is DPoP but Authorization Header is not DPoP"
UNBOUND_AS_DPOP = "The access token type is not DPoP but Authorization Header is DPoP"
UNKNOWN_CONFIRMATION = "The access token's confirmation method is not supported"


@dataclass(frozen=True, slots=True)
class Credentials:
    """The access token of a request and the scheme it came with (``Bearer`` or ``DPoP``)."""

    scheme: str
    token: str = ""

    def __repr__(self) -> str:  # never the token
        return f"Credentials(scheme={self.scheme!r})"


@dataclass(frozen=True, slots=True)
class ProtectedRequest:
    """What of an HTTP request the binding check needs. ``url`` is the request's public URL
    (built from the resource server's configured base URL, never from ``Host``); ``proofs``
    are the values of every ``DPoP`` header; ``cert`` the DER client certificate (own TLS
    listener or trusted proxy), if any."""

    method: str
    url: str
    proofs: tuple[str, ...] = ()
    cert: bytes | None = None


def parse_authorization(authorization: str | None, *, dpop: bool = True) -> Credentials | None:
    """The credentials of an ``Authorization`` header value: ``Bearer`` (RFC 6750 §2.1) or,
    with ``dpop``, ``DPoP`` (RFC 9449 §7.1); None for no header or another scheme;
    :class:`InvalidTokenError` (in that scheme) when the token is not a token68."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    lowered = scheme.lower()
    if lowered == "bearer":
        name = BEARER
    elif lowered == "dpop" and dpop:
        name = DPOP
    else:
        return None
    token = token.strip()
    if not _TOKEN68.fullmatch(token):
        raise InvalidTokenError("The Authorization header is malformed", scheme=name)
    return Credentials(name, token)


def public_request_url(public_url: str, raw_path: bytes | str) -> str:
    """``public_url`` (the resource server's external base URL, e.g. ``https://api.example.com``)
    followed by the request's path as sent (``raw_path``, still percent-encoded)."""
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    return public_url.rstrip("/") + path


def header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every value of header ``name`` (lower case) among ASGI ``headers``."""
    return [bytes(v).decode("latin-1") for k, v in headers if bytes(k).lower() == name]


def missing_credentials_challenge(realm: str | None, algs: Sequence[str] | None) -> str:
    """The ``WWW-Authenticate`` value of a request without credentials: ``Bearer`` alone, or
    ``Bearer`` and ``DPoP`` (with ``algs``) when DPoP is accepted (RFC 9449 §7.2)."""
    bearer = f'Bearer realm="{realm}"' if realm else "Bearer"
    if algs is None:
        return bearer
    realm_part = f'realm="{realm}", ' if realm else ""
    return f'{bearer}, DPoP {realm_part}algs="{" ".join(algs)}"'


class SenderConstraint:
    """Checks a verified token's ``cnf`` against the request (see the module's text).

    ``dpop``: whether ``Authorization: DPoP`` is accepted at all (needs the request's public
    URL). ``replay_cache``: where proofs' ``jti`` are remembered (default: a
    :class:`MemoryReplayCache` of this process; share one across processes behind the same
    URL). ``nonces``: require server nonces in proofs (RFC 9449 §9). ``max_age``: seconds a
    proof is accepted after its ``iat``. ``algs``: accepted proof algorithms."""

    def __init__(
        self,
        *,
        dpop: bool = True,
        replay_cache: ReplayCache | None = None,
        nonces: DpopNonces | None = None,
        max_age: int = 60,
        algs: Sequence[str] = DPOP_ALGS,
    ) -> None:
        if max_age <= 0:
            raise ValueError("max_age must be positive")
        if not algs or not set(algs) <= set(DPOP_ALGS):
            raise ValueError(f"algs must be a non-empty subset of {DPOP_ALGS}")
        self.dpop = dpop
        self.replay_cache: ReplayCache = (
            replay_cache if replay_cache is not None else MemoryReplayCache()
        )
        self.nonces = nonces
        self.max_age = max_age
        self.algs = tuple(algs)

    def challenge(self, error: TokenError | None, realm: str | None) -> str:
        """The ``WWW-Authenticate`` value for a refusal (``None``: missing credentials)."""
        if error is None:
            return missing_credentials_challenge(realm, self.algs if self.dpop else None)
        return error.challenge(realm, algs=self.algs)

    def check(
        self,
        claims: AccessTokenClaims,
        credentials: Credentials,
        request: ProtectedRequest,
        *,
        now: float | None = None,
    ) -> None:
        """Raise :class:`InvalidTokenError`, :class:`InvalidDpopProofError`,
        :class:`UseDpopNonceError` (or :class:`ReplayCheckUnavailableError` when the replay
        cache raises) unless the request may use this (verified) token."""
        now = time.time() if now is None else now
        cnf: Mapping[str, Any] = claims.confirmation or {}
        jkt, x5t = cnf.get("jkt"), cnf.get("x5t#S256")
        if claims.confirmation is not None and jkt is None and x5t is None:
            raise InvalidTokenError(UNKNOWN_CONFIRMATION, scheme=credentials.scheme)
        if credentials.scheme == DPOP:
            if jkt is None:
                raise InvalidTokenError(UNBOUND_AS_DPOP, scheme=DPOP)
            self._check_dpop(jkt, credentials.token, request, now)
        elif jkt is not None:
            raise InvalidTokenError(DPOP_BOUND_AS_BEARER, scheme=DPOP)
        if x5t is not None:
            cert = request.cert
            if (
                not isinstance(x5t, str)
                or cert is None
                or not hmac.compare_digest(cert_thumbprint(cert).encode(), x5t.encode())
            ):
                raise InvalidTokenError(CERT_MISMATCH, scheme=credentials.scheme)

    def _check_dpop(self, jkt: object, token: str, request: ProtectedRequest, now: float) -> None:
        if not isinstance(jkt, str) or not jkt:
            raise InvalidTokenError(UNKNOWN_CONFIRMATION, scheme=DPOP)
        if not request.proofs:
            raise InvalidDpopProofError(MISSING)
        if len(request.proofs) > 1:
            raise InvalidDpopProofError(HEADER_FAILURE)
        try:
            proof = check_proof(
                request.proofs[0],
                method=request.method,
                url=request.url,
                now=now,
                max_age=self.max_age,
                algs=self.algs,
                access_token=token,
            )
        except DpopError as error:
            raise InvalidDpopProofError(str(error)) from None
        if not hmac.compare_digest(proof.jkt.encode(), jkt.encode("utf-8", "replace")):
            # RFC 9449 §4.3 item 12: a proof of another key than the token's is not valid
            raise InvalidDpopProofError(BINDING_MISMATCH)
        if self.nonces is not None and (
            proof.nonce is None or not self.nonces.valid(proof.nonce, now)
        ):
            raise UseDpopNonceError(NONCE_REQUIRED, nonce=self.nonces.current(now))
        # Last: only a proof that passed everything uses up its jti. It stays remembered for
        # as long as its iat would be accepted.
        expires_at = proof.iat + self.max_age + MAX_FUTURE_SKEW + 1
        try:
            first = self.replay_cache.use(f"{proof.jkt}:{proof.jti}", expires_at)
        except Exception as error:  # a shared store that is down: refuse, never a 500
            _log.warning("DPoP replay cache failed: %s", type(error).__name__)
            raise ReplayCheckUnavailableError(
                "The DPoP proof cannot be checked now", scheme=DPOP
            ) from None
        if not first:
            raise InvalidDpopProofError(ALREADY_USED)

    def response_nonce(self, now: float | None = None) -> str | None:
        """The nonce to send in ``DPoP-Nonce`` (None when nonces are off)."""
        if self.nonces is None:
            return None
        return self.nonces.current(time.time() if now is None else now)
