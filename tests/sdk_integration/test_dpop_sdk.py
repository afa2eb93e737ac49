"""The SDK's sender-constrained tokens against a real server: DPoP-bound tokens (RFC 9449) at
the token endpoint and the tenant API, with and without server nonces, the CLI's
``--dpop-key``, and mutual TLS client authentication with a certificate-bound token (RFC 8705).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from realmgate.client import (
    ApiAuthError,
    AsyncTenantApiClient,
    AsyncTokenProvider,
    DpopKey,
    TenantApiClient,
    TokenProvider,
    TokenRequestError,
)
from tests import servers
from tests.sdk_integration.support import unique_shortcode
from tests.servers import Credentials, Server, postgres_database

SETTINGS_PATH = "/v2/tenants/current/settings"


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def provider(server: Server, creds: Credentials, **kwargs: Any) -> TokenProvider:
    return TokenProvider(
        sso_base_url=server.base_url,
        tenant=creds.tenant,
        client_id=creds.client_id,
        client_secret=creds.client_secret,
        **kwargs,
    )


@pytest.fixture
def key() -> DpopKey:
    return DpopKey.generate()


def test_dpop_token_and_tenant_api(server: Server, tenant: Credentials, key: DpopKey) -> None:
    with provider(server, tenant, dpop_key=key) as tokens:
        token = tokens.get_token()
        assert token.token_type == "DPoP"
        assert claims(token.value)["cnf"] == {"jkt": key.jkt}
        with TenantApiClient(server.base_url, tokens) as api:
            assert api.get_settings().shortcode == tenant.tenant
            assert api.update_settings(duplicate_check=True).duplicate_check is True
        # The token without its key: refused as a bearer token and with another key's proof.
        url = server.base_url + SETTINGS_PATH
        stolen = httpx.get(url, headers={"Authorization": f"Bearer {token.value}"})
        assert stolen.status_code == 401
        assert stolen.headers["WWW-Authenticate"].startswith("DPoP")
        other = DpopKey.generate("EdDSA").proof("GET", url, access_token=token.value)
        thief = httpx.get(url, headers={"Authorization": f"DPoP {token.value}", "DPoP": other})
        assert thief.status_code == 401


def test_async_dpop(server: Server, tenant: Credentials, key: DpopKey) -> None:
    async def main() -> str:
        async with AsyncTokenProvider(
            sso_base_url=server.base_url,
            tenant=tenant.tenant,
            client_id=tenant.client_id,
            client_secret=tenant.client_secret,
            dpop_key=key,
        ) as tokens:
            async with AsyncTenantApiClient(server.base_url, tokens) as api:
                settings = await api.get_settings()
            return settings.shortcode

    assert asyncio.run(main()) == tenant.tenant


def test_bearer_client_is_unchanged(server: Server, tenant: Credentials) -> None:
    with provider(server, tenant) as tokens:
        token = tokens.get_token()
        assert token.token_type == "Bearer"
        assert "cnf" not in claims(token.value)
        with TenantApiClient(server.base_url, tokens) as api:
            assert api.get_settings().shortcode == tenant.tenant


def test_dpop_bound_client_needs_a_key(server: Server, key: DpopKey) -> None:
    shortcode = unique_shortcode()
    server.create_tenant(shortcode)
    bound = server.create_client(shortcode, "bound-svc")
    server.cli("client", "set", shortcode, "bound-svc", "--binding", "dpop")
    with provider(server, bound) as tokens, pytest.raises(TokenRequestError) as info:
        tokens.get_token()
    assert info.value.error == "invalid_dpop_proof"
    with provider(server, bound, dpop_key=key) as tokens:
        assert tokens.get_token().token_type == "DPoP"


# --------------------------------------------------------------------------- nonces


@pytest.fixture(scope="module")
def nonce_server(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that wants DPoP nonces (``dpop_nonce``)."""
    data_dir = tmp_path_factory.mktemp(f"nonce-{backend}")
    env = {"REALMGATE_DPOP_NONCE": "true"}
    if backend == "postgres":
        with postgres_database() as url:
            srv = Server(data_dir, url, env)
            srv.start()
            try:
                yield srv
            finally:
                srv.stop()
    else:
        srv = Server(data_dir, None, env)
        srv.start()
        try:
            yield srv
        finally:
            srv.stop()


def test_nonces_are_learned_and_used(nonce_server: Server, key: DpopKey) -> None:
    creds = nonce_server.create_tenant(unique_shortcode())
    seen: list[tuple[int, str | None]] = []

    def record(response: httpx.Response) -> None:
        seen.append((response.status_code, response.headers.get("DPoP-Nonce")))

    with (
        httpx.Client(event_hooks={"response": [record]}, timeout=10) as http,
        provider(nonce_server, creds, dpop_key=key, http_client=http) as tokens,
    ):
        token = tokens.get_token()
        assert token.is_dpop
        # The first proof had no nonce: one 400 use_dpop_nonce, then a token.
        assert [status for status, _ in seen] == [400, 200]
        with TenantApiClient(nonce_server.base_url, tokens, http_client=http) as api:
            assert api.get_settings().shortcode == creds.tenant
            assert api.get_settings().shortcode == creds.tenant
    # The tenant API: at most one 401 use_dpop_nonce (none if it takes the token endpoint's
    # nonce, which the SDK keeps per origin); the second call uses the nonce at once.
    assert [status for status, _ in seen][2:] in ([200, 200], [401, 200, 200])


# --------------------------------------------------------------------------- CLI


