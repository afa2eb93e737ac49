"""Verification errors, each with its RFC 6750 error code, HTTP status and challenge."""

from __future__ import annotations

from typing import ClassVar


class TokenError(Exception):
    error: ClassVar[str] = "invalid_token"
    status_code: ClassVar[int] = 401

    def __init__(self, description: str, *, scope: str | None = None):
        super().__init__(description)
        self.description = description
        self.scope = scope

    def challenge(self, realm: str | None = None) -> str:
        """The ``WWW-Authenticate`` value (RFC 6750 §3)."""
        parts = []
        if realm:
            parts.append(f'realm="{realm}"')
        parts.append(f'error="{self.error}"')
        parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return "Bearer " + ", ".join(parts)


class InvalidTokenError(TokenError):
    error = "invalid_token"
    status_code = 401


class InsufficientScopeError(TokenError):
    error = "insufficient_scope"
    status_code = 403


class JwksFetchError(Exception):
    """The discovery document or the JWKS of an issuer could not be fetched or parsed.

    Verification never raises it: a failed refresh is logged and the cached keys stay in use.
    Only an explicit :meth:`JwksCache.refresh` (e.g. a warm-up at start) raises it. Its message
    names the issuer or URL and the cause, never a token.
    """
