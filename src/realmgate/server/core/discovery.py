"""Realm metadata: OpenID Connect Discovery 1.0 and RFC 8414 (the same document).

Every capability is advertised exactly when it is supported.
"""

from __future__ import annotations

from typing import Any

from realmgate.jose import SUPPORTED_ALGORITHMS
from realmgate.server.core.assertions import ASYMMETRIC_ALGS, HMAC_ALGS
from realmgate.server.core.grants import GRANT_TYPE
from realmgate.server.core.realms import Realm

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"]


def metadata(realm: Realm) -> dict[str, Any]:
    oidc = f"{realm.issuer}/protocol/openid-connect"
    auth_algs = [*ASYMMETRIC_ALGS, *HMAC_ALGS]
    return {
        "issuer": realm.issuer,
        "token_endpoint": f"{oidc}/token",
        "jwks_uri": f"{oidc}/certs",
        "introspection_endpoint": f"{oidc}/token/introspect",
        "revocation_endpoint": f"{oidc}/revoke",
        "grant_types_supported": [GRANT_TYPE],
        "response_types_supported": ["token"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": auth_algs,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": auth_algs,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": auth_algs,
        "scopes_supported": sorted(realm.tenant.client_scopes),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGORITHMS),
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
            "roles",
            "tenant",
        ],
    }
