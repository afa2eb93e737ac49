"""The one-call token check. Key lookup is injected, so the same check serves a remote
JWKS cache (for third-party resource servers) and realmgate's own in-memory keys.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.jose import TokenDecodeError, decode_verified, peek_header
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._errors import InsufficientScopeError, InvalidTokenError
from realmgate.verifier._time_claims import (
    DEFAULT_LEEWAY,
    EXPIRED,
    ISSUED_IN_THE_FUTURE,
    MISSING,
    NOT_YET_VALID,
    TimeClaimError,
    check_time_claims,
)

PublicKey = RSAKey | ECKey | OKPKey
# (issuer, kid) -> (key, its algorithm), or None when the issuer has no such key.
KeyResolver = Callable[[str, str], tuple[PublicKey, str] | None]

# Every asymmetric algorithm a realm (realmgate's, or Keycloak's imported one) signs with;
# never ``none`` nor HMAC. A resource server may narrow it.
DEFAULT_ALGORITHMS: frozenset[str] = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN_BYTES = 8192
ACCEPTED_TYP = frozenset({"jwt", "at+jwt", "application/at+jwt"})
_FORBIDDEN_ALGS = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """What a resource server requires of a token.

    ``issuers``: the trusted realms' issuer URLs (exact match). ``audience``: a value that
    ``aud`` must contain (None: not checked). ``algorithms``: the allow-list; ``none`` and
    HMAC algorithms are never accepted. ``leeway``: seconds of tolerated clock skew.
    """

    issuers: Collection[str] | Callable[[str], bool]
    audience: str | None = None
    algorithms: frozenset[str] = DEFAULT_ALGORITHMS
    leeway: int = DEFAULT_LEEWAY
    required_roles: frozenset[str] = frozenset()
    required_scopes: frozenset[str] = frozenset()
    max_token_bytes: int = MAX_TOKEN_BYTES

    def trusts(self, issuer: str) -> bool:
        if callable(self.issuers):
            return bool(self.issuers(issuer))
        return issuer in self.issuers


def _b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def unverified_issuer(token: str, max_bytes: int = MAX_TOKEN_BYTES) -> str:
    """The ``iss`` of a token *before* verification: only to pick the realm's keys."""
    if len(token) > max_bytes:
        raise InvalidTokenError("The access token is too large")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidTokenError("The access token is malformed")
    try:
        payload = _b64json(parts[1])
    except (ValueError, UnicodeDecodeError):
        raise InvalidTokenError("The access token is malformed") from None
    iss = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(iss, str):
        raise InvalidTokenError("The access token has no issuer")
    return iss


_TIME_PROBLEMS = {
    EXPIRED: "The access token expired",
    NOT_YET_VALID: "The access token is not valid yet",
    ISSUED_IN_THE_FUTURE: "The access token was issued in the future",
}


def _time_problem(error: TimeClaimError) -> str:
    if error.problem == MISSING:
        return f"The access token has no '{error.claim}' claim"
    malformed = f"The access token's '{error.claim}' claim is malformed"
    return _TIME_PROBLEMS.get(error.problem, malformed)


def check_claims(claims: dict[str, Any], policy: TokenPolicy, now: float) -> AccessTokenClaims:
    try:
        check_time_claims(claims, now, leeway=policy.leeway)
    except TimeClaimError as exc:
        raise InvalidTokenError(_time_problem(exc)) from None
    if policy.audience is not None:
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if policy.audience not in auds:
            raise InvalidTokenError("The access token is not meant for this audience")
    result = AccessTokenClaims.from_claims(claims)
    check_required(result, policy)
    return result


def check_required(result: AccessTokenClaims, policy: TokenPolicy) -> None:
    """The policy's required roles and scopes; raises :class:`InsufficientScopeError`."""
    missing_roles = policy.required_roles - result.roles
    if missing_roles:
        raise InsufficientScopeError(
            "The access token lacks a required role", scope=" ".join(sorted(missing_roles))
        )
    missing_scopes = policy.required_scopes - result.scopes
    if missing_scopes:
        raise InsufficientScopeError(
            "The access token lacks a required scope", scope=" ".join(sorted(missing_scopes))
        )


def check_header(token: str, policy: TokenPolicy) -> tuple[str, str, str]:
    """The checks that need no key: size, header, algorithm, ``typ``, ``kid``, trusted ``iss``.

    Returns ``(issuer, kid, alg)``: which key to look up. Raises :class:`InvalidTokenError`."""
    if len(token) > policy.max_token_bytes:
        raise InvalidTokenError("The access token is too large")
    try:
        header = peek_header(token)
    except TokenDecodeError:
        raise InvalidTokenError("The access token is malformed") from None
    alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ", "JWT")
    if not isinstance(alg, str) or alg in _FORBIDDEN_ALGS or alg not in policy.algorithms:
        raise InvalidTokenError("The access token's algorithm is not allowed")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP:
        raise InvalidTokenError("The access token's type is not accepted")
    if "crit" in header:
        raise InvalidTokenError("The access token has unsupported critical headers")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise InvalidTokenError("The access token has no usable key id")
    issuer = unverified_issuer(token, policy.max_token_bytes)
    if not policy.trusts(issuer):
        raise InvalidTokenError("The access token's issuer is not trusted")
    return issuer, kid, alg


def verify_token(
    token: str,
    resolve_key: KeyResolver,
    policy: TokenPolicy,
    *,
    now: float | None = None,
) -> AccessTokenClaims:
    """Check ``token`` completely; raise :class:`InvalidTokenError` or
    :class:`InsufficientScopeError`, or return its typed claims."""
    now = time.time() if now is None else now
    issuer, kid, alg = check_header(token, policy)
    found = resolve_key(issuer, kid)
    if found is None:
        raise InvalidTokenError("The access token was signed by an unknown key")
    key, key_alg = found
    if key_alg != alg:
        raise InvalidTokenError("The access token's algorithm does not match its key")
    try:
        _, claims = decode_verified(token, key, [alg])
    except TokenDecodeError:
        raise InvalidTokenError("The access token's signature is invalid") from None
    if claims.get("iss") != issuer:
        raise InvalidTokenError("The access token's issuer is not trusted")
    return check_claims(claims, policy, now)
