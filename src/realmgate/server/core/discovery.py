"""Realm metadata: OpenID Connect Discovery 1.0 and RFC 8414 (the same document)."""

from __future__ import annotations

from typing import Any

from realmgate.jose import SUPPORTED_ALGORITHMS
from realmgate.server.core.grants import DEFAULT_SCOPES, GRANT_TYPE, OPTIONAL_SCOPES
from realmgate.server.core.realms import Realm


def metadata(realm: Realm) -> dict[str, Any]:
    oidc = f"{realm.issuer}/protocol/openid-connect"
    return {
        "issuer": realm.issuer,
        "token_endpoint": f"{oidc}/token",
        "jwks_uri": f"{oidc}/certs",
        "grant_types_supported": [GRANT_TYPE],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": [*OPTIONAL_SCOPES, *DEFAULT_SCOPES],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
        "token_endpoint_auth_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "azp",
            "client_id",
            "scope",
            "preferred_username",
            "realm_access",
            "tenant",
        ],
    }
