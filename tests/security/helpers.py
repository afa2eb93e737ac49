"""Helpers of the security suite: forged JWS, the realm's own keys read from the database (the
test owns the data directory and the master key, as an operator would), the two token
consumers (tenant API, introspection) and bounded polling for CLI changes to propagate."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from realmgate.jose import KeyPair, load_private_key
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from tests.servers import Credentials, Server

T = TypeVar("T")

SETTINGS_PATH = "/v2/tenants/current/settings"
# A change made through the CLI reaches the server's cache through the change feed (polled
# every second). Waits are bounded by this; it is never asserted on.
PROPAGATION_TIMEOUT = 10.0
CHALLENGE = re.compile(
    r'^Bearer realm="realmgate", error="invalid_token", error_description="(?P<desc>[^"]+)"$'
)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), signature


def compact(header: dict[str, Any], payload: bytes | dict[str, Any], signature: bytes) -> str:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64url_json(header)}.{b64url(body)}.{b64url(signature)}"


def signing_input(header: dict[str, Any], payload: bytes | dict[str, Any]) -> bytes:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64url_json(header)}.{b64url(body)}".encode()


def sign_rs256(
    private: rsa.RSAPrivateKey, header: dict[str, Any], payload: bytes | dict[str, Any]
) -> str:
    """A compact JWS signed with RS256 by ``private``, whatever the header says."""
    data = signing_input(header, payload)
    signature = private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return f"{data.decode()}.{b64url(signature)}"


def sign_hs256(secret: bytes, header: dict[str, Any], payload: bytes | dict[str, Any]) -> str:
    data = signing_input(header, payload)
    mac = hmac.HMAC(secret, hashes.SHA256())
    mac.update(data)
    return f"{data.decode()}.{b64url(mac.finalize())}"


def rsa_private(pair: KeyPair) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pair.private_pem(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


# -- the server's own database, opened as the operator would ------------------------------------
@contextmanager
def runtime_of(server: Server) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=server.data_dir,
        database_url=server.database_url,
        port=server.port,  # issuers are http://127.0.0.1:<port>/realms/<tenant>
        migrate_on_start=False,
    )
    rt = open_runtime(settings, upgrade=False)
    try:
        yield rt
    finally:
        rt.close()


def signing_keys(server: Server, tenant: str) -> dict[str, KeyPair]:
    """Every stored signing key of ``tenant`` (decrypted with the install's master key)."""
    with runtime_of(server) as rt:
        return {
            k.kid: load_private_key(
                rt.vault.decrypt_signing_key(tenant, k.kid, k.private_key_enc), k.alg, k.kid
            )
            for k in rt.store.list_keys(tenant)
        }


# -- HTTP ---------------------------------------------------------------------------------------
def token_form(creds: Credentials, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": creds.client_id,
        "client_secret": creds.client_secret,
        **extra,
    }


def request_token(server: Server, creds: Credentials, **extra: str) -> httpx.Response:
    return httpx.post(server.token_url(creds.tenant), data=token_form(creds, **extra), timeout=30)


def access_token(server: Server, creds: Credentials) -> str:
    r = request_token(server, creds)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def api_get(server: Server, token: str) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}{SETTINGS_PATH}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def api_patch(server: Server, token: str, patch: dict[str, Any]) -> httpx.Response:
    return httpx.patch(
        f"{server.base_url}{SETTINGS_PATH}",
        content=json.dumps(patch).encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/merge-patch+json",
        },
        timeout=30,
    )


def introspect(server: Server, caller: Credentials, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.token_url(caller.tenant)}/introspect",
        data={"token": token, "client_id": caller.client_id, "client_secret": caller.client_secret},
        timeout=30,
    )


def revoke(server: Server, caller: Credentials, token: str) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/realms/{caller.tenant}/protocol/openid-connect/revoke",
        data={"token": token, "client_id": caller.client_id, "client_secret": caller.client_secret},
        timeout=30,
    )


def jwks(server: Server, tenant: str) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/realms/{tenant}/protocol/openid-connect/certs", timeout=30)
    assert r.status_code == 200, r.text
    return dict(r.json())


def assert_api_refused(r: httpx.Response, description: str | None = None) -> str:
    """401 with the JSend ``fail`` envelope and an RFC 6750 ``invalid_token`` challenge.

    Returns the error description (checked against ``description`` when given)."""
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"status", "data", "message"}, body
    assert body["status"] == "fail"
    assert body["message"] == "Invalid access token"
    assert set(body["data"]) == {"authorization"}, body
    found = CHALLENGE.match(r.headers["www-authenticate"])
    assert found, r.headers["www-authenticate"]
    assert found["desc"] == body["data"]["authorization"]
    if description is not None:
        assert found["desc"] == description
    return found["desc"]


def assert_inactive(r: httpx.Response) -> None:
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.json() == {"active": False}
    assert r.headers["cache-control"] == "no-store"


def poll(fetch: Callable[[], T], done: Callable[[T], bool]) -> T:
    """Call ``fetch`` until ``done(result)`` or PROPAGATION_TIMEOUT passes; the last result."""
    deadline = time.monotonic() + PROPAGATION_TIMEOUT
    result = fetch()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.1)
        result = fetch()
    return result


class LogWatch:
    """The part of a server's log written since it was created: for 'no traceback' checks."""

    def __init__(self, server: Server):
        self.server = server
        self.mark = len(server.output())

    def new(self) -> str:
        return self.server.output()[self.mark :]

    def assert_no_error(self) -> None:
        text = self.new()
        assert "Traceback" not in text, text
        assert " ERROR " not in text, text


# -- an attacker's web server (jku / x5u targets) --------------------------------------------
class Listener:
    """A local HTTP server that serves ``body`` on every GET and records every request."""

    def __init__(self, body: bytes, content_type: str = "application/json"):
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
