"""Sender-constrained clients (RFC 9449 DPoP, RFC 8705 mTLS) set up by every admin way, on a
real server: the CLI (on the database), ``/admin/realmgate``, Keycloak's admin API with its
attribute names, and a Keycloak realm export imported and exported back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from tests.admin_support import AdminHttp, master_admin, unique
from tests.integration.helpers import cli_json, unique_shortcode
from tests.servers import Credentials, Server

X = "/admin/realmgate"
DN = "CN=orders.svc,O=Example Corp,C=DE"


@pytest.fixture(scope="module")
def api(server: Server) -> AdminHttp:
    return AdminHttp(server, master_admin(server))


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("snd"))


def public_jwks() -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return {"keys": [ECKey.import_key(key.public_key()).as_dict()]}


def cli_failure(server: Server, *args: str) -> str:
    result = server.cli(*args, check=False)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.startswith("error:"), result.stderr
    return result.stderr


# the CLI ----------------------------------------------------------------------------------
def test_cli_tls_client_auth_client_with_certificate_bound_tokens(
    server: Server, tenant: Credentials
) -> None:
    created = cli_json(
        server, "client", "create", tenant.tenant, "mtls-app",
        "--auth-method", "tls_client_auth", "--tls-subject-dn", DN, "--binding", "cert",
    )  # fmt: skip
    assert created == {"tenantShortcode": tenant.tenant, "clientId": "mtls-app"}  # no secret
    shown = cli_json(server, "client", "show", tenant.tenant, "mtls-app")
    assert shown["authMethod"] == "tls_client_auth"
    assert shown["binding"] == "cert"
    assert shown["tlsSubjectDn"] == DN
    assert shown["tlsSan"] is None
    changed = cli_json(
        server, "client", "set", tenant.tenant, "mtls-app",
        "--tls-subject-dn", "", "--tls-san", "DNS:orders.example.com", "--binding", "dpop+cert",
    )  # fmt: skip
    assert changed["tlsSubjectDn"] is None
    assert changed["tlsSan"] == "dns:orders.example.com"
    assert changed["binding"] == "dpop+cert"
    listed = {c["clientId"]: c for c in cli_json(server, "client", "list", tenant.tenant)}
    assert listed["mtls-app"]["binding"] == "dpop+cert"


def test_cli_binding_of_a_secret_client_and_back(server: Server, tenant: Credentials) -> None:
    created = cli_json(server, "client", "create", tenant.tenant, "dpop-app", "--binding", "dpop")
    assert created["clientSecret"]
    assert cli_json(server, "client", "show", tenant.tenant, "dpop-app")["binding"] == "dpop"
    data = cli_json(server, "client", "set", tenant.tenant, "dpop-app", "--binding", "none")
    assert data["binding"] == "none"
    assert data["authMethod"] == "client_secret"


def test_cli_self_signed_client_needs_its_jwks(
    server: Server, tenant: Credentials, tmp_path: Path
) -> None:
    stderr = cli_failure(
        server, "client", "create", tenant.tenant, "self-nokey",
        "--auth-method", "self_signed_tls_client_auth",
    )  # fmt: skip
    assert "needs a JWKS" in stderr
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(public_jwks()), encoding="utf-8")
    created = cli_json(
        server, "client", "create", tenant.tenant, "self-app",
        "--auth-method", "self_signed_tls_client_auth", "--jwks-file", str(jwks_file),
    )  # fmt: skip
    assert "clientSecret" not in created
    shown = cli_json(server, "client", "show", tenant.tenant, "self-app")
    assert shown["authMethod"] == "self_signed_tls_client_auth"
    assert shown["jwks"]["keys"][0]["kty"] == "EC"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--auth-method", "tls_client_auth"], "exactly one of a subject DN"),
        (
            ["--auth-method", "tls_client_auth", "--tls-subject-dn", DN, "--tls-san", "dns:a.b"],
            "exactly one of a subject DN",
        ),
        (["--auth-method", "tls_client_auth", "--tls-subject-dn", "not a dn"], "RFC 4514"),
        (["--auth-method", "tls_client_auth", "--tls-san", "dns:bad_name!"], "not a DNS name"),
        (["--auth-method", "tls_client_auth", "--tls-san", "ip:300.1.1.1"], "not an IP address"),
        (["--auth-method", "tls_client_auth", "--tls-san", "x400:whatever"], "dns:<name>"),
        (["--tls-subject-dn", DN], "for tls_client_auth clients only"),
        (["--binding", "both"], "the binding must be one of"),
        (["--auth-method", "mtls"], "unknown auth method"),
    ],
)
def test_cli_refuses_inconsistent_clients(
    server: Server, tenant: Credentials, flags: list[str], message: str
) -> None:
    client_id = f"bad-{uuid.uuid4().hex[:8]}"
    stderr = cli_failure(server, "client", "create", tenant.tenant, client_id, *flags)
    assert message in stderr
    listed = cli_json(server, "client", "list", tenant.tenant)
    assert client_id not in {c["clientId"] for c in listed}


def test_cli_auth_method_change_keeps_the_rules(server: Server, tenant: Credentials) -> None:
    cli_json(server, "client", "create", tenant.tenant, "switch-app")
    stderr = cli_failure(
        server, "client", "set", tenant.tenant, "switch-app", "--auth-method", "tls_client_auth"
    )
    assert "exactly one of a subject DN" in stderr
    data = cli_json(
        server, "client", "set", tenant.tenant, "switch-app",
        "--auth-method", "tls_client_auth", "--tls-san", "uri:spiffe://example.org/orders",
    )  # fmt: skip
    assert (data["authMethod"], data["tlsSan"]) == (
        "tls_client_auth",
        "uri:spiffe://example.org/orders",
    )
    back = cli_json(
        server, "client", "set", tenant.tenant, "switch-app", "--auth-method", "client_secret"
    )
    assert back["tlsSan"] is None  # the subject goes with the method
    stderr = cli_failure(
        server, "client", "set", tenant.tenant, "switch-app", "--auth-method", "client_secret_jwt"
    )
    assert "client_secret_jwt only from its creation" in stderr


def test_cli_tenant_dpop_required(server: Server) -> None:
    creds = server.create_tenant(unique_shortcode("dpr"))
    assert cli_json(server, "tenant", "show", creds.tenant)["dpopRequired"] is False
    data = cli_json(server, "tenant", "set", creds.tenant, "--dpop-required")
    assert data["dpopRequired"] is True
    assert cli_json(server, "tenant", "show", creds.tenant)["dpopRequired"] is True
    data = cli_json(server, "tenant", "set", creds.tenant, "--no-dpop-required")
    assert data["dpopRequired"] is False


# /admin/realmgate -------------------------------------------------------------------------
def test_realmgate_api_sender_fields(api: AdminHttp) -> None:
    shortcode = unique("sx")
    api.ok("POST", f"{X}/tenants", {"shortcode": shortcode}, status=201)
    body = {
        "clientId": "svc",
        "authMethod": "tls_client_auth",
        "tlsSubjectDn": DN,
        "binding": "cert",
    }
    created = api.ok("POST", f"{X}/tenants/{shortcode}/clients", body, status=201)
    assert created == {"tenantShortcode": shortcode, "clientId": "svc"}
    path = f"{X}/tenants/{shortcode}/clients/svc"
    shown = api.ok("GET", path)
    assert (shown["binding"], shown["tlsSubjectDn"], shown["tlsSan"]) == ("cert", DN, None)
    patched = api.ok("PATCH", path, {"binding": "dpop", "tlsSubjectDn": None, "tlsSan": "ip:::1"})
    assert (patched["binding"], patched["tlsSubjectDn"], patched["tlsSan"]) == (
        "dpop",
        None,
        "ip:::1",
    )
    r = api.request("PATCH", path, {"binding": "everything"})
    assert r.status_code == 400
    assert "binding" in r.text
    r = api.request("PATCH", path, {"tlsSan": None})  # tls_client_auth without a subject
    assert r.status_code == 400
    assert api.ok("GET", path)["tlsSan"] == "ip:::1"
    tenant_path = f"{X}/tenants/{shortcode}"
    assert api.ok("PATCH", tenant_path, {"dpopRequired": True})["dpopRequired"] is True
    assert api.ok("GET", tenant_path)["dpopRequired"] is True
    r = api.request("PATCH", tenant_path, {"dpopRequired": "yes"})
    assert r.status_code == 400


# Keycloak's admin API ---------------------------------------------------------------------
def test_keycloak_api_client_x509_with_bound_tokens(api: AdminHttp) -> None:
    realm = api.create_realm(unique("kx"))
    attributes = {
        "tls.client.auth.subject.dn": DN,
        "x509.allow.regex.pattern.comparison": "false",
        "tls.client.certificate.bound.access.tokens": "true",
        "dpop.bound.access.tokens": "false",
    }
    cid = api.create_client(
        realm, "x509-app", clientAuthenticatorType="client-x509", attributes=attributes
    )
    rep = api.ok("GET", f"/admin/realms/{realm}/clients/{cid}")
    assert rep["clientAuthenticatorType"] == "client-x509"
    attrs = rep["attributes"]
    assert attrs["tls.client.auth.subject.dn"] == DN
    assert attrs["tls.client.certificate.bound.access.tokens"] == "true"
    assert attrs["x509.allow.regex.pattern.comparison"] == "false"
    assert "dpop.bound.access.tokens" not in attrs  # false: not shown
    ours = api.ok("GET", f"{X}/tenants/{realm}/clients/x509-app")
    assert (ours["authMethod"], ours["binding"], ours["tlsSubjectDn"]) == (
        "tls_client_auth",
        "cert",
        DN,
    )
    # Keycloak's admin console saves the whole representation with the switch turned on
    rep["attributes"]["dpop.bound.access.tokens"] = "true"
    api.ok("PUT", f"/admin/realms/{realm}/clients/{cid}", rep, status=204)
    ours = api.ok("GET", f"{X}/tenants/{realm}/clients/x509-app")
    assert ours["binding"] == "dpop+cert"
    # a secret client made DPoP-bound by its attribute alone (python-keycloak's update_client)
    sid = api.create_client(realm, "secret-app", attributes={"dpop.bound.access.tokens": "true"})
    got = api.ok("GET", f"/admin/realms/{realm}/clients/{sid}")
    assert got["clientAuthenticatorType"] == "client-secret"
    assert got["attributes"]["dpop.bound.access.tokens"] == "true"
    assert api.ok("GET", f"{X}/tenants/{realm}/clients/secret-app")["binding"] == "dpop"
    # a subject DN left on a client-secret client (Keycloak ignores it there): ignored too
    got["attributes"]["tls.client.auth.subject.dn"] = DN
    api.ok("PUT", f"/admin/realms/{realm}/clients/{sid}", got, status=204)
    ours = api.ok("GET", f"{X}/tenants/{realm}/clients/secret-app")
    assert (ours["authMethod"], ours["tlsSubjectDn"]) == ("client_secret", None)


@pytest.mark.parametrize(
    ("rep", "message"),
    [
        (
            {
                "clientAuthenticatorType": "client-x509",
                "attributes": {"tls.client.auth.subject.dn": "(.*?)(?:$)"},
            },
            "x509.allow.regex.pattern.comparison",
        ),
        ({"clientAuthenticatorType": "client-x509"}, "exactly one of a subject DN"),
        (
            {
                "clientAuthenticatorType": "client-x509",
                "attributes": {
                    "tls.client.auth.subject.dn": "no dn",
                    "x509.allow.regex.pattern.comparison": "false",
                },
            },
            "RFC 4514",
        ),
        ({"clientAuthenticatorType": "client-x509-typo"}, "client-x509"),
    ],
)
def test_keycloak_api_refuses_what_realmgate_cannot_match(
    api: AdminHttp, rep: dict[str, Any], message: str
) -> None:
    realm = api.create_realm(unique("kr"))
    body = {"clientId": "bad", "serviceAccountsEnabled": True, "publicClient": False, **rep}
    r = api.request("POST", f"/admin/realms/{realm}/clients", body)
    assert r.status_code == 400, r.text
    assert message in r.text
    assert api.ok("GET", f"/admin/realms/{realm}/clients?clientId=bad") == []


def test_keycloak_api_realm_attribute_dpop_required(api: AdminHttp) -> None:
    realm = api.create_realm(unique("kd"), attributes={"realmgate.dpop.required": "true"})
    assert api.ok("GET", f"{X}/tenants/{realm}")["dpopRequired"] is True
    rep = api.ok("GET", f"/admin/realms/{realm}")
    assert rep["attributes"]["realmgate.dpop.required"] == "true"
    api.ok(
        "PUT",
        f"/admin/realms/{realm}",
        {"attributes": {"realmgate.dpop.required": "false", "other": "x"}},
        status=204,
    )
    assert api.ok("GET", f"{X}/tenants/{realm}")["dpopRequired"] is False
    attrs = api.ok("GET", f"/admin/realms/{realm}")["attributes"]
    assert attrs == {"other": "x"}
    api.ok("PATCH", f"{X}/tenants/{realm}", {"dpopRequired": True})
    attrs = api.ok("GET", f"/admin/realms/{realm}")["attributes"]
    assert attrs == {"other": "x", "realmgate.dpop.required": "true"}


def test_keycloak_api_changes_the_authenticator(api: AdminHttp) -> None:
    realm = api.create_realm(unique("kc"))
    cid = api.create_client(realm, "move-app")
    rep = api.ok("GET", f"/admin/realms/{realm}/clients/{cid}")
    rep["clientAuthenticatorType"] = "client-x509"
    rep["attributes"]["tls.client.auth.subject.dn"] = DN
    api.ok("PUT", f"/admin/realms/{realm}/clients/{cid}", rep, status=204)
    ours = api.ok("GET", f"{X}/tenants/{realm}/clients/move-app")
    assert (ours["authMethod"], ours["tlsSubjectDn"]) == ("tls_client_auth", DN)


# import and export ------------------------------------------------------------------------
def kc_client(
    client_id: str,
    *,
    authenticator: str = "client-secret",
    secret: str | None = None,
    attributes: dict[str, str],
) -> dict[str, Any]:
    """A confidential service-account client as Keycloak 26 exports it (the fields used)."""
    rep: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "clientId": client_id,
        "enabled": True,
        "clientAuthenticatorType": authenticator,
        "publicClient": False,
        "bearerOnly": False,
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "protocol": "openid-connect",
        "attributes": {"backchannel.logout.session.required": "true", **attributes},
    }
    if secret is not None:
        rep["secret"] = secret
    return rep


def service_user(client_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "username": f"service-account-{client_id}",
        "enabled": True,
        "serviceAccountClientId": client_id,
        "realmRoles": [],
        "clientRoles": {},
        "groups": [],
    }


def _export_file(realm: str, jwks: dict[str, Any]) -> dict[str, Any]:
    x509 = kc_client(
        "x509-app", authenticator="client-x509",
        attributes={
            "tls.client.auth.subject.dn": DN,
            "x509.allow.regex.pattern.comparison": "false",
            "tls.client.certificate.bound.access.tokens": "true",
            "dpop.bound.access.tokens": "true",
        },
    )  # fmt: skip
    dpop = kc_client(
        "dpop-app", secret="s" * 32,
        attributes={"dpop.bound.access.tokens": "true"},
    )  # fmt: skip
    regex = kc_client(
        "regex-app", authenticator="client-x509",
        attributes={"tls.client.auth.subject.dn": "CN=(.*),O=Example"},
    )  # fmt: skip
    self_signed = kc_client(
        "self-app", authenticator="realmgate-x509-self-signed",
        attributes={"use.jwks.string": "true", "jwks.string": json.dumps(jwks)},
    )  # fmt: skip
    clients = [x509, dpop, regex, self_signed]
    return {
        "id": str(uuid.uuid4()),
        "realm": realm,
        "enabled": True,
        "attributes": {"realmgate.dpop.required": "true", "frontendUrl": ""},
        "clients": clients,
        "users": [service_user(c["clientId"]) for c in clients],
    }


def test_keycloak_export_with_sender_constraints_imports_and_exports_back(
    server: Server, tmp_path: Path
) -> None:
    realm = unique_shortcode("kimp")
    jwks = public_jwks()
    source = tmp_path / "realm.json"
    source.write_text(json.dumps(_export_file(realm, jwks)), encoding="utf-8")
    result = server.cli("import", "keycloak", str(source), "--allow-partial", "--json", check=False)
    assert "Traceback" not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    text = json.dumps(report)
    assert "regular expression" in text  # regex-app is dropped, and says why
    clients = {c["clientId"]: c for c in cli_json(server, "client", "list", realm)}
    assert "regex-app" not in clients
    x509 = clients["x509-app"]
    assert (x509["authMethod"], x509["binding"], x509["tlsSubjectDn"]) == (
        "tls_client_auth",
        "dpop+cert",
        DN,
    )
    assert (clients["dpop-app"]["authMethod"], clients["dpop-app"]["binding"]) == (
        "client_secret",
        "dpop",
    )
    assert clients["self-app"]["authMethod"] == "self_signed_tls_client_auth"
    assert clients["self-app"]["jwks"] == jwks
    assert cli_json(server, "tenant", "show", realm)["dpopRequired"] is True
    out = tmp_path / "back.json"
    server.cli("export", "keycloak", realm, "--out", str(out))
    exported = {c["clientId"]: c for c in json.loads(out.read_text(encoding="utf-8"))["clients"]}
    attrs = exported["x509-app"]["attributes"]
    assert exported["x509-app"]["clientAuthenticatorType"] == "client-x509"
    assert attrs["tls.client.auth.subject.dn"] == DN
    assert attrs["x509.allow.regex.pattern.comparison"] == "false"
    assert attrs["tls.client.certificate.bound.access.tokens"] == "true"
    assert attrs["dpop.bound.access.tokens"] == "true"
    assert exported["dpop-app"]["attributes"]["dpop.bound.access.tokens"] == "true"
    assert exported["self-app"]["clientAuthenticatorType"] == "realmgate-x509-self-signed"
    realm_attrs = json.loads(out.read_text(encoding="utf-8"))["attributes"]
    assert realm_attrs == {"realmgate.dpop.required": "true", "frontendUrl": ""}
    assert json.loads(exported["self-app"]["attributes"]["jwks.string"]) == jwks


# the console ------------------------------------------------------------------------------
def test_console_shows_the_binding_and_the_certificate_subject(
    server: Server, tenant: Credentials
) -> None:
    from tests.integration.test_console_pages import Console

    cli_json(
        server, "client", "create", tenant.tenant, "console-mtls",
        "--auth-method", "tls_client_auth", "--tls-san", "dns:console.example.com",
        "--binding", "dpop+cert",
    )  # fmt: skip
    with httpx.Client(base_url=server.base_url, verify=server.verify, timeout=30) as http:
        console = Console(server, "admin", http)
        page = console.get(f"/tenants/{tenant.tenant}/clients/console-mtls").text
        assert 'id="client-auth">tls_client_auth<' in page
        assert "<code>dns:console.example.com</code>" in page
        assert 'id="client-binding">DPoP and client certificate<' in page
        assert "it has no secret" in page
        assert 'id="rotate"' not in page
        plain = console.get(f"/tenants/{tenant.tenant}/clients/{tenant.client_id}").text
        assert 'id="client-binding">none (bearer tokens)<' in plain
        assert 'id="client-tls-subject"' not in plain


# a DPoP-bound admin client ----------------------------------------------------------------
def test_dpop_bound_admin_client_uses_the_admin_api_with_proofs(
    server: Server, api: AdminHttp
) -> None:
    from realmgate.jose.dpop import make_proof

    realm = api.create_realm(unique("kadm"))
    creds, _, _ = api.service_client(
        realm,
        "dpop-admin",
        admin_roles=("view-clients",),
        attributes={"dpop.bound.access.tokens": "true"},
    )
    key = ec.generate_private_key(ec.SECP256R1())
    form = {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
    }
    token_url = server.token_url(realm)
    no_proof = httpx.post(token_url, data=form, verify=server.verify, timeout=30)
    assert no_proof.status_code == 400, no_proof.text
    proof = make_proof(key, method="POST", url=token_url)
    r = httpx.post(token_url, data=form, headers={"DPoP": proof}, verify=server.verify, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "DPoP"
    token = r.json()["access_token"]
    url = f"{server.base_url}/admin/realms/{realm}/clients"
    proof = make_proof(key, method="GET", url=url, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    ok = httpx.get(url, headers=headers, verify=server.verify, timeout=30)
    assert ok.status_code == 200, ok.text
    assert "dpop-admin" in {c["clientId"] for c in ok.json()}
    stolen = httpx.get(
        url, headers={"Authorization": f"Bearer {token}"}, verify=server.verify, timeout=30
    )
    assert stolen.status_code == 401
    replayed = httpx.get(url, headers=headers, verify=server.verify, timeout=30)
    assert replayed.status_code == 401
