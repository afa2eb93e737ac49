"""Token verification for any resource server that accepts realmgate access tokens.

One call checks a bearer token completely: size cap, algorithm allow-list, signature, ``typ``,
``iss`` (against an allow-list of trusted realms), ``aud``, ``exp``, ``nbf``, ``iat``, and
optionally required roles and scopes. Importing it never imports the server.

Exception tree::

    TokenError                    (error code, HTTP status, RFC 6750 challenge)
     ├── InvalidTokenError        401 invalid_token
     └── InsufficientScopeError   403 insufficient_scope
"""

from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._core import (
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    MAX_TOKEN_BYTES,
    KeyResolver,
    PublicKey,
    TokenPolicy,
    unverified_issuer,
    verify_token,
)
from realmgate.verifier._errors import InsufficientScopeError, InvalidTokenError, TokenError

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "MAX_TOKEN_BYTES",
    "AccessTokenClaims",
    "InsufficientScopeError",
    "InvalidTokenError",
    "KeyResolver",
    "PublicKey",
    "TokenError",
    "TokenPolicy",
    "unverified_issuer",
    "verify_token",
]
