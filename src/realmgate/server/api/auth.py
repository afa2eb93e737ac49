"""Bearer authentication for the tenant API, through :mod:`realmgate.verifier`.

The realm is found from the token's issuer; only that realm's keys can verify it, so a token
of tenant A can never act on tenant B. The tenant's not-before policy is enforced here.

:class:`BearerAuth` remembers the tokens it verified (a bounded LRU keyed by the exact token
text, as Envoy's JWT filter does): clients reuse one token for its whole life, so a repeated
token skips the signature check. Everything that can change is still checked on every request:
expiry, the signing key still being trusted, revocation, the tenant's and the client's
not-before times and the client being enabled. Failures are never cached.

Sender-constrained tokens (a ``cnf`` claim) are checked on every request, cached or not
(:meth:`BearerAuth._check_binding`): a DPoP-bound token (``cnf.jkt``) only with the ``DPoP``
scheme and a proof of its key for this request (RFC 9449 §7: ``htm``, ``htu`` from
``api_base_url``, ``ath``, a ``jti`` never used on any node, the nonce when required); a
certificate-bound token (``cnf["x5t#S256"]``) only from a request with that certificate
(RFC 8705 §3). A token without ``cnf`` sent with the ``DPoP`` scheme is refused.
"""

from __future__ import annotations

import hmac
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from realmgate.jose.dpop import BINDING_MISMATCH, DPOP_ALGS, MISSING
from realmgate.server.core.dpop import ServerDpop
from realmgate.server.core.introspection import realm_resolver, token_kid
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.token_state import inactive_reason
from realmgate.server.http.client_cert import request_cert
from realmgate.server.http.request_head import SCOPE_KEY, RequestHead
from realmgate.verifier import (
    DEFAULT_LEEWAY,
    AccessTokenClaims,
    InvalidDpopProofError,
    InvalidTokenError,
    TokenError,
    TokenPolicy,
    UseDpopNonceError,
    unverified_issuer,
    verify_token,
)
from realmgate.verifier._certs import cert_thumbprint
from realmgate.verifier._errors import BEARER, DPOP
from realmgate.wire.errors import InvalidDpopProof, TemporarilyUnavailable, UseDpopNonce

ALGS = " ".join(DPOP_ALGS)


class MissingToken(Exception):
    """No bearer credentials at all (RFC 6750 §3.1: the challenge carries no error code)."""


@dataclass(frozen=True, slots=True)
class Caller:
    realm: Realm
    claims: AccessTokenClaims


class BindingUnavailable(TokenError):
    """The replay check could not be made (its store is down): 503, never a 500."""

    error: ClassVar[str] = "temporarily_unavailable"
    status_code: ClassVar[int] = 503


def credentials(authorization: str | None) -> tuple[bool, str]:
    """``(dpop, token)`` of an ``Authorization: Bearer|DPoP <token>`` header."""
    if not authorization:
        raise MissingToken()
    scheme, _, token = authorization.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "dpop"):
        raise MissingToken()
    token = token.strip()
    if not token or " " in token:
        raise InvalidTokenError("The Authorization header is malformed")
    return scheme == "dpop", token


def bearer_token(authorization: str | None) -> str:
    dpop, token = credentials(authorization)
    if dpop:
        raise MissingToken()
    return token


async def authenticate(directory: Directory, authorization: str | None) -> Caller:
    """Verify the bearer token of ``authorization`` completely (no cache)."""
    caller, _ = await _verify(directory, bearer_token(authorization))
    return caller


async def _verify(directory: Directory, token: str) -> tuple[Caller, str]:
    """The caller and the kid that verified the token."""
    issuer = unverified_issuer(token)
    prefix = f"{directory.settings.sso_base}/realms/"
    tenant = issuer[len(prefix) :] if issuer.startswith(prefix) else ""
    realm = await directory.realm(tenant) if tenant else None
    if realm is None:
        raise InvalidTokenError("The access token's issuer is not trusted")
    kid = token_kid(token)
    realm = await directory.realm_with_kid(realm, kid)
    now = time.time()
    policy = TokenPolicy(issuers=(realm.issuer,), audience=directory.settings.audience)
    claims = verify_token(token, realm_resolver(realm, now), policy, now=now)
    if await inactive_reason(directory, realm, claims) is not None:
        raise InvalidTokenError("The access token was revoked")
    assert isinstance(kid, str)  # verify_token refused tokens without a usable kid
    return Caller(realm, claims), kid


@dataclass(frozen=True, slots=True)
class _Verified:
    tenant: str
    kid: str
    claims: AccessTokenClaims


