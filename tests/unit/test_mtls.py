"""Mutual-TLS client authentication (RFC 8705 §2) in the core: subject DN and SAN matching,
certificates registered in a JWKS, which method a request used, and the authenticator's one
``invalid_client`` for every failure (after the same store reads)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey, OKPKey, RSAKey

from realmgate.server.core.admin import Admin
from realmgate.server.core.client_auth import ClientAuthenticator, extract_credentials
from realmgate.server.core.mtls import (
    cert_matches_jwks,
    load_cert,
    parse_san,
    parse_subject_dn,
    subject_matches,
)
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.errors import InvalidClient, InvalidRequest
from realmgate.wire.forms import parse_form
from tests.unit.test_token_path import CountingStore

NOW = datetime.datetime.now(datetime.UTC)


def make_cert(
    subject: list[tuple[x509.ObjectIdentifier, str]],
    sans: list[x509.GeneralName] | None = None,
    key: Any = None,
) -> tuple[bytes, Any]:
    """A self-signed certificate (DER) with ``subject`` (RDNs most general first, as in the
    certificate) and ``sans``, and its key."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(Encoding.DER), key


SUBJECT = [
    (NameOID.COUNTRY_NAME, "DE"),
    (NameOID.ORGANIZATION_NAME, "Acme  Example"),
    (NameOID.COMMON_NAME, "billing-service"),
]
SANS: list[x509.GeneralName] = [
    x509.DNSName("Billing.Example.COM"),
    x509.UniformResourceIdentifier("spiffe://example.com/billing"),
    x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
    x509.RFC822Name("ops@Example.com"),
]


def parsed(der: bytes) -> x509.Certificate:
    cert = load_cert(der)
    assert cert is not None
    return cert


DER, KEY = make_cert(SUBJECT, SANS)
CERT = parsed(DER)


@pytest.mark.parametrize(
    "dn",
    [
        "CN=billing-service,O=Acme  Example,C=DE",
        "cn=billing-service, o=acme example, c=de",  # names, case and spaces as X500Principal
        "CN=BILLING-SERVICE,O=Acme Example,C=DE",
        "2.5.4.3=billing-service,2.5.4.10=Acme Example,2.5.4.6=DE",
    ],
)
def test_subject_dn_matches_as_a_distinguished_name(dn: str) -> None:
    assert subject_matches(CERT, dn, None)


@pytest.mark.parametrize(
    "dn",
    [
        "CN=billing-service,O=Acme Example",  # an RDN missing
        "C=DE,O=Acme Example,CN=billing-service",  # reversed order
        "CN=billing-service,O=Acme Example,C=DE,DC=extra",
        "CN=billing,O=Acme Example,C=DE",
        "CN=billing-service+OU=x,O=Acme Example,C=DE",  # multi-valued RDN
        "CN=billing-service,OU=Acme Example,C=DE",  # another attribute type
        "not a dn",
    ],
)
def test_subject_dn_mismatch(dn: str) -> None:
    assert not subject_matches(CERT, dn, None)


def test_dn_string_compare_is_not_enough() -> None:
    """A DN whose string contains the registered one is another DN."""
    der, _ = make_cert([(NameOID.COMMON_NAME, "billing-service,O=Acme Example,C=DE")])
    cert = parsed(der)
    assert not subject_matches(cert, "CN=billing-service,O=Acme Example,C=DE", None)
    assert subject_matches(cert, r"CN=billing-service\,O=Acme Example\,C=DE", None)


def test_extra_attribute_names() -> None:
    der, _ = make_cert([(NameOID.EMAIL_ADDRESS, "a@example.com"), (NameOID.COMMON_NAME, "x")])
    cert = parsed(der)
    assert subject_matches(cert, "CN=x,EMAILADDRESS=a@example.com", None)
    assert subject_matches(cert, "CN=x,E=a@example.com", None)
    assert subject_matches(cert, "CN=x,1.2.840.113549.1.9.1=a@example.com", None)


