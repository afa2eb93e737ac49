"""The token endpoint's exact wire behaviour: RFC 6749 §4.4 (client credentials grant),
§5.1 (success), §5.2 (errors), §2.3.1 (client password authentication), §3.2 (parameters).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import httpx
import pytest

from tests.integration.helpers import (
    SEED_TOKEN_FIELDS,
    access_token,
    assert_oauth_error,
    cli_json,
    jwt_parts,
    poll,
    request_token,
    token_form,
    unique_shortcode,
)
from tests.servers import Credentials, Server

FORM = "application/x-www-form-urlencoded"
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or invalid client credentials",
}


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("rfc"))


def basic_header(client_id: str, secret: str, *, encode=quote_plus) -> dict[str, str]:
    """RFC 6749 §2.3.1: id and secret form-urlencoded, then HTTP Basic."""
    raw = f"{encode(client_id)}:{encode(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def post_raw(
    server: Server, tenant: str, body: bytes | Iterator[bytes], content_type: str | None = FORM
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(server.token_url(tenant), content=body, headers=headers)


PER_RESPONSE_HEADERS = {"date", "x-request-id"}


def header_names(r: httpx.Response) -> list[str]:
    return sorted(r.headers.keys())


def headers_but_date(r: httpx.Response) -> dict[str, str]:
    """Every header value but those that differ per response by nature."""
    return {k: v for k, v in r.headers.items() if k not in PER_RESPONSE_HEADERS}


def assert_success(r: httpx.Response, scope: str = "email profile") -> dict[str, object]:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == SEED_TOKEN_FIELDS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 7200
    assert body["refresh_expires_in"] == 0
    assert body["not-before-policy"] == 0
    assert body["scope"] == scope
    return dict(body)


def wait_status(fetch, status: int) -> httpx.Response:
    return poll(fetch, lambda r: r.status_code == status)


# success ---------------------------------------------------------------------------------
def test_client_secret_post(server: Server, tenant: Credentials) -> None:
    body = assert_success(request_token(server, tenant))
    claims = jwt_parts(str(body["access_token"]))[1]
    assert claims["client_id"] == tenant.client_id
    assert claims["tenant"] == tenant.tenant


def test_client_secret_basic(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials"},
        headers=basic_header(tenant.client_id, tenant.client_secret),
    )
    body = assert_success(r)
    assert jwt_parts(str(body["access_token"]))[1]["client_id"] == tenant.client_id


def test_client_secret_basic_values_are_form_urlencoded(
    server: Server, tenant: Credentials
) -> None:
    # Every character percent-encoded: the server must decode before comparing.
    def encode_all(value: str) -> str:
        return "".join(f"%{b:02X}" for b in value.encode())

    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials"},
        headers=basic_header(tenant.client_id, tenant.client_secret, encode=encode_all),
    )
    assert_success(r)


def test_basic_with_a_matching_client_id_in_the_form(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials", "client_id": tenant.client_id},
        headers=basic_header(tenant.client_id, tenant.client_secret),
    )
    assert_success(r)


def test_form_content_type_with_charset(server: Server, tenant: Credentials) -> None:
    body = "&".join(f"{k}={quote(v)}" for k, v in token_form(tenant).items()).encode()
    assert_success(post_raw(server, tenant.tenant, body, f"{FORM}; charset=UTF-8"))


def test_scope_openid_is_granted_with_the_defaults(server: Server, tenant: Credentials) -> None:
    assert_success(request_token(server, tenant, scope="openid"), "openid email profile")
    assert_success(
        request_token(server, tenant, scope="profile openid email"), "openid email profile"
    )
    assert_success(request_token(server, tenant, scope="email"), "email profile")


# errors ----------------------------------------------------------------------------------
def test_missing_grant_type(server: Server, tenant: Credentials) -> None:
    form = token_form(tenant)
    del form["grant_type"]
    assert_oauth_error(
        httpx.post(server.token_url(tenant.tenant), data=form), 400, "invalid_request"
    )
    # A parameter sent without a value is treated as omitted (RFC 6749 §3.1).
    r = request_token(server, tenant, grant_type="")
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize(
    "grant_type", ["password", "authorization_code", "refresh_token", "CLIENT_CREDENTIALS"]
)
def test_unsupported_grant_type(server: Server, tenant: Credentials, grant_type: str) -> None:
    r = request_token(server, tenant, grant_type=grant_type)
    assert_oauth_error(r, 400, "unsupported_grant_type")


def test_wrong_secret_unknown_client_and_disabled_client_are_indistinguishable(
    server: Server, tenant: Credentials
) -> None:
    disabled = server.create_client(tenant.tenant, f"off-{uuid.uuid4().hex[:8]}")
    assert request_token(server, disabled).status_code == 200
    server.cli("client", "disable", tenant.tenant, disabled.client_id)
    assert cli_json(server, "client", "show", tenant.tenant, disabled.client_id)["enabled"] is False
    r_disabled = wait_status(lambda: request_token(server, disabled), 401)

    wrong = Credentials(tenant.tenant, tenant.client_id, tenant.client_secret + "x")
    unknown = Credentials(tenant.tenant, f"nobody-{uuid.uuid4().hex[:8]}", tenant.client_secret)
    r_wrong = request_token(server, wrong)
    r_unknown = request_token(server, unknown)
    for r in (r_wrong, r_unknown, r_disabled):
        assert_oauth_error(r, 401, "invalid_client")
        assert r.json() == INVALID_CLIENT
        assert "www-authenticate" not in r.headers
    assert r_wrong.content == r_unknown.content == r_disabled.content
    assert header_names(r_wrong) == header_names(r_unknown) == header_names(r_disabled)
    assert headers_but_date(r_wrong) == headers_but_date(r_unknown) == headers_but_date(r_disabled)

    # The same three with HTTP Basic: identical again, each with the Basic challenge.
    basic = [
        httpx.post(
            server.token_url(tenant.tenant),
            data={"grant_type": "client_credentials"},
            headers=basic_header(c.client_id, c.client_secret),
        )
        for c in (wrong, unknown, disabled)
    ]
    for r in basic:
        assert_oauth_error(r, 401, "invalid_client")
        assert r.json() == INVALID_CLIENT
        assert r.headers["www-authenticate"] == f'Basic realm="{tenant.tenant}"'
    assert len({r.content for r in basic}) == 1
    assert len({tuple(header_names(r)) for r in basic}) == 1
    assert len({tuple(sorted(headers_but_date(r).items())) for r in basic}) == 1

    # Enabled again, the client gets tokens again.
    server.cli("client", "enable", tenant.tenant, disabled.client_id)
    assert_success(wait_status(lambda: request_token(server, disabled), 200))


def test_basic_failure_has_basic_challenge(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials"},
        headers=basic_header(tenant.client_id, "not-the-secret"),
    )
    assert_oauth_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == f'Basic realm="{tenant.tenant}"'


def test_missing_client_authentication(server: Server, tenant: Credentials) -> None:
    for form in (
        {"grant_type": "client_credentials"},
        {"grant_type": "client_credentials", "client_id": tenant.client_id},
        {"grant_type": "client_credentials", "client_secret": tenant.client_secret},
    ):
        r = httpx.post(server.token_url(tenant.tenant), data=form)
        assert_oauth_error(r, 401, "invalid_client")
        assert "www-authenticate" not in r.headers


def test_basic_and_form_secret_together(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data=token_form(tenant),
        headers=basic_header(tenant.client_id, tenant.client_secret),
    )
    assert_oauth_error(r, 400, "invalid_request")


def test_basic_and_a_different_form_client_id(server: Server, tenant: Credentials) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials", "client_id": "someone-else"},
        headers=basic_header(tenant.client_id, tenant.client_secret),
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize(
    "authorization",
    ["Basic", "Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode()],
)
def test_malformed_basic(server: Server, tenant: Credentials, authorization: str) -> None:
    r = httpx.post(
        server.token_url(tenant.tenant),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": authorization},
    )
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("name", ["grant_type", "client_id", "client_secret", "scope"])
def test_duplicate_parameter(server: Server, tenant: Credentials, name: str) -> None:
    form = token_form(tenant, scope="openid")
    pairs = [*form.items(), (name, form[name])]
    body = "&".join(f"{k}={quote(v)}" for k, v in pairs).encode()
    assert_oauth_error(post_raw(server, tenant.tenant, body), 400, "invalid_request")


@pytest.mark.parametrize("scope", ["admin", "openid admin", "EMAIL", "tenant-admin"])
def test_invalid_scope(server: Server, tenant: Credentials, scope: str) -> None:
    assert_oauth_error(request_token(server, tenant, scope=scope), 400, "invalid_scope")


@pytest.mark.parametrize("realm", ["nosuchtenant", "UPPER", "a", "x" * 80, "-dash", "t%C3%A9"])
def test_unknown_tenant(server: Server, tenant: Credentials, realm: str) -> None:
    creds = Credentials(realm, tenant.client_id, tenant.client_secret)
    r = httpx.post(server.token_url(realm), data=token_form(creds))
    body = assert_oauth_error(r, 404, "realm_not_found")
    assert body == {"error": "realm_not_found", "error_description": "Realm does not exist"}


def test_unroutable_realm_path(server: Server, tenant: Credentials) -> None:
    # An encoded slash in the realm does not route to any realm: an OAuth-style 404.
    url = server.token_url(f"{tenant.tenant}%2F..%2F{tenant.tenant}")
    r = httpx.post(url, data=token_form(tenant))
    assert_oauth_error(r, 404, "not_found")


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "multipart/form-data; boundary=x", None]
)
def test_wrong_content_type(server: Server, tenant: Credentials, content_type: str | None) -> None:
    body = "&".join(f"{k}={v}" for k, v in token_form(tenant).items()).encode()
    if content_type == "application/json":
        r = httpx.post(server.token_url(tenant.tenant), json=token_form(tenant))
    else:
        r = post_raw(server, tenant.tenant, body, content_type)
    assert_oauth_error(r, 400, "invalid_request")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods(server: Server, tenant: Credentials, method: str) -> None:
    r = httpx.request(method, server.token_url(tenant.tenant))
    assert_oauth_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&client_id=\xff\xfe",
        b"grant_type=client_credentials&client_id=%ff%fe&client_secret=x",
        b"grant_type=\xc3\x28",
    ],
)
def test_non_utf8_body(server: Server, tenant: Credentials, body: bytes) -> None:
    assert_oauth_error(post_raw(server, tenant.tenant, body), 400, "invalid_request")


def test_body_over_64_kib(server: Server, tenant: Credentials) -> None:
    base = "&".join(f"{k}={v}" for k, v in token_form(tenant).items())
    padding = 64 * 1024 + 1 - len(base) - len("&pad=")
    body = f"{base}&pad={'a' * padding}".encode()
    assert len(body) == 64 * 1024 + 1
    assert_oauth_error(post_raw(server, tenant.tenant, body), 413, "invalid_request")

    # Chunked, without a Content-Length: refused the same way.
    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b"a" * 4096

    r = post_raw(server, tenant.tenant, chunks())
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert_oauth_error(r, 413, "invalid_request")


def test_body_of_exactly_64_kib_is_read(server: Server, tenant: Credentials) -> None:
    base = "&".join(f"{k}={v}" for k, v in token_form(tenant).items())
    padding = 64 * 1024 - len(base) - len("&pad=")
    body = f"{base}&pad={'a' * padding}".encode()
    assert len(body) == 64 * 1024
    assert_success(post_raw(server, tenant.tenant, body))


def test_too_many_parameters(server: Server, tenant: Credentials) -> None:
    base = "&".join(f"{k}={v}" for k, v in token_form(tenant).items())
    body = (base + "".join(f"&p{i}=1" for i in range(100))).encode()
    assert_oauth_error(post_raw(server, tenant.tenant, body), 400, "invalid_request")


def test_unknown_parameters_are_ignored(server: Server, tenant: Credentials) -> None:
    # RFC 6749 §3.2: "The authorization server MUST ignore unrecognized request parameters."
    assert_success(request_token(server, tenant, foo="bar", audience="x"))


# secret rotation -------------------------------------------------------------------------
def test_rotate_secret_without_grace(server: Server, tenant: Credentials) -> None:
    old = server.create_client(tenant.tenant, f"rot-{uuid.uuid4().hex[:8]}")
    assert_success(request_token(server, old))
    rotated = cli_json(
        server, "client", "rotate-secret", tenant.tenant, old.client_id, "--grace", "0"
    )
    assert rotated["clientId"] == old.client_id
    new = Credentials(tenant.tenant, old.client_id, rotated["clientSecret"])
    assert new.client_secret != old.client_secret

    r_old = wait_status(lambda: request_token(server, old), 401)
    assert_oauth_error(r_old, 401, "invalid_client")
    assert r_old.json() == INVALID_CLIENT
    assert_success(request_token(server, new))
    shown = cli_json(server, "client", "show", tenant.tenant, old.client_id)
    assert shown["previousSecretValidUntil"] is None


def test_rotate_secret_with_grace_then_end_previous(server: Server, tenant: Credentials) -> None:
    old = server.create_client(tenant.tenant, f"grace-{uuid.uuid4().hex[:8]}")
    assert_success(request_token(server, old))
    rotated = cli_json(
        server, "client", "rotate-secret", tenant.tenant, old.client_id, "--grace", "3600"
    )
    new = Credentials(tenant.tenant, old.client_id, rotated["clientSecret"])
    assert_success(wait_status(lambda: request_token(server, new), 200))
    assert_success(request_token(server, old))
    shown = cli_json(server, "client", "show", tenant.tenant, old.client_id)
    assert shown["previousSecretValidUntil"] is not None
    assert "clientSecret" not in shown
    # Both secrets give tokens of the same service account.
    assert (
        jwt_parts(access_token(server, old))[1]["sub"]
        == jwt_parts(access_token(server, new))[1]["sub"]
    )

    server.cli("client", "end-previous-secret", tenant.tenant, old.client_id)
    r_old = wait_status(lambda: request_token(server, old), 401)
    assert_oauth_error(r_old, 401, "invalid_client")
    assert_success(request_token(server, new))


def test_rotate_secret_default_grace_keeps_the_old_secret(
    server: Server, tenant: Credentials
) -> None:
    # Without --grace the documented default (24 h) applies: both secrets work.
    old = server.create_client(tenant.tenant, f"dflt-{uuid.uuid4().hex[:8]}")
    rotated = cli_json(server, "client", "rotate-secret", tenant.tenant, old.client_id)
    new = Credentials(tenant.tenant, old.client_id, rotated["clientSecret"])
    assert_success(wait_status(lambda: request_token(server, new), 200))
    assert_success(request_token(server, old))
