"""Console tenant, client and onboarding pages against a real server (httpx, a signed-in
session): bad input in every form answers 400 with the inline error and keeps what was typed;
onboarding's curl snippet gets a real token; rotating and ending the previous secret refuses
the old one; disabling refuses token requests; the audit trail shows the operator and source;
roles without the action see no button and get 403."""

from __future__ import annotations

import html
import json
import re
import shlex
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.console_helpers import (
    CONSOLE,
    close_clients,
    csrf_of,
    make_operator,
    post_signin,
    signin,
)
from tests.integration.helpers import poll, request_token, unique_shortcode
from tests.servers import Credentials, Server


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    close_clients()


class Console:
    """A signed-in operator's httpx client and its CSRF token."""

    def __init__(self, server: Server, role: str = "admin", http: httpx.Client | None = None):
        self.username, password = make_operator(server, role)
        if http is None:
            self.http = signin(server, self.username, password)
        else:
            self.http = http
            assert post_signin(http, self.username, password).status_code == 303
        self.csrf = csrf_of(self.get("/tenants").text)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(CONSOLE + path)

    def post(self, path: str, **data: str) -> httpx.Response:
        return self.http.post(CONSOLE + path, data={"csrf": self.csrf, **data})


@pytest.fixture(scope="module")
def admin(server: Server) -> Iterator[Console]:
    """One admin session for the module (signing in costs an Argon2 hash and a CLI run)."""
    with httpx.Client(base_url=server.base_url, verify=server.verify, timeout=30) as http:
        yield Console(server, "admin", http)


def code_text(page: str, element_id: str) -> str:
    found = re.search(rf'<code id="{element_id}">(.*?)</code>', page, re.DOTALL)
    assert found, f"no #{element_id} in the page"
    return html.unescape(found.group(1))


def field_value(page: str, field: str) -> str:
    """What an input or textarea of the page holds."""
    found = re.search(rf'<input id="{field}"[^>]*? value="([^"]*)"', page) or re.search(
        rf'<textarea id="{field}"[^>]*>(.*?)</textarea>', page, re.DOTALL
    )
    assert found, f"no field {field}"
    return html.unescape(found.group(1))


def rotate(admin: Console, creds: Credentials, grace: str) -> httpx.Response:
    """Send the client page's rotation form (with the client's version it carries)."""
    base = f"/tenants/{creds.tenant}/clients/{creds.client_id}"
    version = re.search(r'name="version" value="(\d+)"', admin.get(base).text)
    assert version
    return admin.post(base + "/rotate-secret", grace=grace, version=version.group(1))


def assert_inline_error(r: httpx.Response, field: str, typed: str, text: str = "") -> None:
    """400, the error next to the field (aria wiring), the summary, and the typed value kept."""
    assert r.status_code == 400, r.text
    page = r.text
    assert f'id="{field}-error"' in page, page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page), page
    assert re.search(rf'id="{field}"[^>]*aria-describedby="[^"]*{field}-error', page), page
    assert 'class="form-errors"' in page
    assert field_value(page, field) == typed, f"typed value {typed!r} not kept"
    if text:
        error = re.search(rf'id="{field}-error">(.*?)</p>', page, re.DOTALL)
        assert error and text.lower() in html.unescape(error.group(1)).lower(), page
    assert "Traceback" not in page


def tenant_with_client(admin: Console) -> Credentials:
    """A tenant onboarded through the console, with its client ``svc`` (role ``reader``)."""
    tenant = unique_shortcode("cp")
    r = admin.post("/onboard", shortcode=tenant, name="", client_id="svc", roles="reader")
    assert r.status_code == 200, r.text
    return Credentials(tenant, "svc", code_text(r.text, "client-secret"))


def token_status(server: Server, creds: Credentials) -> int:
    return request_token(server, creds).status_code


