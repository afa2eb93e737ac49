"""tls_client_auth behind a proxy that does not check certificates (nginx's
``ssl_verify_client optional_no_ca``, which ``self_signed_tls_client_auth`` needs): with
``tls_client_ca`` set, realmgate itself requires a ``tls_client_auth`` certificate to be issued
by one of those CAs, so a self-made certificate with a registered subject is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from realmgate.server.settings import Settings
from tests.conformance.test_rfc8705_mtls import (
    SAN_DNS,
    ClientCert,
    Pki,
    assert_invalid_client,
    claims,
    leaf_of,
    nginx_header,
    pki,  # noqa: F401  (the module's fixture)
    proxied_server,
    token,
)
from tests.servers import Server


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory) -> ClientCert:
    """The registered subject (DN and SAN), but issued by a CA nobody trusts."""
    other = trustme.CA()
    cert = other.issue_cert(
        SAN_DNS,
        common_name="billing-service",
        organization_name="Acme Example",
        organization_unit_name="Billing",
    )
    return leaf_of(cert, tmp_path_factory.mktemp("forged"), "forged")


@pytest.fixture(scope="module")
def checking(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # noqa: F811
    srv = proxied_server(
        tmp_path_factory.mktemp("checking"),
        pki,
        "X-SSL-Client-Cert",
        {"REALMGATE_TLS_CLIENT_CA": str(pki.ca_file)},
    )
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def trusting(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # noqa: F811
    srv = proxied_server(tmp_path_factory.mktemp("trusting"), pki, "X-SSL-Client-Cert")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.parametrize("client_id", ["by-dn", "by-san"])
def test_a_certificate_of_another_ca_is_refused_with_tls_client_ca(
    checking: Server,
    pki: Pki,  # noqa: F811
    forged: ClientCert,
    client_id: str,
) -> None:
    assert claims(token(checking, client_id, headers=nginx_header(pki.billing)))["azp"] == client_id
    assert_invalid_client(token(checking, client_id, headers=nginx_header(forged)))


def test_self_signed_clients_still_work_with_tls_client_ca(checking: Server, pki: Pki) -> None:  # noqa: F811
    r = token(checking, "selfie", headers=nginx_header(pki.selfie))
    assert r.status_code == 200, r.text


def test_without_tls_client_ca_the_proxy_is_trusted(
    trusting: Server,
    pki: Pki,  # noqa: F811
    forged: ClientCert,
) -> None:
    """What docs/security.md says: without tls_client_ca, the proxy's check is all there is."""
    assert claims(token(trusting, "by-dn", headers=nginx_header(forged)))["azp"] == "by-dn"


def test_tls_client_ca_needs_a_listener_or_a_proxy_header(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="tls_client_ca"):
        Settings(data_dir=tmp_path, tls_client_ca=tmp_path / "ca.pem")
    ok = Settings(
        data_dir=tmp_path, tls_client_ca=tmp_path / "ca.pem", client_cert_header="X-SSL-Client-Cert"
    )
    assert ok.tls_client_ca == tmp_path / "ca.pem"
