"""Verification errors, each with its error code, HTTP status and challenge: RFC 6750 §3
(``Bearer``) or RFC 9449 §7.1 (``DPoP``, with the ``algs`` the resource server accepts)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from realmgate.jose.dpop import DPOP_ALGS

BEARER = "Bearer"
DPOP = "DPoP"


class TokenError(Exception):
    """A refused access token. ``scheme`` is the authentication scheme of the challenge:
    ``Bearer``, or ``DPoP`` for a refusal concerning a DPoP-bound token or request."""

    error: ClassVar[str] = "invalid_token"
    status_code: ClassVar[int] = 401

    def __init__(self, description: str, *, scope: str | None = None, scheme: str = BEARER):
        super().__init__(description)
        self.description = description
        self.scope = scope
        self.scheme = scheme

    def challenge(self, realm: str | None = None, *, algs: Sequence[str] = DPOP_ALGS) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3; RFC 9449 §7.1 adds ``algs`` to the
        ``DPoP`` scheme's)."""
        parts = []
        if realm:
            parts.append(f'realm="{realm}"')
        parts.append(f'error="{self.error}"')
        parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        if self.scheme == DPOP:
            parts.append(f'algs="{" ".join(algs)}"')
        return f"{self.scheme} " + ", ".join(parts)


class InvalidTokenError(TokenError):
    error = "invalid_token"
    status_code = 401


class InsufficientScopeError(TokenError):
    error = "insufficient_scope"
    status_code = 403


class InvalidDpopProofError(TokenError):
    """The DPoP proof of a request is missing or fails a check (RFC 9449 §7.1)."""

    error = "invalid_dpop_proof"
    status_code = 401

    def __init__(self, description: str, *, scope: str | None = None, scheme: str = DPOP):
        super().__init__(description, scope=scope, scheme=scheme)


class UseDpopNonceError(TokenError):
    """The resource server requires a nonce in the DPoP proof (RFC 9449 §9): the response
    carries ``nonce`` in its ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status_code = 401

    def __init__(self, description: str, *, nonce: str, scheme: str = DPOP):
        super().__init__(description, scheme=scheme)
        self.nonce = nonce


class ReplayCheckUnavailableError(TokenError):
    """The DPoP replay cache failed (its store is down): 503, the request is refused."""

    error = "temporarily_unavailable"
    status_code = 503


class JwksFetchError(Exception):
    """The discovery document or the JWKS of an issuer could not be fetched or parsed.

    Verification never raises it: a failed refresh is logged and the cached keys stay in use.
    Only an explicit :meth:`JwksCache.refresh` (e.g. a warm-up at start) raises it. Its message
    names the issuer or URL and the cause, never a token.
    """