# onboarding ----------------------------------------------------------------------------
def test_onboard_curl_snippet_gets_a_token(server: Server, admin: Console) -> None:
    form = admin.get("/onboard")
    assert form.status_code == 200
    assert 'value="api-client"' in form.text
    shortcode = unique_shortcode("ob")
    r = admin.post(
        "/onboard", shortcode=shortcode, name="Onboarded Ltd", client_id="api-client", roles=""
    )
    assert r.status_code == 200, r.text
    assert "<h1>Tenant created</h1>" in r.text
    assert r.headers["cache-control"] == "no-store"
    secret = code_text(r.text, "client-secret")
    assert code_text(r.text, "client-id") == "api-client"
    curl = code_text(r.text, "snippet-curl")
    assert f"{server.base_url}/realms/{shortcode}/protocol/openid-connect/token" in curl
    for name in ("snippet-python", "snippet-typescript"):
        assert secret in code_text(r.text, name)
    assert f"{server.base_url}/v2/tenants/current/settings" in code_text(r.text, "snippet-use-curl")
    args = shlex.split(curl.replace("\\\n", " "))
    assert args[0] == "curl"
    out = subprocess.run(
        [*args, "--silent", "--show-error"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    body = json.loads(out.stdout)
    assert body["token_type"] == "Bearer"
    assert body["access_token"].count(".") == 2

    # the secret never shows again: not on the tenant or client page, not on a re-send
    for path in (f"/tenants/{shortcode}", f"/tenants/{shortcode}/clients/api-client"):
        page = admin.get(path)
        assert page.status_code == 200
        assert secret not in page.text
    again = admin.post(
        "/onboard", shortcode=shortcode, name="Onboarded Ltd", client_id="api-client", roles=""
    )
    assert_inline_error(again, "shortcode", shortcode, "exists already")
    assert secret not in again.text


def test_onboard_roles_replace_the_default(server: Server, admin: Console) -> None:
    shortcode = unique_shortcode("ob")
    r = admin.post("/onboard", shortcode=shortcode, name="", client_id="app", roles="a b")
    assert r.status_code == 200, r.text
    page = admin.get(f"/tenants/{shortcode}/clients/app").text
    assert 'value="a b"' in page


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("shortcode", "bad code!", "invalid tenant shortcode"),
        ("shortcode", "", "Enter a tenant shortcode"),
        ("client_id", "-client<x>", "invalid client id"),
        ("roles", "good bad!role", "invalid role"),
        ("name", "x" * 201, "The display name must be 1 to 200 characters"),
    ],
)
def test_onboard_bad_input(admin: Console, field: str, value: str, text: str) -> None:
    data = {"shortcode": unique_shortcode("ob"), "name": "", "client_id": "api-client"}
    data["roles"] = ""
    data[field] = value
    r = admin.post("/onboard", **data)
    assert_inline_error(r, field, value, text)
    assert 'id="client-secret"' not in r.text


# tenants ---------------------------------------------------------------------------
def test_tenant_list_search_sort_and_paging(server: Server, admin: Console) -> None:
    prefix = unique_shortcode("ls")
    for suffix in ("a", "b", "c"):
        r = admin.post("/onboard", shortcode=prefix + suffix, name="", client_id="c", roles="")
        assert r.status_code == 200, r.text
    r = admin.get(f"/tenants?q={prefix}&sort=shortcode&dir=desc")
    assert r.status_code == 200
    assert "<h1>Tenants</h1>" in r.text
    order = re.findall(rf">({prefix}[abc])</a>", r.text)
    assert order == [prefix + "c", prefix + "b", prefix + "a"]
    assert "3 tenants" in r.text
    # hand-edited values fall back to the defaults
    r = admin.get(f"/tenants?q={prefix}&sort=nope&dir=up&page=x")
    assert r.status_code == 200
    assert re.findall(rf">({prefix}[abc])</a>", r.text) == [prefix + s for s in "abc"]
    assert admin.get("/tenants?page=99999").status_code == 200


