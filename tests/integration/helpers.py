"""Small helpers shared by the integration and conformance tests (real server, real HTTP)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.servers import Credentials, Server

T = TypeVar("T")

SETTINGS_PATH = "/v2/tenants/current/settings"
SEED_TOKEN_FIELDS = {
    "access_token",
    "expires_in",
    "refresh_expires_in",
    "token_type",
    "not-before-policy",
    "scope",
}
# The server's change feed is polled every second; a change made through the CLI reaches the
# server's cache within that bound. Waits are bounded by this many seconds (never asserted on).
PROPAGATION_TIMEOUT = 15.0


def unique_shortcode(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def token_form(creds: Credentials, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        **extra,
    }


def request_token(server: Server, creds: Credentials, **extra: str) -> httpx.Response:
    return httpx.post(server.token_url(creds.tenant), data=token_form(creds, **extra))


def access_token(server: Server, creds: Credentials, **extra: str) -> str:
    r = request_token(server, creds, **extra)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def settings_url(server: Server) -> str:
    return f"{server.base_url}{SETTINGS_PATH}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_settings(server: Server, token: str) -> httpx.Response:
    return httpx.get(settings_url(server), headers=bearer(token))


def patch_settings(
    server: Server,
    token: str,
    body: Any,
    content_type: str = "application/merge-patch+json",
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.patch(
        settings_url(server),
        content=raw,
        headers={**bearer(token), "Content-Type": content_type},
    )


def poll(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = PROPAGATION_TIMEOUT
) -> T:
    """Call ``fetch`` until ``done(result)`` or the bound passes; return the last result.

    For changes made through the CLI to reach the running server's cache (a propagation
    bound, not a timing assertion): the caller asserts on the returned value.
    """
    deadline = time.monotonic() + timeout
    result = fetch()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.1)
        result = fetch()
    return result


def cli_json(server: Server, *args: str) -> Any:
    return json.loads(server.cli(*args, "--json").stdout)


def b64url_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def b64url_encode(data: Any) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return b64url_json(header), b64url_json(payload), signature


def keys_named(obj: Any, name: str) -> list[Any]:
    """Every value stored under the key ``name`` anywhere in a JSON document."""
    found: list[Any] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == name:
                found.append(v)
            found.extend(keys_named(v, name))
    elif isinstance(obj, list):
        for item in obj:
            found.extend(keys_named(item, name))
    return found


def assert_oauth_error(r: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: exact status and code, no-store, a JSON body, no stack trace."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"] == "application/json"
    assert "Traceback" not in r.text
    body = r.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    return dict(body)


def assert_jsend_fail(r: httpx.Response, status: int) -> dict[str, Any]:
    """A JSend ``fail`` envelope with an exact status; returns its ``data``."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    assert "Traceback" not in r.text
    body = r.json()
    assert set(body) == {"status", "data", "message"}, body
    assert body["status"] == "fail"
    assert isinstance(body["data"], dict)
    assert isinstance(body["message"], str)
    assert body["message"]
    return dict(body["data"])
