"""One-call verification against remote realms: :class:`Verifier` and :class:`AsyncVerifier`.

They pair a :class:`~realmgate.verifier.TokenPolicy` with a JWKS cache. Keys are fetched only
for a token that passes the checks needing no key (size, ``alg``, ``typ``, ``kid``, trusted
``iss``), so an untrusted or malformed token never causes a request; then
:func:`verify_token` does the rest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Generic, Self, TypeVar

from realmgate.verifier._binding import Credentials, ProtectedRequest, SenderConstraint
from realmgate.verifier._cache import AsyncJwksCache, JwksCache
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._core import (
    DEFAULT_ALGORITHMS,
    MAX_TOKEN_BYTES,
    TokenPolicy,
    check_header,
    check_required,
    verify_token,
)
from realmgate.verifier._errors import BEARER, DPOP, InvalidTokenError, TokenError
from realmgate.verifier._jwks import ASYMMETRIC_ALGORITHMS
from realmgate.verifier._time_claims import DEFAULT_LEEWAY

CacheT = TypeVar("CacheT", JwksCache, AsyncJwksCache)
SENDER_CONSTRAINED = (
    "The access token is sender-constrained: it is accepted only with its DPoP proof or "
    "client certificate"
)


def realm_issuer(sso_base_url: str, tenant: str) -> str:
    """The issuer of a realmgate realm: ``{sso_base_url}/realms/{tenant}``."""
    if not tenant or "/" in tenant:
        raise ValueError(f"not a tenant shortcode: {tenant!r}")
    return f"{sso_base_url.rstrip('/')}/realms/{tenant}"


def _key_target(token: str, policy: TokenPolicy) -> tuple[str, str] | None:
    """``(issuer, kid)`` whose key a token needs, or None if the token fails a check that
    needs no key (then :func:`verify_token` reports why, and nothing is fetched)."""
    try:
        issuer, kid, _ = check_header(token, policy)
    except InvalidTokenError:
        return None
    return issuer, kid


class _VerifierBase(Generic[CacheT]):
    def __init__(
        self,
        issuers: Iterable[str],
        *,
        audience: str | None,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        leeway: int = DEFAULT_LEEWAY,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        cache: CacheT | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        trusted = frozenset(issuers)
        if not trusted or not all(isinstance(i, str) and i for i in trusted):
            raise ValueError("a verifier needs at least one trusted issuer URL")
        allowed = frozenset(algorithms)
        if not allowed or not allowed <= ASYMMETRIC_ALGORITHMS:
            raise ValueError(
                f"algorithms must be a non-empty subset of {sorted(ASYMMETRIC_ALGORITHMS)}"
            )
        if leeway < 0 or max_token_bytes <= 0:
            raise ValueError("leeway must not be negative and max_token_bytes must be positive")
        self._issuers = trusted
        self.policy = TokenPolicy(
            issuers=trusted,
            audience=audience,
            algorithms=allowed,
            leeway=leeway,
            required_roles=frozenset(roles),
            required_scopes=frozenset(scopes),
            max_token_bytes=max_token_bytes,
        )
        self._bare: tuple[TokenPolicy, TokenPolicy] | None = None
        self._owns_cache = cache is None
        self.cache: CacheT = cache if cache is not None else self._default_cache()
        self._clock = clock

    def _default_cache(self) -> CacheT:
        raise NotImplementedError

    @classmethod
    def from_realm(
        cls,
        sso_base_url: str,
        tenant: str | Iterable[str],
        *,
        audience: str | None,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        leeway: int = DEFAULT_LEEWAY,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        cache: CacheT | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """A verifier trusting the realm ``tenant`` (or several) of the realmgate server whose
        public SSO base URL is ``sso_base_url`` (``iss`` is ``{sso_base_url}/realms/{tenant}``)."""
        tenants = [tenant] if isinstance(tenant, str) else list(tenant)
        return cls(
            [realm_issuer(sso_base_url, t) for t in tenants],
            audience=audience,
            roles=roles,
            scopes=scopes,
            leeway=leeway,
            algorithms=algorithms,
            max_token_bytes=max_token_bytes,
            cache=cache,
            clock=clock,
        )

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock the verifier checks times with (also the binding checks')."""
        return self._clock

    @property
    def issuers(self) -> frozenset[str]:
        """The trusted issuer URLs."""
        return self._issuers

    def _bare_policy(self) -> TokenPolicy:
        """The policy without required roles and scopes: those are checked last, after the
        token is known to be the presenter's."""
        cached = self._bare
        if cached is None or cached[0] is not self.policy:
            bare = dataclasses.replace(
                self.policy, required_roles=frozenset(), required_scopes=frozenset()
            )
            cached = self._bare = (self.policy, bare)
        return cached[1]

    def _unbound(
        self, claims: AccessTokenClaims, roles: Iterable[str], scopes: Iterable[str]
    ) -> AccessTokenClaims:
        if claims.confirmation is not None:
            scheme = DPOP if "jkt" in claims.confirmation else BEARER
            raise InvalidTokenError(SENDER_CONSTRAINED, scheme=scheme)
        check_required(claims, self._policy_for(roles, scopes))
        return claims

    def _bound(
        self,
        claims: AccessTokenClaims,
        credentials: Credentials,
        request: ProtectedRequest,
        binding: SenderConstraint,
        roles: Iterable[str],
        scopes: Iterable[str],
    ) -> AccessTokenClaims:
        binding.check(claims, credentials, request, now=self._clock())
        try:
            check_required(claims, self._policy_for(roles, scopes))
        except TokenError as error:
            error.scheme = credentials.scheme
            raise
        return claims

    def _policy_for(self, roles: Iterable[str], scopes: Iterable[str]) -> TokenPolicy:
        extra_roles, extra_scopes = frozenset(roles), frozenset(scopes)
        if not extra_roles and not extra_scopes:
            return self.policy
        return dataclasses.replace(
            self.policy,
            required_roles=self.policy.required_roles | extra_roles,
            required_scopes=self.policy.required_scopes | extra_scopes,
        )