def test_tenant_page_sections(server: Server, admin: Console) -> None:
    creds = tenant_with_client(admin)
    r = admin.get(f"/tenants/{creds.tenant}")
    assert r.status_code == 200
    for text in (
        f"<h1>{creds.tenant}</h1>",
        ">Settings</h2>",
        ">Clients</h2>",
        ">Signing keys</h2>",
        ">Audit trail</h2>",
        'id="clients"',
        'id="audit"',
        ">svc</a>",
        "Save settings",
        "Rotate key",
        "Emergency rotate",
    ):
        assert text in r.text, text
    assert admin.get("/tenants/nosuchtenant").status_code == 404
    assert admin.get("/tenants/bad%20name").status_code == 404


def _settings_form(**override: str) -> dict[str, str]:
    form = {
        "name": "Acme",
        "locale": "en-US",
        "timezone": "UTC",
        "defaultTranscriptionLanguage": "en",
        "transcriptionLanguages": "en de",
        "duplicateCheck": "on",
        "maxActiveWebhooksPerUser": "10",
    }
    form.update(override)
    return form


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("locale", "not a locale", "Locale must be a BCP 47 language tag"),
        ("timezone", "Mars/Olympus", "Time zone must be an IANA time zone name"),
        ("maxActiveWebhooksPerUser", "lots", "must be an integer"),
        ("maxActiveWebhooksPerUser", "5000", "must be between 0 and 1000"),
        ("defaultTranscriptionLanguage", "fr", "must be one of transcriptionLanguages"),
        ("name", "   ", "must be 1 to 200 characters"),
    ],
)
def test_tenant_settings_bad_input(
    server: Server, admin: Console, field: str, value: str, text: str
) -> None:
    tenant = tenant_with_client(admin).tenant
    r = admin.post(f"/tenants/{tenant}/settings", **_settings_form(**{field: value}))
    assert_inline_error(r, field, value, text)


def test_tenant_settings_saved(server: Server, admin: Console) -> None:
    tenant = tenant_with_client(admin).tenant
    form = _settings_form(timezone="Europe/Vienna", transcriptionLanguages="en de")
    r = admin.post(f"/tenants/{tenant}/settings", **form)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"{CONSOLE}/tenants/{tenant}?done=settings-saved"
    page = admin.get(f"/tenants/{tenant}?done=settings-saved").text
    assert 'class="flash"' in page
    assert 'value="Europe/Vienna"' in page
    assert 'value="en de"' in page
    data = json.loads(server.cli("tenant", "show", tenant, "--json").stdout)
    assert data["timezone"] == "Europe/Vienna"
    assert data["duplicateCheck"] is True


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("access_token_lifespan", "soon", "whole number"),
        ("access_token_lifespan", "30", "between"),
        ("session_max_lifespan", "999999999", "between"),
    ],
)
def test_tenant_lifespans_bad_input(
    server: Server, admin: Console, field: str, value: str, text: str
) -> None:
    tenant = tenant_with_client(admin).tenant
    form = {"access_token_lifespan": "300", "session_max_lifespan": "3600", field: value}
    r = admin.post(f"/tenants/{tenant}/lifespans", **form)
    assert_inline_error(r, field, value, text)


@pytest.mark.parametrize(("value", "text"), [("weekly", "whole number"), ("5", "between 3600")])
def test_key_policy_bad_input(admin: Console, value: str, text: str) -> None:
    tenant = tenant_with_client(admin).tenant
    r = admin.post(f"/tenants/{tenant}/keys/policy", rotation_period=value)
    assert_inline_error(r, "rotation_period", value, text)


def test_key_policy_saved(admin: Console) -> None:
    tenant = tenant_with_client(admin).tenant
    r = admin.post(f"/tenants/{tenant}/keys/policy", rotation_period="86400")
    assert r.status_code == 303, r.text
    assert field_value(admin.get(f"/tenants/{tenant}").text, "rotation_period") == "86400"
    assert admin.post(f"/tenants/{tenant}/keys/policy", rotation_period="").status_code == 303
    assert field_value(admin.get(f"/tenants/{tenant}").text, "rotation_period") == ""


