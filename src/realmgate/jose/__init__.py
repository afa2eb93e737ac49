"""JOSE helpers shared by the server, the verifier and the tests: keys, signing, JWKS.

Built on :mod:`joserfc` (the project's one JOSE library) and :mod:`cryptography`.
"""

from realmgate.jose.keys import (
    SUPPORTED_ALGORITHMS,
    KeyPair,
    generate_key,
    key_type,
    keycloak_kid,
    load_private_key,
    pair_from_private_key,
    public_jwk,
)
from realmgate.jose.tokens import TokenDecodeError, decode_verified, peek_header, sign

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "KeyPair",
    "TokenDecodeError",
    "decode_verified",
    "generate_key",
    "key_type",
    "keycloak_kid",
    "load_private_key",
    "pair_from_private_key",
    "peek_header",
    "public_jwk",
    "sign",
]
