"""Helpers for the OAuth conformance tests: realm URLs, introspection and revocation calls,
client keys and assertions (RFC 7523), a loopback JWKS server, and bounded waits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from tests.integration.helpers import b64url_encode, get_settings, poll
from tests.servers import Credentials, Server

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "Invalid client or invalid client credentials",
}
INACTIVE = {"active": False}


# URLs ------------------------------------------------------------------------------------
def issuer(server: Server, tenant: str) -> str:
    return f"{server.base_url}/realms/{tenant}"


def oidc_url(server: Server, tenant: str, path: str) -> str:
    return f"{issuer(server, tenant)}/protocol/openid-connect/{path}"


def introspect_url(server: Server, tenant: str) -> str:
    return oidc_url(server, tenant, "token/introspect")


def revoke_url(server: Server, tenant: str) -> str:
    return oidc_url(server, tenant, "revoke")


# introspection and revocation --------------------------------------------------------------
def caller_form(caller: Credentials, **extra: str) -> dict[str, str]:
    return {"client_id": caller.client_id, "client_secret": caller.client_secret, **extra}


def introspect(
    server: Server, caller: Credentials, token: str, *, tenant: str | None = None
) -> httpx.Response:
    """POST the token to the introspection endpoint of ``tenant`` (default: the caller's),
    authenticated with ``client_secret_post``."""
    return httpx.post(
        introspect_url(server, tenant or caller.tenant), data=caller_form(caller, token=token)
    )


def revoke(server: Server, caller: Credentials, token: str, **extra: str) -> httpx.Response:
    return httpx.post(
        revoke_url(server, caller.tenant), data=caller_form(caller, token=token, **extra)
    )


def assert_inactive(r: httpx.Response) -> None:
    """RFC 7662 §2.2: exactly ``{"active": false}``, never cached."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == INACTIVE


def assert_active(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["active"] is True, body
    return dict(body)


def wait_introspection(
    server: Server, caller: Credentials, token: str, active: bool
) -> httpx.Response:
    """Introspect until the answer's ``active`` is ``active`` (bounded: a CLI change reaches
    the server's cache through the change feed); the caller asserts on the result."""
    return poll(
        lambda: introspect(server, caller, token),
        lambda r: r.status_code == 200 and r.json().get("active") is active,
    )


def wait_api_status(server: Server, token: str, status: int) -> httpx.Response:
    return poll(lambda: get_settings(server, token), lambda r: r.status_code == status)


def assert_api_invalid_token(r: httpx.Response) -> None:
    """The tenant API refuses the token: 401 with a JSend fail and an RFC 6750 challenge."""
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["status"] == "fail"
    assert body["message"] == "Invalid access token"
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="realmgate", error="invalid_token"'), challenge


def wait_for_next_second(after: int) -> None:
    """Not-before times have one-second resolution (a token with ``iat`` equal to the
    not-before second stays valid, as in Keycloak): make sure the wall clock has left the
    second ``after`` before a revocation, so tokens issued in it are unambiguously older."""
    while time.time() < after + 1:
        time.sleep(0.05)


def tamper_signature(token: str) -> str:
    """The token with one signature character (in the middle: every bit counts) changed."""
    header, payload, signature = token.split(".")
    i = len(signature) // 2
    swapped = "A" if signature[i] != "A" else "B"
    return f"{header}.{payload}.{signature[:i]}{swapped}{signature[i + 1 :]}"


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


# client keys and assertions (RFC 7523) ---------------------------------------------------
class ClientKey:
    """An RSA key pair of a private_key_jwt client."""

    def __init__(self, kid: str | None = None):
        self.kid = kid or f"k-{uuid.uuid4().hex[:12]}"
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": self.kid, "use": "sig", "alg": "RS256"}, private=True
        )

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def private_pem(self) -> bytes:
        return bytes(self.key.as_pem(private=True))

    def public_pem(self) -> bytes:
        return bytes(self.key.as_pem(private=False))

    def write_jwks(self, directory: Path) -> Path:
        path = directory / f"{self.kid}.jwks.json"
        path.write_text(json.dumps(self.jwks()), encoding="utf-8")
        return path


def assertion_claims(client_id: str, audience: str, **overrides: Any) -> dict[str, Any]:
    """Claims of an assertion the server accepts; ``overrides`` set (or, with None, drop) one."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def sign_rs256(key: ClientKey, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode({"alg": "RS256", "kid": key.kid, **header}, claims, key.key)


def sign_hs256(secret: str | bytes, claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))


def sign_raw_hmac(key_bytes: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A hand-made HS256 JWS: no library signs with an RSA public key as the HMAC secret."""
    signing_input = f"{b64url_encode(header)}.{b64url_encode(claims)}"
    mac = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def unsigned(claims: dict[str, Any]) -> str:
    return f"{b64url_encode({'alg': 'none', 'typ': 'JWT'})}.{b64url_encode(claims)}."


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }


def post_assertion(server: Server, tenant: str, assertion: str, **extra: str) -> httpx.Response:
    return httpx.post(server.token_url(tenant), data=assertion_form(assertion, **extra))


# a loopback JWKS server ------------------------------------------------------------------
class JwksServer:
    """Serves one JWKS document at ``url`` from a thread; ``jwks`` may be replaced."""

    def __init__(self, jwks: dict[str, Any]):
        self.jwks = jwks
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                body = json.dumps(owner.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def serve_jwks(jwks: dict[str, Any]) -> Iterator[JwksServer]:
    srv = JwksServer(jwks)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
