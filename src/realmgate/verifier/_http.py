"""Bearer credentials over HTTP (RFC 6750 §2.1 and §3), shared by the ASGI and FastAPI glue."""

from __future__ import annotations

import re

from realmgate.verifier._errors import InvalidTokenError, TokenError

MISSING_CREDENTIALS_DESCRIPTION = "A bearer access token is required"
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header value; ``None`` when there are no
    bearer credentials (no header, or another scheme); :class:`InvalidTokenError` when the
    header is malformed."""
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not _TOKEN68.fullmatch(token):
        raise InvalidTokenError("The Authorization header is malformed")
    return token


def challenge(error: TokenError | None, realm: str | None = None) -> str:
    """The ``WWW-Authenticate`` value; without an error code when credentials are missing
    (RFC 6750 §3.1)."""
    if error is not None:
        return error.challenge(realm)
    return f'Bearer realm="{realm}"' if realm else "Bearer"


def error_body(error: TokenError | None) -> dict[str, str]:
    """The JSON body of a 401/403: ``error`` and ``error_description`` (only the description
    when credentials are missing, as the challenge then carries no error code either)."""
    if error is None:
        return {"error_description": MISSING_CREDENTIALS_DESCRIPTION}
    return {"error": error.error, "error_description": error.description}