@pytest.mark.parametrize(
    ("san", "ok"),
    [
        ("dns:billing.example.com", True),
        ("dns:BILLING.example.com.", True),
        ("dns:example.com", False),
        ("dns:*.example.com", False),
        ("uri:spiffe://example.com/billing", True),
        ("uri:spiffe://example.com/BILLING", False),
        ("ip:2001:db8:0::7", True),
        ("ip:2001:db8::8", False),
        ("email:ops@example.com", True),
        ("email:OPS@example.com", False),  # the local part keeps its case
    ],
)
def test_san_matching(san: str, ok: bool) -> None:
    assert subject_matches(CERT, None, san) is ok


def test_san_of_a_certificate_without_sans() -> None:
    der, _ = make_cert(SUBJECT)
    cert = parsed(der)
    assert not subject_matches(cert, None, "dns:billing.example.com")


def test_nothing_registered_never_matches_and_both_must_match() -> None:
    assert not subject_matches(CERT, None, None)
    dn = "CN=billing-service,O=Acme Example,C=DE"
    assert subject_matches(CERT, dn, "dns:billing.example.com")
    assert not subject_matches(CERT, dn, "dns:other.example.com")


def test_parsers() -> None:
    assert parse_san(" DNS:a.example ") == ("dns", "a.example")
    for bad in ("a.example", "dns:", "smtp:x", "ip:300.1.1.1"):
        with pytest.raises(ValueError, match=r"dns:|ip:"):
            parse_san(bad)
    assert parse_subject_dn("CN=x,O=y").rfc4514_string() == "CN=x,O=y"
    for bad in ("", "CN", "XX=1", "CN=x,,O=y"):
        with pytest.raises(ValueError, match="RFC 4514"):
            parse_subject_dn(bad)


def jwk_of(key: Any, **extra: Any) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECKey.import_key(public).as_dict(private=False)
    elif isinstance(public, rsa.RSAPublicKey):
        jwk = RSAKey.import_key(public).as_dict(private=False)
    else:
        jwk = OKPKey.import_key(public).as_dict(private=False)
    return {**jwk, **extra}


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP256R1()),
        rsa.generate_private_key(65537, 2048),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["ec", "rsa", "ed25519"],
)
def test_self_signed_by_public_key(key: Any) -> None:
    der, _ = make_cert([(NameOID.COMMON_NAME, "self")], key=key)
    cert = parsed(der)
    other = ec.generate_private_key(ec.SECP256R1())
    assert cert_matches_jwks(der, cert, {"keys": [jwk_of(other), jwk_of(key, kid="k1")]})
    assert not cert_matches_jwks(der, cert, {"keys": [jwk_of(other)]})
    assert not cert_matches_jwks(der, cert, None)
    assert not cert_matches_jwks(der, cert, {"keys": "nope"})


def test_self_signed_by_x5c() -> None:
    x5c = base64.b64encode(DER).decode()
    assert cert_matches_jwks(DER, CERT, {"keys": [jwk_of(KEY, x5c=[x5c])]})
    # another certificate in x5c, even of the same key, is not this one
    other_der, _ = make_cert([(NameOID.COMMON_NAME, "other")], key=KEY)
    other = base64.b64encode(other_der).decode()
    assert not cert_matches_jwks(DER, CERT, {"keys": [jwk_of(KEY, x5c=[other])]})
    assert not cert_matches_jwks(DER, CERT, {"keys": [{"kty": "EC", "x5c": ["!!"]}]})


# -- which method a request used ------------------------------------------------------------


def form(body: str) -> Any:
    return parse_form(body.encode())


def test_a_certificate_with_only_a_client_id_is_tls_client_auth() -> None:
    creds = extract_credentials(form("grant_type=client_credentials&client_id=svc"), None, "t", DER)
    assert (creds.method, creds.client_id, creds.cert) == ("tls_client_auth", "svc", DER)
    assert "cert=" not in repr(creds)  # never in logs or reprs


