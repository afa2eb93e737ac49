"""A ``client-jwt`` client's key from its ``jwt.credential.certificate`` attribute (base64 DER
X.509, as Keycloak stores it) as a public JWKS."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc.jwk import ECKey, OKPKey, RSAKey


def jwks_of_certificate(value: str) -> dict[str, Any]:
    """The certificate's public key as ``{"keys": [jwk]}``; ValueError when unreadable."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            cert = x509.load_pem_x509_certificate(text.encode())
        else:
            cert = x509.load_der_x509_certificate(base64.b64decode(text))
    except (ValueError, binascii.Error):
        raise ValueError("the certificate cannot be read") from None
    public = cert.public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key: RSAKey | ECKey | OKPKey
    if isinstance(public, rsa.RSAPublicKey):
        key = RSAKey.import_key(pem)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        key = ECKey.import_key(pem)
    elif isinstance(public, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        key = OKPKey.import_key(pem)
    else:
        raise ValueError("the certificate's key type is not supported")
    return {"keys": [dict(key.as_dict(private=False))]}


__all__ = ["jwks_of_certificate"]