class Verifier(_VerifierBase[JwksCache]):
    """Verifies realmgate access tokens of the trusted ``issuers`` (thread-safe).

    Args:
        issuers: the trusted realms' issuer URLs, matched exactly against ``iss``.
        audience: a value ``aud`` must contain; ``None`` explicitly skips the check.
        roles, scopes: required of every token (``realm_access.roles`` and ``scope``).
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (default 30).
        algorithms: the allow-list (default RS/PS/ES 256/384/512 and EdDSA); ``none`` and HMAC
            algorithms are refused here.
        max_token_bytes: longer tokens are refused unparsed (default 8192).
        cache: the :class:`JwksCache` to use; by default one of its own (TTL 300 s, refetch
            at most every 30 s per issuer), closed by :meth:`close`.
        clock: wall-clock seconds for ``exp``/``nbf``/``iat``, injectable for tests.
    """

    def _default_cache(self) -> JwksCache:
        return JwksCache()

    def verify(
        self, token: str, *, roles: Iterable[str] = (), scopes: Iterable[str] = ()
    ) -> AccessTokenClaims:
        """Check a bearer ``token`` completely and return its claims; ``roles`` and ``scopes``
        are required in addition to the verifier's own. Raises :class:`InvalidTokenError` or
        :class:`InsufficientScopeError`.

        A sender-constrained token (one with a ``cnf`` claim: DPoP or certificate-bound) is
        refused here, as the request is needed to check it: use :meth:`verify_request`."""
        return self._unbound(self._signed(token), roles, scopes)

    def verify_request(
        self,
        credentials: Credentials,
        request: ProtectedRequest,
        binding: SenderConstraint,
        *,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
    ) -> AccessTokenClaims:
        """Check the token of ``credentials`` (from :func:`parse_authorization`) and its
        binding to ``request`` (DPoP proof or client certificate, see
        :class:`SenderConstraint`), then the required roles and scopes. Refusals carry the
        scheme of the request (``Bearer`` or ``DPoP``) for their challenge."""
        try:
            claims = self._signed(credentials.token)
        except TokenError as error:
            error.scheme = credentials.scheme
            raise
        return self._bound(claims, credentials, request, binding, roles, scopes)

    def _signed(self, token: str) -> AccessTokenClaims:
        policy = self._bare_policy()
        target = _key_target(token, policy)
        if target is not None:
            self.cache.ensure(*target)
        return verify_token(token, self.cache.get, policy, now=self._clock())

    def close(self) -> None:
        if self._owns_cache:
            self.cache.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncVerifier(_VerifierBase[AsyncJwksCache]):
    """:class:`Verifier` for asyncio code: keys are fetched with an :class:`AsyncJwksCache`
    (same arguments; ``cache`` is an :class:`AsyncJwksCache`)."""

    def _default_cache(self) -> AsyncJwksCache:
        return AsyncJwksCache()

    async def verify(
        self, token: str, *, roles: Iterable[str] = (), scopes: Iterable[str] = ()
    ) -> AccessTokenClaims:
        """Like :meth:`Verifier.verify`; only the key fetch awaits."""
        return self._unbound(await self._signed(token), roles, scopes)

    async def verify_request(
        self,
        credentials: Credentials,
        request: ProtectedRequest,
        binding: SenderConstraint,
        *,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
    ) -> AccessTokenClaims:
        """Like :meth:`Verifier.verify_request`; only the key fetch awaits."""
        try:
            claims = await self._signed(credentials.token)
        except TokenError as error:
            error.scheme = credentials.scheme
            raise
        return self._bound(claims, credentials, request, binding, roles, scopes)

    async def _signed(self, token: str) -> AccessTokenClaims:
        policy = self._bare_policy()
        target = _key_target(token, policy)
        if target is not None:
            await self.cache.ensure(*target)
        return verify_token(token, self.cache.get, policy, now=self._clock())

    async def aclose(self) -> None:
        if self._owns_cache:
            await self.cache.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
