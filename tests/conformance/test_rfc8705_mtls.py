"""Mutual TLS (RFC 8705) on real servers: client authentication with ``tls_client_auth`` (by
subject DN and by SAN) and ``self_signed_tls_client_auth``, and certificate-bound access tokens
(``cnf.x5t#S256``) at the tenant API, over realmgate's own TLS listener (``tls_client_ca``) and
through a TLS-terminating proxy's header (nginx's ``$ssl_client_escaped_cert``, Envoy's
``x-forwarded-client-cert``), which is believed only from the configured proxies.

The proxy is played by the test: it connects from 127.0.0.1 (a trusted proxy address) and sets
the header as nginx or Envoy would; connections from 127.0.0.2 are an untrusted peer.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID
from joserfc.jwk import ECKey

from realmgate.verifier._certs import cert_thumbprint
from tests.integration.helpers import SETTINGS_PATH, assert_oauth_error, jwt_parts
from tests.servers import Server

DN = "CN=billing-service,OU=Billing,O=Acme Example"
SAN_DNS = "billing.example.com"
UNTRUSTED = "127.0.0.2"  # a loopback source address that is not a configured proxy


@dataclass(frozen=True)
class ClientCert:
    """A client certificate: PEM and DER, and the files of its chain and key."""

    pem: str
    der: bytes
    cert_file: Path
    key_file: Path

    @property
    def thumbprint(self) -> str:
        return cert_thumbprint(self.der)

    def context(self, ca_file: Path) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(ca_file))
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        return ctx


def leaf_of(cert: trustme.LeafCert, directory: Path, name: str) -> ClientCert:
    pem = cert.cert_chain_pems[0].bytes().decode()
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    return ClientCert(pem, der, cert_file, key_file)


def self_signed(directory: Path, name: str) -> tuple[ClientCert, dict[str, Any]]:
    """A self-signed certificate, its files, and the public JWK of its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(Encoding.PEM).decode()
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    jwk = {**ECKey.import_key(key.public_key()).as_dict(private=False), "kid": name, "use": "sig"}
    return ClientCert(pem, cert.public_bytes(Encoding.DER), cert_file, key_file), jwk


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    server_cert: Path
    server_key: Path
    billing: ClientCert  # CA-issued: DN and SAN as registered
    intruder: ClientCert  # CA-issued, another subject
    selfie: ClientCert  # self-signed, its key registered
    stranger: ClientCert  # self-signed, not registered
    jwks_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    billing = ca.issue_cert(
        SAN_DNS,
        common_name="billing-service",
        organization_name="Acme Example",
        organization_unit_name="Billing",
    )
    intruder = ca.issue_cert(
        "intruder.example.com",
        common_name="billing-service",
        organization_name="Evil Example",
        organization_unit_name="Billing",
    )
    selfie, jwk = self_signed(d, "selfie")
    stranger, _ = self_signed(d, "stranger")
    (d / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return Pki(
        d / "ca.pem",
        d / "server.pem",
        d / "server.key",
        leaf_of(billing, d, "billing"),
        leaf_of(intruder, d, "intruder"),
        selfie,
        stranger,
        d / "jwks.json",
    )


def make_clients(server: Server, pki: Pki) -> None:
    def create(client_id: str, *args: str) -> None:
        out = json.loads(server.cli("client", "create", "demo", client_id, "--json", *args).stdout)
        assert "clientSecret" not in out  # no secret authentication for these clients

    create("by-dn", "--auth-method", "tls_client_auth", "--tls-subject-dn", DN)
    create("by-san", "--auth-method", "tls_client_auth", "--tls-san", f"dns:{SAN_DNS}")
    create("wrong-dn", "--auth-method", "tls_client_auth", "--tls-subject-dn", "CN=someone,O=Else")
    create(
        "bound",
        "--auth-method", "tls_client_auth", "--tls-subject-dn", DN, "--binding", "cert",
    )  # fmt: skip
    create(
        "selfie",
        "--auth-method", "self_signed_tls_client_auth", "--jwks-file", str(pki.jwks_file),
        "--binding", "cert",
    )  # fmt: skip


@pytest.fixture(scope="module")
def own(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """realmgate's own TLS listener, asking for client certificates of the test CA."""
    srv = Server(
        tmp_path_factory.mktemp("own"),
        None,
        extra_env={
            "REALMGATE_TLS_CERT": str(pki.server_cert),
            "REALMGATE_TLS_KEY": str(pki.server_key),
            "REALMGATE_TLS_CLIENT_CA": str(pki.ca_file),
        },
        scheme="https",
        verify=ssl.create_default_context(cafile=str(pki.ca_file)),
    )
    srv.start()
    try:
        make_clients(srv, pki)
        yield srv
    finally:
        srv.stop()


def proxied_server(
    directory: Path, pki: Pki, header: str, extra: dict[str, str] | None = None
) -> Server:
    srv = Server(
        directory,
        None,
        extra_env={
            "REALMGATE_CLIENT_CERT_HEADER": header,
            "REALMGATE_CLIENT_CERT_PROXIES": "127.0.0.1, ::1",
            **(extra or {}),
        },
    )
    srv.start()
    make_clients(srv, pki)
    return srv


@pytest.fixture(scope="module")
def nginx(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Behind nginx: ``proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;``. uvicorn
    also believes X-Forwarded-For from 127.0.0.2 (``forwarded_allow_ips``), which must not make
    a request from there look like one from the proxy."""
    srv = proxied_server(
        tmp_path_factory.mktemp("nginx"),
        pki,
        "X-SSL-Client-Cert",
        {"REALMGATE_FORWARDED_ALLOW_IPS": UNTRUSTED},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def envoy(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Behind Envoy: ``forward_client_cert_details: SANITIZE_SET`` with ``cert: true``."""
    srv = proxied_server(tmp_path_factory.mktemp("envoy"), pki, "x-forwarded-client-cert")
    try:
        yield srv
    finally:
        srv.stop()


def nginx_header(cert: ClientCert) -> dict[str, str]:
    return {"X-SSL-Client-Cert": quote(cert.pem, safe="")}


def xfcc(*certs: ClientCert) -> dict[str, str]:
    elements = [
        f'Hash={hashlib.sha256(c.der).hexdigest()};Cert="{quote(c.pem, safe="")}";'
        f'Subject="CN=x,O=y";DNS={SAN_DNS}'
        for c in certs
    ]
    return {"x-forwarded-client-cert": ",".join(elements)}


def http(source: str = "127.0.0.1", verify: ssl.SSLContext | bool = True) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(local_address=source, verify=verify), timeout=10
    )


def token(
    server: Server,
    client_id: str,
    *,
    client: httpx.Client | None = None,
    headers: dict[str, str] | None = None,
    **form: str,
) -> httpx.Response:
    data = {"grant_type": "client_credentials", "client_id": client_id, **form}
    with client or http() as c:
        return c.post(server.token_url("demo"), data=data, headers=headers or {})


def own_client(pki: Pki, cert: ClientCert | None) -> httpx.Client:
    ctx = cert.context(pki.ca_file) if cert else ssl.create_default_context(cafile=str(pki.ca_file))
    return httpx.Client(verify=ctx, timeout=10)


def assert_token(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["token_type"] == "Bearer"
    return body


def claims(r: httpx.Response) -> dict[str, Any]:
    return jwt_parts(assert_token(r)["access_token"])[1]


def assert_invalid_client(r: httpx.Response) -> None:
    assert_oauth_error(r, 401, "invalid_client")


# -- realmgate's own TLS listener -----------------------------------------------------------


@pytest.mark.parametrize("client_id", ["by-dn", "by-san"])
def test_tls_client_auth_on_the_own_listener(own: Server, pki: Pki, client_id: str) -> None:
    c = claims(token(own, client_id, client=own_client(pki, pki.billing)))
    assert c["azp"] == client_id
    assert "cnf" not in c  # not a certificate-bound client


@pytest.mark.parametrize("client_id", ["wrong-dn", "by-dn", "by-san"])
def test_a_certificate_of_another_subject_is_invalid_client(
    own: Server, pki: Pki, client_id: str
) -> None:
    cert = pki.billing if client_id == "wrong-dn" else pki.intruder
    assert_invalid_client(token(own, client_id, client=own_client(pki, cert)))


def test_without_a_certificate_a_certificate_client_is_invalid_client(
    own: Server, pki: Pki
) -> None:
    assert_invalid_client(token(own, "by-dn", client=own_client(pki, None)))


def test_certificates_stay_optional_for_secret_clients(own: Server, pki: Pki) -> None:
    demo = own.demo
    assert demo is not None
    for cert in (None, pki.billing):
        r = token(
            own, demo.client_id, client=own_client(pki, cert), client_secret=demo.client_secret
        )
        assert "cnf" not in claims(r)


def test_a_certificate_client_cannot_use_a_secret_or_another_clients_id(
    own: Server, pki: Pki
) -> None:
    demo = own.demo
    assert demo is not None
    r = token(own, "by-dn", client=own_client(pki, pki.billing), client_secret="x")
    assert_invalid_client(r)
    # the demo client (a secret client) is not authenticated by a certificate
    assert_invalid_client(token(own, demo.client_id, client=own_client(pki, pki.billing)))


def test_a_self_signed_certificate_is_refused_by_the_handshake(own: Server, pki: Pki) -> None:
    """Python's ssl verifies every certificate a client presents against tls_client_ca: a
    self-signed one fails the handshake (self_signed_tls_client_auth needs a proxy that asks
    for any certificate, see the proxy tests); the server keeps serving."""
    with pytest.raises(httpx.TransportError):
        token(own, "selfie", client=own_client(pki, pki.selfie))
    r = token(own, "by-dn", client=own_client(pki, pki.billing))
    assert r.status_code == 200


def test_certificate_bound_token_on_the_own_listener(own: Server, pki: Pki) -> None:
    r = token(own, "bound", client=own_client(pki, pki.billing))
    access = assert_token(r)["access_token"]
    assert claims(r)["cnf"] == {"x5t#S256": pki.billing.thumbprint}
    api = f"{own.base_url}{SETTINGS_PATH}"
    auth = {"Authorization": f"Bearer {access}"}
    with own_client(pki, pki.billing) as c:
        assert c.get(api, headers=auth).status_code == 200
    for other in (pki.intruder, None):
        with own_client(pki, other) as c:
            refused = c.get(api, headers=auth)
        assert refused.status_code == 401, refused.text
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def test_a_certificate_bound_client_needs_a_certificate(own: Server, pki: Pki) -> None:
    """A secret client whose tokens are certificate-bound: without a certificate Keycloak's
    400 invalid_request; with one, its token is bound to it."""
    out = own.cli("client", "create", "demo", "bound-secret", "--binding", "cert", "--json")
    secret = json.loads(out.stdout)["clientSecret"]
    r = token(own, "bound-secret", client=own_client(pki, None), client_secret=secret)
    body = assert_oauth_error(r, 400, "invalid_request")
    assert body["error_description"] == "Client Certification missing for MTLS HoK Token Binding"
    r = token(own, "bound-secret", client=own_client(pki, pki.intruder), client_secret=secret)
    assert claims(r)["cnf"] == {"x5t#S256": pki.intruder.thumbprint}


# -- behind a proxy: nginx ------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["by-dn", "by-san"])
def test_tls_client_auth_through_nginx(nginx: Server, pki: Pki, client_id: str) -> None:
    assert claims(token(nginx, client_id, headers=nginx_header(pki.billing)))["azp"] == client_id
    assert_invalid_client(token(nginx, client_id, headers=nginx_header(pki.intruder)))


def test_the_header_of_an_untrusted_peer_is_ignored(nginx: Server, pki: Pki) -> None:
    r = token(nginx, "by-dn", client=http(UNTRUSTED), headers=nginx_header(pki.billing))
    assert_invalid_client(r)
    # X-Forwarded-For from there (believed for the client address) does not make it a proxy
    spoof = {**nginx_header(pki.billing), "X-Forwarded-For": "127.0.0.1"}
    assert_invalid_client(token(nginx, "by-dn", client=http(UNTRUSTED), headers=spoof))


def test_self_signed_tls_client_auth_through_nginx(nginx: Server, pki: Pki) -> None:
    r = token(nginx, "selfie", headers=nginx_header(pki.selfie))
    assert claims(r)["cnf"] == {"x5t#S256": pki.selfie.thumbprint}
    assert_invalid_client(token(nginx, "selfie", headers=nginx_header(pki.stranger)))
    assert_invalid_client(token(nginx, "selfie", headers=nginx_header(pki.billing)))


def test_a_malformed_or_doubled_header_is_no_certificate(nginx: Server, pki: Pki) -> None:
    for value in ("-", "%%%", "garbage", quote(pki.billing.pem + pki.intruder.pem, safe="")):
        assert_invalid_client(token(nginx, "by-dn", headers={"X-SSL-Client-Cert": value}))
    with http() as c:
        r = c.post(
            nginx.token_url("demo"),
            data={"grant_type": "client_credentials", "client_id": "by-dn"},
            headers=[
                ("X-SSL-Client-Cert", quote(pki.billing.pem, safe="")),
                ("X-SSL-Client-Cert", quote(pki.billing.pem, safe="")),
            ],
        )
    assert_invalid_client(r)


def test_certificate_bound_token_through_nginx(nginx: Server, pki: Pki) -> None:
    r = token(nginx, "bound", headers=nginx_header(pki.billing))
    access = assert_token(r)["access_token"]
    assert claims(r)["cnf"] == {"x5t#S256": pki.billing.thumbprint}
    api = f"{nginx.base_url}{SETTINGS_PATH}"
    auth = {"Authorization": f"Bearer {access}"}
    with http() as c:
        assert c.get(api, headers={**auth, **nginx_header(pki.billing)}).status_code == 200
        assert c.get(api, headers={**auth, **nginx_header(pki.intruder)}).status_code == 401
        assert c.get(api, headers=auth).status_code == 401
    with http(UNTRUSTED) as c:  # the right certificate, from a peer that is not the proxy
        assert c.get(api, headers={**auth, **nginx_header(pki.billing)}).status_code == 401


# -- behind a proxy: Envoy ------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["by-dn", "by-san"])
def test_tls_client_auth_through_envoy(envoy: Server, pki: Pki, client_id: str) -> None:
    assert claims(token(envoy, client_id, headers=xfcc(pki.billing)))["azp"] == client_id
    assert_invalid_client(token(envoy, client_id, headers=xfcc(pki.intruder)))


def test_envoy_header_with_several_elements_is_no_certificate(envoy: Server, pki: Pki) -> None:
    """APPEND_FORWARD: which element no client wrote depends on the proxies; refused."""
    assert_invalid_client(token(envoy, "by-dn", headers=xfcc(pki.intruder, pki.billing)))
    assert_invalid_client(token(envoy, "by-dn", headers=xfcc(pki.billing, pki.intruder)))


def test_envoy_untrusted_peer_and_bound_token(envoy: Server, pki: Pki) -> None:
    assert_invalid_client(token(envoy, "by-dn", client=http(UNTRUSTED), headers=xfcc(pki.billing)))
    r = token(envoy, "selfie", headers=xfcc(pki.selfie))
    access = assert_token(r)["access_token"]
    api = f"{envoy.base_url}{SETTINGS_PATH}"
    auth = {"Authorization": f"Bearer {access}"}
    with http() as c:
        assert c.get(api, headers={**auth, **xfcc(pki.selfie)}).status_code == 200
        assert c.get(api, headers={**auth, **xfcc(pki.stranger)}).status_code == 401


# -- introspection and discovery ------------------------------------------------------------


def test_introspection_by_a_certificate_client_shows_the_binding(nginx: Server, pki: Pki) -> None:
    """A tls_client_auth client authenticates at introspection with its certificate too, and
    sees the token's cnf (RFC 7662, RFC 8705 §3.2)."""
    access = assert_token(token(nginx, "bound", headers=nginx_header(pki.billing)))["access_token"]
    url = f"{nginx.base_url}/realms/demo/protocol/openid-connect/token/introspect"
    with http() as c:
        r = c.post(
            url, data={"client_id": "by-dn", "token": access}, headers=nginx_header(pki.billing)
        )
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True
        assert r.json()["cnf"] == {"x5t#S256": pki.billing.thumbprint}
        refused = c.post(
            url, data={"client_id": "by-dn", "token": access}, headers=nginx_header(pki.intruder)
        )
    assert_invalid_client(refused)


def test_discovery_lists_the_mtls_methods(own: Server, pki: Pki) -> None:
    with own_client(pki, None) as c:
        meta = c.get(f"{own.base_url}/realms/demo/.well-known/openid-configuration").json()
    assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    assert meta["tls_client_certificate_bound_access_tokens"] is True
