"""Mutual TLS (RFC 8705) from a plain ``httpx`` client, no realmgate SDK: a client certificate
from a CA (``trustme``) in an ``ssl.SSLContext``, as any Python service would configure it,
against ``realmgate serve`` with ``tls_client_ca`` (realmgate's own TLS listener).

- ``tls_client_auth`` (§2.1): the form carries only ``client_id``; the certificate matches the
  registered SAN or subject DN (compared as names, so another spelling of the same DN works);
- certificate-bound tokens (§3): ``cnf.x5t#S256`` is the SHA-256 of the certificate's DER, the
  tenant API takes the token only over a connection with that certificate;
- a secret-authenticated client that must bind its tokens gets none without a certificate;
- with a DPoP proof too, the token is bound to both (``cnf.jkt`` and ``cnf.x5t#S256``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from realmgate.jose.dpop import jwk_thumbprint, make_proof, public_jwk_of
from tests import servers
from tests.integration.helpers import SETTINGS_PATH, unique_shortcode
from tests.servers import Credentials, Server

CLIENT_SAN = "svc.example"
OTHER_SAN = "other.example"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def client_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert(CLIENT_SAN, common_name="svc")


@pytest.fixture(scope="module")
def other_cert(ca: trustme.CA) -> trustme.LeafCert:
    """Another certificate of the same CA (a different client, or a thief's)."""
    return ca.issue_cert(OTHER_SAN, common_name="other")


@pytest.fixture(scope="module")
def mtls_server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with servers.mtls_server(ca, tmp_path_factory.mktemp("mtls")) as srv:
        yield srv


def tls_context(ca: trustme.CA, cert: trustme.LeafCert | None = None) -> ssl.SSLContext:
    """What a service does: trust the server's CA and, for mTLS, present its certificate."""
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    if cert is not None:
        cert.configure_cert(ctx)
    return ctx


def der(cert: trustme.LeafCert) -> bytes:
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    return leaf.public_bytes(Encoding.DER)


def x5t_s256(cert: trustme.LeafCert) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(der(cert)).digest()).rstrip(b"=").decode()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def create_client(server: Server, tenant: str, client_id: str, *options: str) -> Credentials:
    data = json.loads(server.cli("client", "create", tenant, client_id, "--json", *options).stdout)
    return Credentials(data["tenantShortcode"], data["clientId"], data.get("clientSecret") or "")


def token(server: Server, ctx: ssl.SSLContext, tenant: str, form: dict[str, str]) -> httpx.Response:
    with httpx.Client(verify=ctx, timeout=30) as http:
        return http.post(
            server.token_url(tenant), data={"grant_type": "client_credentials", **form}
        )


def settings(server: Server, ctx: ssl.SSLContext, access_token: str) -> httpx.Response:
    with httpx.Client(verify=ctx, timeout=30) as http:
        return http.get(
            f"{server.base_url}{SETTINGS_PATH}",
            headers={"Authorization": f"Bearer {access_token}"},
        )


@pytest.fixture(scope="module")
def tenant(mtls_server: Server) -> str:
    return mtls_server.create_tenant(unique_shortcode("mtls")).tenant


def test_tls_client_auth_by_san_gets_a_cert_bound_token_used_at_the_api(
    mtls_server: Server,
    tenant: str,
    ca: trustme.CA,
    client_cert: trustme.LeafCert,
    other_cert: trustme.LeafCert,
) -> None:
    creds = create_client(
        mtls_server,
        tenant,
        "svc-san",
        "--auth-method",
        "tls_client_auth",
        "--tls-san",
        f"dns:{CLIENT_SAN}",
        "--binding",
        "cert",
    )
    with_cert = tls_context(ca, client_cert)
    r = token(mtls_server, with_cert, tenant, {"client_id": creds.client_id})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer"  # RFC 8705 §3: the type stays Bearer
    access_token = body["access_token"]
    assert claims(access_token)["cnf"] == {"x5t#S256": x5t_s256(client_cert)}

    # the tenant API over a connection with the same certificate
    ok = settings(mtls_server, with_cert, access_token)
    assert ok.status_code == 200, ok.text
    assert ok.json()["data"]["shortcode"] == tenant
    # without a certificate, or with another one of the same CA: refused
    for ctx in (tls_context(ca), tls_context(ca, other_cert)):
        refused = settings(mtls_server, ctx, access_token)
        assert refused.status_code == 401, refused.text
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
        assert refused.json()["status"] == "fail"


