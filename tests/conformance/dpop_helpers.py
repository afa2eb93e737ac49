"""DPoP proofs for the conformance and integration tests: good ones through
:func:`realmgate.jose.dpop.make_proof`, broken ones forged by hand (every RFC 9449 §4.3 item).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from realmgate.jose.dpop import jwk_thumbprint, make_proof, public_jwk_of, token_hash

ALGS = "ES256 EdDSA RS256 PS256"
SETTINGS_PATH = "/v2/tenants/current/settings"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def thumbprint(key: ec.EllipticCurvePrivateKey) -> str:
    return jwk_thumbprint(public_jwk_of(key))


def proof(key: object, method: str, url: str, **kw: Any) -> str:
    return make_proof(key, method=method, url=url, **kw)


def forge(
    key: ec.EllipticCurvePrivateKey,
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    signature: bytes | None = None,
) -> str:
    """An ES256 proof with ``header``/``claims`` members replaced (None removes one)."""
    h: dict[str, Any] = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk_of(key)}
    c: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "iat": int(time.time())}
    for target, extra in ((h, header), (c, claims)):
        for name, value in (extra or {}).items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
    for name in drop:
        c.pop(name, None)
    signing_input = (
        b64(json.dumps(h, separators=(",", ":")).encode())
        + "."
        + b64(json.dumps(c, separators=(",", ":")).encode())
    )
    if signature is None:
        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input}.{b64(signature)}"


def ath(token: str) -> str:
    return token_hash(token)
