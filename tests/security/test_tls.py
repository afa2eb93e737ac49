"""TLS: ``serve --tls-cert --tls-key`` with a generated CA; TLS 1.2 or newer only; exposure
rules for non-loopback addresses."""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

from tests.servers import Server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA, tmp_path: Path) -> Iterator[Server]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    srv = Server(
        tmp_path / "data",
        None,
        extra_env={"REALMGATE_TLS_CERT": str(cert_file), "REALMGATE_TLS_KEY": str(key_file)},
        scheme="https",
        verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")),
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_token_and_api_over_tls(tls_server: Server, tmp_path: Path) -> None:
    demo = tls_server.demo
    assert demo is not None
    verify = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    r = httpx.post(
        tls_server.token_url(demo.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
        },
        verify=verify,
    )
    assert r.status_code == 200
    discovery = httpx.get(
        f"{tls_server.base_url}/realms/{demo.tenant}/.well-known/openid-configuration",
        verify=verify,
    ).json()
    assert discovery["issuer"] == f"https://127.0.0.1:{tls_server.port}/realms/{demo.tenant}"
    s = httpx.get(
        f"{tls_server.base_url}/v2/tenants/current/settings",
        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        verify=verify,
    )
    assert s.status_code == 200


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused(
    tls_server: Server, tmp_path: Path, version: ssl.TLSVersion
) -> None:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_server.base_url}/health/live", verify=ctx)


def test_tls_1_2_is_accepted(tls_server: Server, tmp_path: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert httpx.get(f"{tls_server.base_url}/health/live", verify=ctx).status_code == 200


def test_plain_http_is_refused_on_a_tls_port(tls_server: Server) -> None:
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/health/live", timeout=5)


def _serve(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "realmgate", "serve", "--data-dir", str(tmp_path / "d"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )


def test_non_loopback_without_tls_is_refused(tmp_path: Path) -> None:
    result = _serve("--host", "0.0.0.0", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "refusing to serve plain HTTP on 0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_loopback_needs_the_public_issuer_url(tmp_path: Path) -> None:
    result = _serve("--host", "0.0.0.0", "--insecure-http", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "--issuer-base-url" in result.stderr


def test_half_a_tls_configuration_is_refused(tmp_path: Path) -> None:
    result = _serve("--tls-cert", str(tmp_path / "c.pem"), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "both --tls-cert and --tls-key" in result.stderr