def test_key_rotation_is_audited(server: Server, admin: Console) -> None:
    tenant = tenant_with_client(admin).tenant
    assert admin.post(f"/tenants/{tenant}/keys/rotate").status_code == 303
    assert admin.post(f"/tenants/{tenant}/keys/emergency-rotate").status_code == 303
    page = admin.get(f"/tenants/{tenant}").text
    rows = _audit_rows(page)
    actions = {r[2] for r in rows if r[1] == f"console:{admin.username}"}
    assert {"key.rotated", "key.emergency_rotated"} <= actions


def _audit_rows(page: str) -> list[list[str]]:
    table = re.search(r'<table id="audit">(.*?)</table>', page, re.DOTALL)
    assert table, page
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL) for row in rows]
    return [[html.unescape(c) for c in row] for row in cells if row]


# clients ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("roles", "ok bad!role", "Invalid role"),
        ("scopes", "email nosuchscope", "Unknown client scopes: nosuchscope"),
        ("lifespan", "12", "between 60"),
        ("lifespan", "a while", "whole number"),
        ("audiences", "not-a-uri", "must be an absolute URI"),
        ("claims", "[1, 2]", "must be a JSON object"),
        ("claims", '{"plan": ', "must be a JSON object"),
        ("claims", '{"sub": "me"}', "reserved claims cannot be set: sub"),
    ],
)
def test_client_options_bad_input(
    server: Server, admin: Console, field: str, value: str, text: str
) -> None:
    creds = tenant_with_client(admin)
    form = {"roles": "reader", "scopes": "email profile", "lifespan": "", "audiences": ""}
    form["claims"] = ""
    form[field] = value
    r = admin.post(f"/tenants/{creds.tenant}/clients/{creds.client_id}/options", **form)
    assert_inline_error(r, field, value, text)


def test_client_options_saved(server: Server, admin: Console) -> None:
    creds = tenant_with_client(admin)
    base = f"/tenants/{creds.tenant}/clients/{creds.client_id}"
    form = {
        "roles": "reader writer",
        "scopes": "email",
        "lifespan": "600",
        "audiences": "https://api.example.com",
        "claims": '{"plan": "gold"}',
    }
    r = admin.post(base + "/options", **form)
    assert r.status_code == 303, r.text
    page = admin.get(base).text
    assert 'value="reader writer"' in page
    assert 'value="600"' in page
    token = request_token(server, creds)
    assert token.status_code == 200, token.text
    assert token.json()["expires_in"] == 600
    assert token.json()["scope"] == "email"
    # a form holding one field changes only that one
    assert admin.post(base + "/options", lifespan="900").status_code == 303
    page = admin.get(base).text
    assert field_value(page, "roles") == "reader writer"
    assert field_value(page, "lifespan") == "900"
    assert json.loads(field_value(page, "claims")) == {"plan": "gold"}


def test_odd_requests_get_pages_not_500(admin: Console) -> None:
    creds = tenant_with_client(admin)
    base = f"/tenants/{creds.tenant}/clients/{creds.client_id}"
    for path in ("/tenants/nope/clients/svc", f"/tenants/{creds.tenant}/clients/nope", "/x"):
        r = admin.get(path)
        assert r.status_code == 404, path
        assert "text/html" in r.headers["content-type"]
    for path in (base + "/options", base + "/rotate-secret", f"/tenants/{creds.tenant}/settings"):
        r = admin.post(path)
        assert r.status_code in (303, 400, 409), (path, r.status_code)
    for path in ("/tenants/nope/keys/rotate", "/tenants/nope/clients/svc/disable"):
        assert admin.post(path).status_code == 404
    assert admin.get("/tenants?q=" + "x" * 5000 + "&page=-3&sort=<b>").status_code == 200


@pytest.mark.parametrize("grace", ["-5", "soon", "99999999999"])
def test_rotate_secret_bad_grace(server: Server, admin: Console, grace: str) -> None:
    creds = tenant_with_client(admin)
    r = rotate(admin, creds, grace)
    assert_inline_error(r, "grace", grace)
    assert 'id="client-secret"' not in r.text
    assert token_status(server, creds) == 200