def run_cli(server: Server, creds: Credentials, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
    env.update(
        REALMGATE_SSO_URL=server.base_url,
        REALMGATE_API_URL=server.base_url,
        REALMGATE_TENANT=creds.tenant,
        REALMGATE_CLIENT_ID=creds.client_id,
        REALMGATE_CLIENT_SECRET=creds.client_secret,
    )
    return subprocess.run(
        [sys.executable, "-m", "realmgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_dpop_key(server: Server, tenant: Credentials, tmp_path: Path) -> None:
    path = tmp_path / "dpop.pem"
    first = run_cli(server, tenant, "token", "--dpop-key", str(path))
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = DpopKey.load(path)
    assert claims(first.stdout.strip())["cnf"] == {"jkt": key.jkt}
    assert first.stderr.startswith("token_type: DPoP")
    second = run_cli(server, tenant, "token", "--dpop-key", str(path), "--json")
    assert second.returncode == 0, second.stderr
    body = json.loads(second.stdout)
    assert body["token_type"] == "DPoP"
    assert claims(body["access_token"])["cnf"] == {"jkt": key.jkt}  # the same key again
    settings = run_cli(server, tenant, "api", "settings", "get", "--json", "--dpop-key", str(path))
    assert settings.returncode == 0, settings.stderr
    assert json.loads(settings.stdout)["shortcode"] == tenant.tenant
    os.chmod(path, 0o644)
    refused = run_cli(server, tenant, "token", "--dpop-key", str(path))
    assert refused.returncode == 2
    assert "chmod 600" in refused.stderr and refused.stdout == ""


# --------------------------------------------------------------------------- mutual TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def mtls_server(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """HTTPS with client certificates from ``ca`` (SQLite: the listener is what is tested)."""
    with servers.mtls_server(ca, tmp_path_factory.mktemp("mtls")) as srv:
        yield srv


def tls_client(ca: trustme.CA, common_name: str) -> tuple[httpx.Client, x509.Certificate]:
    """An httpx client presenting a certificate for ``common_name`` (and the certificate)."""
    leaf = ca.issue_cert(f"{common_name}.example.com", common_name=common_name)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    leaf.configure_cert(context)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    return httpx.Client(verify=context, timeout=10), cert


def test_tls_client_auth_and_cert_bound_token(mtls_server: Server, ca: trustme.CA) -> None:
    shortcode = unique_shortcode()
    mtls_server.create_tenant(shortcode)
    http, cert = tls_client(ca, "mtls-svc")
    mtls_server.cli(
        "client", "create", shortcode, "mtls-svc", "--auth-method", "tls_client_auth",
        "--tls-subject-dn", cert.subject.rfc4514_string(), "--binding", "cert",
        "--role", "tenant-admin",
    )  # fmt: skip
    der = cert.public_bytes(Encoding.DER)
    with http:
        tokens = TokenProvider(
            sso_base_url=mtls_server.base_url,
            tenant=shortcode,
            client_id="mtls-svc",
            auth_method="tls_client_auth",
            http_client=http,
        )
        token = tokens.get_token()
        assert token.token_type == "Bearer"
        thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
        assert claims(token.value)["cnf"] == {"x5t#S256": thumbprint}
        with TenantApiClient(mtls_server.base_url, tokens, http_client=http) as api:
            assert api.get_settings().shortcode == shortcode
        # Another certificate (same CA, other name): not this client, and not the token's.
        other, _ = tls_client(ca, "someone-else")
        with other:
            stranger = TokenProvider(
                sso_base_url=mtls_server.base_url,
                tenant=shortcode,
                client_id="mtls-svc",
                auth_method="tls_client_auth",
                http_client=other,
            )
            with pytest.raises(TokenRequestError) as info:
                stranger.get_token()
            assert info.value.error == "invalid_client"
            api = TenantApiClient(mtls_server.base_url, tokens, http_client=other)
            with pytest.raises(ApiAuthError):
                api.get_settings()


def test_cli_mutual_tls(mtls_server: Server, ca: trustme.CA, tmp_path: Path) -> None:
    shortcode = unique_shortcode()
    mtls_server.create_tenant(shortcode)
    leaf = ca.issue_cert("cli-svc.example.com", common_name="cli-svc")
    cert_file, key_file, ca_file = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    leaf.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    mtls_server.cli(
        "client", "create", shortcode, "cli-svc", "--auth-method", "tls_client_auth",
        "--tls-san", "dns:cli-svc.example.com", "--binding", "dpop+cert",
    )  # fmt: skip
    creds = Credentials(shortcode, "cli-svc", "")
    tls = ["--cert", str(cert_file), "--key", str(key_file), "--ca-file", str(ca_file)]
    dpop = ["--dpop-key", str(tmp_path / "dpop.pem")]
    args = ["token", "--auth-method", "tls_client_auth", "--json", *tls, *dpop]
    result = run_cli(mtls_server, creds, *args)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["token_type"] == "DPoP"
    der = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).public_bytes(Encoding.DER)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    key = DpopKey.load(tmp_path / "dpop.pem")
    assert claims(body["access_token"])["cnf"] == {"jkt": key.jkt, "x5t#S256": thumbprint}
    # The certificate authenticates: a secret is refused before any request.
    refused = run_cli(mtls_server, creds, *args, "--client-secret", "nope")
    assert refused.returncode == 2 and "takes no client secret" in refused.stderr
    # Without the certificate the client cannot authenticate.
    plain = run_cli(mtls_server, creds, "token", "--auth-method", "tls_client_auth", "--ca-file",
                    str(ca_file))  # fmt: skip
    assert plain.returncode == 1 and "invalid_client" in plain.stderr