class BearerAuth:
    """Bearer authentication with a cache of verified tokens (``cache_size`` 0: no cache)."""

    def __init__(
        self, directory: Directory, cache_size: int = 4096, dpop: ServerDpop | None = None
    ):
        self.directory = directory
        self.cache_size = cache_size
        self._verified: OrderedDict[str, _Verified] = OrderedDict()
        self.hits = 0
        self._dpop = dpop

    @property
    def dpop(self) -> ServerDpop:
        if self._dpop is None:
            self._dpop = ServerDpop.for_directory(self.directory)
        return self._dpop

    async def authenticate(
        self, authorization: str | None, scope: Mapping[str, Any] | None = None
    ) -> Caller:
        """The caller of a request with ``authorization``; ``scope`` (the ASGI scope) is
        needed for sender-constrained tokens: without it they are refused."""
        dpop, token = credentials(authorization)
        try:
            caller = await self._caller(token)
        except TokenError as exc:
            if dpop:  # RFC 9449 §7.1: the challenge of the scheme the request used
                exc.scheme = DPOP
            raise
        if dpop or "cnf" in caller.claims.raw:
            await self._check_binding(dpop, token, caller, scope)
        return caller

    async def _caller(self, token: str) -> Caller:
        entry = self._verified.get(token)
        if entry is not None:
            caller = await self._recheck(token, entry)
            if caller is not None:
                self.hits += 1
                return caller
        caller, kid = await _verify(self.directory, token)
        if self.cache_size > 0:
            self._verified[token] = _Verified(caller.realm.shortcode, kid, caller.claims)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return caller

    async def _check_binding(
        self, dpop: bool, token: str, caller: Caller, scope: Mapping[str, Any] | None
    ) -> None:
        cnf = caller.claims.raw.get("cnf", {})
        if not isinstance(cnf, dict):
            raise InvalidTokenError("The access token's confirmation is malformed")
        jkt, x5t = cnf.get("jkt"), cnf.get("x5t#S256")
        if dpop and not isinstance(jkt, str):
            raise InvalidTokenError(
                "The access token type is not DPoP but Authorization Header is DPoP", scheme=DPOP
            )
        if isinstance(jkt, str) and not dpop:  # RFC 9449 §7.2
            raise InvalidTokenError(
                "The access token type is DPoP but Authorization Header is not DPoP", scheme=DPOP
            )
        if scope is None:
            raise InvalidTokenError(
                "The access token is sender-constrained", scheme=DPOP if dpop else BEARER
            )
        if isinstance(jkt, str):
            await self._check_proof(token, jkt, caller, scope)
        if x5t is not None:
            cert = request_cert(scope, self.directory.settings)
            if (
                cert is None
                or not isinstance(x5t, str)
                or not hmac.compare_digest(cert_thumbprint(cert), x5t)
            ):
                raise InvalidTokenError(
                    "The access token is bound to another client certificate",
                    scheme=DPOP if dpop else BEARER,
                )

    async def _check_proof(
        self, token: str, jkt: str, caller: Caller, scope: Mapping[str, Any]
    ) -> None:
        head: RequestHead = scope[SCOPE_KEY]
        proof = head.dpop
        if proof is None:
            raise InvalidDpopProofError(MISSING)
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope["path"]
        url = self.directory.settings.api_base + path
        try:
            checked = self.dpop.check(
                proof, method=scope["method"], urls=[url], access_token=token, resource=True
            )
            if not hmac.compare_digest(checked.jkt, jkt):  # RFC 9449 §4.3 item 12
                raise InvalidDpopProof(BINDING_MISMATCH)
            await self.dpop.use(caller.realm.shortcode, checked)
        except UseDpopNonce as exc:
            raise UseDpopNonceError(exc.description, nonce=exc.nonce) from None
        except InvalidDpopProof as exc:
            raise InvalidDpopProofError(exc.description) from None
        except TemporarilyUnavailable:
            raise BindingUnavailable("The DPoP proof could not be checked; retry later") from None

    async def _recheck(self, token: str, entry: _Verified) -> Caller | None:
        """The caller when the cached verification still holds; else forget it (None)."""
        now = time.time()
        realm = await self.directory.realm(entry.tenant)
        if (
            realm is None
            or entry.claims.expires_at + DEFAULT_LEEWAY <= now
            or realm.verify_key(entry.kid, now) is None
        ):
            self._verified.pop(token, None)
            return None
        if await inactive_reason(self.directory, realm, entry.claims) is not None:
            raise InvalidTokenError("The access token was revoked")
        self._verified.move_to_end(token)
        return Caller(realm, entry.claims)
