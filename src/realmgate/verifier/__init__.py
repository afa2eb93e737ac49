"""Token verification for any resource server that accepts realmgate access tokens.

One call checks a bearer token completely: size cap, algorithm allow-list, signature, ``typ``,
``iss`` (against an allow-list of trusted realms), ``aud``, ``exp``, ``nbf``, ``iat``, and
optionally required roles and scopes. Importing it never imports the server.

- :class:`Verifier` / :class:`AsyncVerifier`: the one call for remote realms, keys from a
  :class:`JwksCache` / :class:`AsyncJwksCache` (discovery, TTL 300 s, rate-limited refetch on
  an unknown ``kid`` at most every 30 s per issuer, cached keys kept while the server is down).
- :func:`verify_token`: the same check with any :data:`KeyResolver` (the server's own keys).
- :func:`check_time_claims`: the ``exp``/``nbf``/``iat`` check alone (finite numbers, leeway),
  which realmgate also applies to client assertions.
- Sender-constrained tokens (``cnf``): :meth:`Verifier.verify_request` with a
  :class:`SenderConstraint` checks a DPoP-bound token's proof (RFC 9449: ``jti`` replay
  through a :class:`ReplayCache`, nonces with :class:`DpopNonces`) or a certificate-bound
  token's client certificate (RFC 8705, :class:`TrustedProxyCerts` behind a proxy);
  :meth:`Verifier.verify` refuses them, as it has no request to check them against.
- :mod:`realmgate.verifier.asgi` (``BearerAuthMiddleware``) and
  :mod:`realmgate.verifier.fastapi` (``RequireToken``, needs FastAPI): HTTP glue, imported
  only on demand; both accept DPoP when given their ``public_url``.

Exception tree::

    TokenError                    (error code, HTTP status, Bearer or DPoP challenge)
     ├── InvalidTokenError        401 invalid_token
     ├── InvalidDpopProofError    401 invalid_dpop_proof
     ├── UseDpopNonceError        401 use_dpop_nonce (its .nonce goes in DPoP-Nonce)
     ├── ReplayCheckUnavailableError 503 (the replay cache failed)
     └── InsufficientScopeError   403 insufficient_scope
    JwksFetchError                discovery or JWKS unavailable (only from ``refresh()``)
"""

from realmgate.verifier._binding import (
    Credentials,
    ProtectedRequest,
    SenderConstraint,
    parse_authorization,
)
from realmgate.verifier._cache import AsyncJwksCache, JwksCache
from realmgate.verifier._certs import TrustedProxyCerts
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._core import (
    DEFAULT_ALGORITHMS,
    MAX_TOKEN_BYTES,
    KeyResolver,
    PublicKey,
    TokenPolicy,
    unverified_issuer,
    verify_token,
)
from realmgate.verifier._dpop import DpopNonces, MemoryReplayCache, ReplayCache
from realmgate.verifier._errors import (
    InsufficientScopeError,
    InvalidDpopProofError,
    InvalidTokenError,
    JwksFetchError,
    ReplayCheckUnavailableError,
    TokenError,
    UseDpopNonceError,
)
from realmgate.verifier._jwks import DEFAULT_JWKS_TTL, DEFAULT_MIN_REFETCH_INTERVAL
from realmgate.verifier._time_claims import (
    DEFAULT_LEEWAY,
    TimeClaimError,
    TimeClaims,
    check_time_claims,
)
from realmgate.verifier._verifier import AsyncVerifier, Verifier, realm_issuer

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_JWKS_TTL",
    "DEFAULT_LEEWAY",
    "DEFAULT_MIN_REFETCH_INTERVAL",
    "MAX_TOKEN_BYTES",
    "AccessTokenClaims",
    "AsyncJwksCache",
    "AsyncVerifier",
    "Credentials",
    "DpopNonces",
    "InsufficientScopeError",
    "InvalidDpopProofError",
    "InvalidTokenError",
    "JwksCache",
    "JwksFetchError",
    "KeyResolver",
    "MemoryReplayCache",
    "ProtectedRequest",
    "PublicKey",
    "ReplayCache",
    "ReplayCheckUnavailableError",
    "SenderConstraint",
    "TimeClaimError",
    "TimeClaims",
    "TokenError",
    "TokenPolicy",
    "TrustedProxyCerts",
    "UseDpopNonceError",
    "Verifier",
    "check_time_claims",
    "parse_authorization",
    "realm_issuer",
    "unverified_issuer",
    "verify_token",
]
