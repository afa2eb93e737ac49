"""Realm metadata: OpenID Connect Discovery 1.0 and RFC 8414 (the same document).

Every capability is advertised exactly when it is supported: DPoP (RFC 9449 §5.1) and
certificate-bound tokens and mutual-TLS client authentication (RFC 8705 §3.3, §2.3), with
``mtls_endpoint_aliases`` (RFC 8705 §5) when ``mtls_base_url`` is set.
"""

from __future__ import annotations

from typing import Any

from realmgate.jose import SUPPORTED_ALGORITHMS
from realmgate.jose.dpop import DPOP_ALGS
from realmgate.server.core.assertions import ASYMMETRIC_ALGS, HMAC_ALGS
from realmgate.server.core.grants import GRANT_TYPE
from realmgate.server.core.realms import Realm

AUTH_METHODS = [
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
    "self_signed_tls_client_auth",
]


def metadata(realm: Realm, mtls_base_url: str | None = None) -> dict[str, Any]:
    oidc = f"{realm.issuer}/protocol/openid-connect"
    auth_algs = [*ASYMMETRIC_ALGS, *HMAC_ALGS]
    doc = {
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
            "cnf",
        ],
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "tls_client_certificate_bound_access_tokens": True,
    }
    if mtls_base_url:
        mtls = f"{mtls_base_url.rstrip('/')}/realms/{realm.shortcode}/protocol/openid-connect"
        doc["mtls_endpoint_aliases"] = {
            "token_endpoint": f"{mtls}/token",
            "introspection_endpoint": f"{mtls}/token/introspect",
            "revocation_endpoint": f"{mtls}/revoke",
        }
    return doc
