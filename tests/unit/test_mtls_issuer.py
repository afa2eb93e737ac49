"""``mtls.issued_by``: realmgate's own check of a ``tls_client_auth`` certificate's issuer when
``tls_client_ca`` is set (the certificate may come from a proxy that did not check it)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from realmgate.server.core.mtls import issued_by, load_issuers

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
HOUR = datetime.timedelta(hours=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - 100 * HOUR)
        .not_valid_after(NOW + 100 * HOUR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    issuer: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    *,
    before: datetime.datetime = NOW - HOUR,
    after: datetime.datetime = NOW + HOUR,
) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(_name("billing-service"))
        .issuer_name(issuer[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(before)
        .not_valid_after(after)
        .sign(issuer[0], hashes.SHA256())
    )


def test_a_certificate_of_a_trusted_ca_within_its_validity() -> None:
    ca = _ca("Acme CA")
    assert issued_by(_leaf(ca), [ca[1]], NOW)
    pem = ca[1].public_bytes(Encoding.PEM) + _ca("Other CA")[1].public_bytes(Encoding.PEM)
    assert issued_by(_leaf(ca), load_issuers(pem), NOW)  # any CA of the file


def test_expired_or_not_yet_valid_certificates_are_refused() -> None:
    ca = _ca("Acme CA")
    assert not issued_by(_leaf(ca, before=NOW - 3 * HOUR, after=NOW - HOUR), [ca[1]], NOW)
    assert not issued_by(_leaf(ca, before=NOW + HOUR, after=NOW + 3 * HOUR), [ca[1]], NOW)


def test_a_ca_of_the_same_name_with_another_key_is_not_the_issuer() -> None:
    trusted, forger = _ca("Acme CA"), _ca("Acme CA")
    assert not issued_by(_leaf(forger), [trusted[1]], NOW)
    assert not issued_by(_leaf(trusted), [_ca("Other CA")[1]], NOW)
    assert not issued_by(_leaf(trusted), [], NOW)
