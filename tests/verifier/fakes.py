"""Fakes for the verifier tests: an SSO server serving discovery and JWKS documents through
``httpx.MockTransport`` (with request counting and outages), clocks, and token builders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from typing import Any

import httpx

from realmgate.jose import KeyPair, sign

SSO = "https://sso.test"
AUDIENCE = "https://api.test"
NOW = 1_750_000_000  # wall clock of the tests (seconds since the epoch)
MONOTONIC_START = 1000.0


def issuer(tenant: str) -> str:
    return f"{SSO}/realms/{tenant}"


class Clock:
    """A clock that only moves when told."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Outage = Callable[[httpx.Request], httpx.Response]


class FakeSso:
    """Discovery and JWKS of several realms; counts every request it receives."""

    def __init__(self) -> None:
        self.keys: dict[str, list[KeyPair]] = {}
        self.extra_jwks: dict[str, list[dict[str, Any]]] = {}
        self.discovery_issuer: dict[str, str] = {}
        self.requests: list[httpx.Request] = []
        self.outage: Outage | None = None
        self._lock = threading.Lock()

    def add_realm(self, tenant: str, *keys: KeyPair) -> str:
        self.keys[tenant] = list(keys)
        return issuer(tenant)

    def jwks(self, tenant: str) -> dict[str, Any]:
        entries = [key.public_jwk() for key in self.keys[tenant]]
        return {"keys": entries + self.extra_jwks.get(tenant, [])}

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if self.outage is not None:
            return self.outage(request)
        parts = request.url.path.strip("/").split("/")
        if request.url.host != "sso.test" or len(parts) < 3 or parts[0] != "realms":
            return httpx.Response(404)
        tenant, rest = parts[1], "/".join(parts[2:])
        if tenant not in self.keys:
            return httpx.Response(404, json={"error": "realm not found"})
        if rest == ".well-known/openid-configuration":
            iss = self.discovery_issuer.get(tenant, issuer(tenant))
            jwks_uri = f"{issuer(tenant)}/protocol/openid-connect/certs"
            return httpx.Response(200, json={"issuer": iss, "jwks_uri": jwks_uri})
        if rest == "protocol/openid-connect/certs":
            return httpx.Response(200, json=self.jwks(tenant))
        return httpx.Response(404)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def count(self, kind: str, tenant: str | None = None) -> int:
        """How many ``discovery`` or ``jwks`` requests were made (for ``tenant``, or all)."""
        suffix = {
            "discovery": "/.well-known/openid-configuration",
            "jwks": "/protocol/openid-connect/certs",
        }[kind]
        prefix = f"/realms/{tenant}/" if tenant else "/realms/"
        return sum(
            1
            for r in self.requests
            if r.url.path.endswith(suffix) and r.url.path.startswith(prefix)
        )


def service_unavailable(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, text="maintenance")


def connection_refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def garbage(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<html>surprise</html>")


def claims(tenant: str = "acme", **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": issuer(tenant),
        "sub": "6f1c2a4e-0000-4000-8000-000000000001",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW - 10,
        "jti": "jti-1",
        "typ": "Bearer",
        "azp": "svc-reporting",
        "client_id": "svc-reporting",
        "scope": "email profile",
        "realm_access": {"roles": ["reader"]},
        "tenant": tenant,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def token(key: KeyPair, tenant: str = "acme", *, typ: str = "JWT", **overrides: Any) -> str:
    return sign(key, claims(tenant, **overrides), typ=typ)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def unsigned_token(kid: str, tenant: str = "acme", signature: str = "") -> str:
    header = {"alg": "none", "typ": "JWT", "kid": kid}
    return f"{b64json(header)}.{b64json(claims(tenant))}.{signature}"


def hs256_token(secret: bytes, kid: str, tenant: str = "acme") -> str:
    signing_input = (
        f"{b64json({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{b64json(claims(tenant))}"
    )
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def tamper(jwt: str, **overrides: Any) -> str:
    header, payload, signature = jwt.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(overrides)
    return f"{header}.{b64json(data)}.{signature}"