def test_tls_client_auth_by_subject_dn_compares_names(
    mtls_server: Server, tenant: str, ca: trustme.CA, client_cert: trustme.LeafCert
) -> None:
    subject = x509.load_pem_x509_certificate(client_cert.cert_chain_pems[0].bytes()).subject
    # RFC 4514 as cryptography prints it, respelled with attribute types as OIDs (RFC 4514
    # §3, numericoid): the same distinguished name, another string
    printed = subject.rfc4514_string()  # CN=svc,OU=Testing cert #...,O=trustme ...
    spelled = printed.replace("CN=", "2.5.4.3=", 1).replace("OU=", "2.5.4.11=", 1)
    assert spelled != printed
    creds = create_client(
        mtls_server,
        tenant,
        "svc-dn",
        "--auth-method",
        "tls_client_auth",
        "--tls-subject-dn",
        spelled,
    )
    r = token(mtls_server, tls_context(ca, client_cert), tenant, {"client_id": creds.client_id})
    assert r.status_code == 200, r.text
    # not bound (no --binding cert): a plain bearer token without cnf
    assert "cnf" not in claims(r.json()["access_token"])


def test_tls_client_auth_refuses_another_certificate_and_none(
    mtls_server: Server,
    tenant: str,
    ca: trustme.CA,
    other_cert: trustme.LeafCert,
) -> None:
    creds = create_client(
        mtls_server,
        tenant,
        "svc-refused",
        "--auth-method",
        "tls_client_auth",
        "--tls-san",
        f"dns:{CLIENT_SAN}",
    )
    for ctx in (tls_context(ca, other_cert), tls_context(ca)):
        r = token(mtls_server, ctx, tenant, {"client_id": creds.client_id})
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "invalid_client"


def test_a_secret_client_with_cert_binding_needs_a_certificate(
    mtls_server: Server, tenant: str, ca: trustme.CA, client_cert: trustme.LeafCert
) -> None:
    creds = create_client(mtls_server, tenant, "svc-secret", "--binding", "cert")
    assert creds.client_secret
    form = {"client_id": creds.client_id, "client_secret": creds.client_secret}

    r = token(mtls_server, tls_context(ca, client_cert), tenant, form)
    assert r.status_code == 200, r.text
    assert claims(r.json()["access_token"])["cnf"] == {"x5t#S256": x5t_s256(client_cert)}

    r = token(mtls_server, tls_context(ca), tenant, form)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_request"
    assert r.json()["error_description"] == (
        "Client Certification missing for MTLS HoK Token Binding"
    )


def test_discovery_announces_mtls(mtls_server: Server, tenant: str, ca: trustme.CA) -> None:
    with httpx.Client(verify=tls_context(ca), timeout=30) as http:
        meta = http.get(
            f"{mtls_server.base_url}/realms/{tenant}/.well-known/openid-configuration"
        ).json()
    assert meta["tls_client_certificate_bound_access_tokens"] is True
    assert "tls_client_auth" in meta["token_endpoint_auth_methods_supported"]


def test_a_certificate_of_another_ca_fails_the_handshake(
    mtls_server: Server, tenant: str, ca: trustme.CA
) -> None:
    """realmgate's own listener: Python's ``ssl`` verifies every certificate it is shown
    against ``tls_client_ca``, so a certificate of another CA ends the handshake (the client
    sees a transport error, never an HTTP answer) and never reaches client authentication."""
    stranger = trustme.CA().issue_cert(CLIENT_SAN, common_name="svc")
    with pytest.raises(httpx.TransportError):
        token(mtls_server, tls_context(ca, stranger), tenant, {"client_id": "svc-san"})


def test_dpop_and_certificate_together_bind_the_token_to_both(
    mtls_server: Server, tenant: str, ca: trustme.CA, client_cert: trustme.LeafCert
) -> None:
    """A certificate-bound client that also sends a DPoP proof gets both confirmations
    (``cnf.jkt`` and ``cnf.x5t#S256``, ``token_type`` DPoP); the API then wants both."""
    creds = create_client(mtls_server, tenant, "svc-both", "--binding", "cert")
    key = ec.generate_private_key(ec.SECP256R1())
    url = mtls_server.token_url(tenant)
    with_cert = tls_context(ca, client_cert)
    with httpx.Client(verify=with_cert, timeout=30) as http:
        r = http.post(
            url,
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
            headers={"DPoP": make_proof(key, method="POST", url=url)},
        )
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    access_token = r.json()["access_token"]
    assert claims(access_token)["cnf"] == {
        "jkt": jwk_thumbprint(public_jwk_of(key)),
        "x5t#S256": x5t_s256(client_cert),
    }

    api = f"{mtls_server.base_url}{SETTINGS_PATH}"

    def call(ctx: ssl.SSLContext) -> httpx.Response:
        proof = make_proof(key, method="GET", url=api, access_token=access_token)
        with httpx.Client(verify=ctx, timeout=30) as http:
            return http.get(api, headers={"Authorization": f"DPoP {access_token}", "DPoP": proof})

    assert call(with_cert).status_code == 200
    refused = call(tls_context(ca))  # the right proof, but no certificate
    assert refused.status_code == 401, refused.text
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
