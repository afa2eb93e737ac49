"""OAuth 2.0 error responses (RFC 6749 §5.2, RFC 6750 §3.1, RFC 8707 §2).

One class per error code. Each carries the wire ``error`` code, the HTTP status
and any headers the response must have. ``description`` is public and generic:
details that could help an attacker (which check failed) go to logs only.

Exception tree::

    OAuthError
     ├── InvalidRequest            400 invalid_request
     ├── InvalidClient             401 invalid_client (+ Basic challenge when Basic was used)
     ├── InvalidGrant              400 invalid_grant
     ├── UnauthorizedClient        400 unauthorized_client
     ├── UnsupportedGrantType      400 unsupported_grant_type
     ├── InvalidScope              400 invalid_scope
     ├── InvalidTarget             400 invalid_target (RFC 8707)
     ├── RealmNotFound             404 realm_not_found
     ├── RealmDisabled             403 access_denied (Keycloak's answer for a disabled realm)
     ├── InvalidDpopProof          400 invalid_dpop_proof (RFC 9449 §5)
     ├── UseDpopNonce              400 use_dpop_nonce (+ DPoP-Nonce, RFC 9449 §8)
     ├── TooManyRequests           429 slow_down (+ Retry-After)
     └── ServerError               500/503 server_error / temporarily_unavailable
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    """An error answered to an OAuth endpoint as ``{"error": ..., "error_description": ...}``."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400
    default_description: ClassVar[str] = "The request is invalid."

    def __init__(self, description: str | None = None, *, headers: dict[str, str] | None = None):
        self.description = description or self.default_description
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{self.error}: {self.description}")

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"
    default_description = "The request is missing a parameter or is otherwise malformed."


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    default_description = "Invalid client or invalid client credentials"

    @classmethod
    def for_scheme(cls, realm: str, *, basic: bool) -> InvalidClient:
        """The one answer to every failed client authentication, whatever the cause."""
        headers = {"WWW-Authenticate": f'Basic realm="{realm}"'} if basic else None
        return cls(headers=headers)


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"
    default_description = "The client is not allowed to use this grant type."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    default_description = "The grant type is not supported by this server."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    default_description = "The requested scope is invalid, unknown or not allowed."


class InvalidTarget(OAuthError):
    error = "invalid_target"
    default_description = "The requested resource is invalid or not allowed."


class RealmNotFound(OAuthError):
    error = "realm_not_found"
    status_code = 404
    default_description = "Realm does not exist"


class RealmDisabled(OAuthError):
    error = "access_denied"
    status_code = 403
    default_description = "Realm not enabled"


class InvalidDpopProof(OAuthError):
    error = "invalid_dpop_proof"
    default_description = "DPoP proof is invalid"


class UseDpopNonce(OAuthError):
    """The proof lacks the nonce the server requires; the new one is in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"
    default_description = "Authorization server requires nonce in DPoP proof"

    def __init__(self, nonce: str, description: str | None = None):
        super().__init__(description, headers={"DPoP-Nonce": nonce})
        self.nonce = nonce


class TooManyRequests(OAuthError):
    error = "slow_down"
    status_code = 429
    default_description = "Too many requests; retry later."

    def __init__(self, retry_after: int, description: str | None = None):
        super().__init__(description, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500
    default_description = "The server could not complete the request."


class TemporarilyUnavailable(ServerError):
    error = "temporarily_unavailable"
    status_code = 503
    default_description = "The server is temporarily unavailable; retry later."


class MethodNotAllowed(OAuthError):
    error = "invalid_request"
    status_code = 405
    default_description = "HTTP method not allowed"


class RequestTooLarge(OAuthError):
    error = "invalid_request"
    status_code = 413
    default_description = "The request body is too large."


class UnsupportedMediaType(OAuthError):
    error = "invalid_request"
    status_code = 400
    default_description = "Content-Type must be application/x-www-form-urlencoded."
