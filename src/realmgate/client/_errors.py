"""The exception tree of :mod:`realmgate.client` (drawn in the package docstring).

No message built here ever contains a client secret or an access token: messages are made
from HTTP status codes, OAuth error codes and server-provided descriptions, which the
callers scrub of the credentials they know about.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class RealmgateClientError(Exception):
    """Base class of every error raised by :mod:`realmgate.client`."""


class ConfigurationError(RealmgateClientError, ValueError):
    """Invalid or incomplete client configuration (e.g. a missing environment variable)."""


# --------------------------------------------------------------------------- token endpoint


class TokenError(RealmgateClientError):
    """Obtaining an access token failed."""


class TokenRequestError(TokenError):
    """The token (or discovery) endpoint refused the request; never retried.

    Raised for 400/401/403/404 and other non-retryable answers: bad credentials
    (``invalid_client``), unknown tenant (``realm_not_found``), bad scope (``invalid_scope``)...

    Attributes:
        error: the OAuth ``error`` code (``"http_error"`` when the body carried none).
        error_description: the server's ``error_description``, if any.
        status_code: the HTTP status code.
    """

    def __init__(self, *, error: str, error_description: str | None, status_code: int) -> None:
        self.error = error
        self.error_description = error_description
        self.status_code = status_code
        message = f"token request rejected with HTTP {status_code}: {error}"
        if error_description:
            message += f" ({error_description})"
        super().__init__(message)


class TokenEndpointUnavailableError(TokenError):
    """The token endpoint stayed unavailable (429, 5xx or network errors) after all retries.

    Attributes:
        status_code: the last HTTP status, or ``None`` after a network error.
        retry_after: the last ``Retry-After`` delay in seconds, if the server sent one.
        attempts: how many requests were made.
    """

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None,
        retry_after: float | None,
        attempts: int,
    ) -> None:
        self.status_code = status_code
        self.retry_after = retry_after
        self.attempts = attempts
        plural = "s" if attempts != 1 else ""
        super().__init__(f"token endpoint unavailable after {attempts} attempt{plural}: {reason}")


class TokenResponseError(TokenError):
    """The token or discovery endpoint answered with a malformed or unexpected response."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


# --------------------------------------------------------------------------- tenant API


class ApiError(RealmgateClientError):
    """A tenant API call failed.

    Attributes:
        status_code: the HTTP status code (``None`` for connection errors).
        message: the JSend ``message`` or a generic description.
    """

    def __init__(self, message: str, *, status_code: int | None) -> None:
        self.message = message
        self.status_code = status_code
        prefix = f"HTTP {status_code}: " if status_code is not None else ""
        super().__init__(f"{prefix}{message}")


class ApiAuthError(ApiError):
    """401 or 403 from the tenant API (after one retry with a fresh token for 401).

    Attributes:
        error: the ``error`` auth-param of ``WWW-Authenticate`` (``invalid_token``,
            ``insufficient_scope``...), if present.
        error_description: the ``error_description`` auth-param, if present.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str | None,
        error_description: str | None,
    ) -> None:
        self.error = error
        self.error_description = error_description
        super().__init__(message, status_code=status_code)


class ApiFailError(ApiError):
    """A JSend ``fail`` (4xx): the request was invalid.

    Attributes:
        data: the JSend ``data`` object, typically mapping field names to messages.
    """

    def __init__(self, message: str, *, status_code: int, data: Mapping[str, Any]) -> None:
        self.data: Mapping[str, Any] = MappingProxyType(dict(data))
        super().__init__(message, status_code=status_code)


class ApiServerError(ApiError):
    """A JSend ``error`` or any 5xx answer.

    Attributes:
        code: the optional JSend ``code``.
    """

    def __init__(self, message: str, *, status_code: int, code: object = None) -> None:
        self.code = code
        super().__init__(message, status_code=status_code)


class ApiResponseError(ApiError):
    """A response that is not the JSend document the API documents."""


class ApiConnectionError(ApiError):
    """The tenant API could not be reached (network error, timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status_code=None)