def test_without_a_certificate_a_client_id_alone_is_invalid_client() -> None:
    with pytest.raises(InvalidClient):
        extract_credentials(form("client_id=svc"), None, "t", None)
    with pytest.raises(InvalidClient):
        extract_credentials(form("grant_type=client_credentials"), None, "t", DER)


def test_other_methods_win_and_the_certificate_only_comes_along() -> None:
    creds = extract_credentials(form("client_id=svc&client_secret=s"), None, "t", DER)
    assert creds.method == "client_secret_post"
    basic = "Basic " + base64.b64encode(b"svc:s").decode()
    assert extract_credentials(form("grant_type=x"), basic, "t", DER).method == (
        "client_secret_basic"
    )
    with pytest.raises(InvalidRequest):
        extract_credentials(form("client_assertion_type=x&client_secret=s"), None, "t", DER)


# -- the authenticator ------------------------------------------------------------------------


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


DN = "CN=billing-service,O=Acme Example,C=DE"


@pytest.fixture
def admin(runtime: Runtime) -> Admin:
    admin = Admin(runtime.store, runtime.vault, runtime.settings)
    admin.create_tenant("acme")
    admin.create_client("acme", "by-dn", auth_method="tls_client_auth", tls_subject_dn=DN)
    admin.create_client(
        "acme", "by-san", auth_method="tls_client_auth", tls_san="dns:billing.example.com"
    )
    admin.create_client(
        "acme", "self", auth_method="self_signed_tls_client_auth", jwks={"keys": [jwk_of(KEY)]}
    )
    admin.create_client("acme", "off", auth_method="tls_client_auth", tls_subject_dn=DN)
    admin.set_client_enabled("acme", "off", False)
    admin.create_client("acme", "secret-client")
    return admin


def authenticate(runtime: Runtime, store: Any, client_id: str, der: bytes) -> str:
    directory = Directory(store, runtime.vault, runtime.settings)
    auth = ClientAuthenticator(directory)
    creds = extract_credentials(form(f"client_id={client_id}"), None, "acme", der)

    async def run() -> str:
        realm = await directory.realm("acme")
        assert realm is not None
        try:
            client = await auth.authenticate(realm, creds, 0)
        except InvalidClient as exc:
            return f"invalid_client {exc.status_code}"
        return client.client_id

    return anyio.run(run)


@pytest.mark.parametrize("client_id", ["by-dn", "by-san", "self"])
def test_certificate_clients_authenticate(runtime: Runtime, admin: Admin, client_id: str) -> None:
    assert authenticate(runtime, runtime.store, client_id, DER) == client_id


@pytest.mark.parametrize("client_id", ["by-dn", "by-san", "self", "off", "secret-client", "nobody"])
def test_failures_are_one_invalid_client(runtime: Runtime, admin: Admin, client_id: str) -> None:
    wrong, _ = make_cert([(NameOID.COMMON_NAME, "intruder")], [x509.DNSName("intruder.example")])
    der = DER if client_id in ("off", "secret-client", "nobody") else wrong
    assert authenticate(runtime, runtime.store, client_id, der) == "invalid_client 401"


def test_a_certificate_client_cannot_use_a_secret(runtime: Runtime, admin: Admin) -> None:
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    auth = ClientAuthenticator(directory)
    creds = extract_credentials(form("client_id=by-dn&client_secret=x"), None, "acme", DER)

    async def run() -> None:
        realm = await directory.realm("acme")
        assert realm is not None
        with pytest.raises(InvalidClient):
            await auth.authenticate(realm, creds, 0)

    anyio.run(run)


def test_known_and_unknown_ids_read_the_store_alike(runtime: Runtime, admin: Admin) -> None:
    wrong, _ = make_cert([(NameOID.COMMON_NAME, "intruder")])
    reads = []
    for client_id in ("by-dn", "nobody-1"):
        store = CountingStore(runtime.store)
        authenticate(runtime, store, client_id, wrong)
        reads.append(sorted(c for c in store.calls if c in {"get_clients", "client_stamps"}))
    assert reads[0] == reads[1] and reads[0]