def test_rotate_then_end_previous_refuses_the_old_secret(server: Server, admin: Console) -> None:
    old = tenant_with_client(admin)
    base = f"/tenants/{old.tenant}/clients/{old.client_id}"
    r = rotate(admin, old, "86400")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert 'data-copy="#client-secret"' in r.text
    new = Credentials(old.tenant, old.client_id, code_text(r.text, "client-secret"))
    assert new.client_secret != old.client_secret
    assert token_status(server, new) == 200
    assert token_status(server, old) == 200  # within the grace period
    # the same form sent again (a reload of the answer page) rotates nothing
    version = re.search(r'name="version" value="(\d+)"', r.text) or re.search(
        r"version=(\d+)", r.request.content.decode()
    )
    assert version
    again = admin.post(base + "/rotate-secret", grace="86400", version=version.group(1))
    assert again.status_code == 409, again.text
    assert 'id="client-secret"' not in again.text
    assert "Nothing was rotated" in again.text
    assert token_status(server, new) == 200
    assert token_status(server, old) == 200
    page = admin.get(base).text
    assert new.client_secret not in page
    assert "End previous secret" in page
    assert admin.post(base + "/end-previous-secret").status_code == 303
    assert poll(lambda: token_status(server, old), lambda s: s == 401) == 401
    assert token_status(server, new) == 200
    rows = _audit_rows(admin.get(f"/tenants/{old.tenant}").text)
    mine = [r for r in rows if r[1] == f"console:{admin.username}"]
    assert {"client.secret_rotated", "client.previous_secret_ended"} <= {r[2] for r in mine}
    assert all(r[4] == "127.0.0.1" for r in mine)


def test_disable_refuses_tokens_and_is_audited(server: Server, admin: Console) -> None:
    creds = tenant_with_client(admin)
    base = f"/tenants/{creds.tenant}/clients/{creds.client_id}"
    assert token_status(server, creds) == 200
    r = admin.post(base + "/disable")
    assert r.status_code == 303
    assert r.headers["location"] == f"{CONSOLE}{base}?done=client-disabled"
    assert poll(lambda: token_status(server, creds), lambda s: s == 401) == 401
    assert "Enable client" in admin.get(base).text
    assert admin.post(base + "/enable").status_code == 303
    assert poll(lambda: token_status(server, creds), lambda s: s == 200) == 200
    assert admin.post(base + "/revoke-tokens").status_code == 303
    rows = _audit_rows(admin.get(f"/tenants/{creds.tenant}").text)
    mine = {(r[2], r[3], r[4]) for r in rows if r[1] == f"console:{admin.username}"}
    for action in ("client.disabled", "client.enabled", "client.tokens_revoked"):
        assert (action, creds.client_id, "127.0.0.1") in mine


# roles -----------------------------------------------------------------------------
def test_support_and_viewer_see_no_buttons_and_are_refused(server: Server, admin: Console) -> None:
    creds = tenant_with_client(admin)
    base = f"/tenants/{creds.tenant}/clients/{creds.client_id}"
    support = Console(server, "support")
    tenant_page = support.get(f"/tenants/{creds.tenant}").text
    for label in ("Save settings", "Rotate key", "Emergency rotate"):
        assert label not in tenant_page
    client_page = support.get(base).text
    assert "Rotate secret" in client_page
    assert "Disable client" in client_page
    assert "Save client" not in client_page
    assert "Revoke tokens" not in client_page
    assert support.post(f"/tenants/{creds.tenant}/keys/rotate").status_code == 403
    assert support.post(base + "/revoke-tokens").status_code == 403
    assert support.post(base + "/options", roles="x").status_code == 403
    assert support.get("/onboard").status_code == 403

    viewer = Console(server, "viewer")
    page = viewer.get(base).text
    for label in ("Rotate secret", "Disable client", "Revoke tokens", "Save client"):
        assert label not in page
    assert viewer.post(base + "/rotate-secret", grace="0").status_code == 403
    assert viewer.post(base + "/disable").status_code == 403
    assert token_status(server, creds) == 200
