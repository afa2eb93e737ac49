"""The admin API from a test's side: calls with a bearer token, the master admin, a fresh
realm per test, clients with known secrets and admin roles of ``realm-management``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.admin_support import claims_of as claims
from tests.admin_support import master_admin as master
from tests.admin_support import token_of, token_response, unique
from tests.servers import Credentials, Server

__all__ = ["claims", "master", "token_of", "token_response", "unique"]

TIMEOUT = 30.0


class Api:
    """Admin API calls with one bearer token."""

    def __init__(self, server: Server, token: str):
        self.server = server
        self.token = token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if body is not None:
            content = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return httpx.request(
            method,
            f"{self.server.base_url}/admin/realms{path}",
            content=content,
            headers=h,
            params=params,
            timeout=TIMEOUT,
        )

    def created(self, path: str, body: Any) -> str:
        """POST, expect 201 with an empty body; the last segment of ``Location``."""
        r = self("POST", path, body)
        assert r.status_code == 201, r.text
        assert r.content == b""
        location = r.headers["Location"]
        assert location.startswith(f"{self.server.base_url}/admin/realms")
        return location.rsplit("/", 1)[1]

    def json(self, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
        r = self(method, path, body, **kw)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def api(server: Server) -> Api:
    return Api(server, token_of(server, master(server)))


@pytest.fixture
def realm(api: Api) -> Iterator[str]:
    name = unique("r")
    assert api.created("", {"realm": name, "enabled": True}) == name
    yield name
    api("DELETE", f"/{name}")


def new_client(api: Api, realm: str, client_id: str, **rep: Any) -> tuple[str, Credentials]:
    """A client with a known secret: (its id, its credentials)."""
    secret = f"s-{uuid.uuid4().hex}"
    body = {"clientId": client_id, "secret": secret, "serviceAccountsEnabled": True, **rep}
    return api.created(f"/{realm}/clients", body), Credentials(realm, client_id, secret)


def grant(api: Api, realm: str, user_id: str, *names: str) -> None:
    """Map roles of the realm's ``realm-management`` client (python-keycloak's way)."""
    rm = api.json("GET", f"/{realm}/clients", params={"clientId": "realm-management"})[0]["id"]
    roles = {r["name"]: r for r in api.json("GET", f"/{realm}/clients/{rm}/roles")}
    body = [{"id": roles[n]["id"], "name": n} for n in names]
    api.json("POST", f"/{realm}/users/{user_id}/role-mappings/clients/{rm}", body, status=204)


def service_account(api: Api, realm: str, internal_id: str) -> str:
    return str(api.json("GET", f"/{realm}/clients/{internal_id}/service-account-user")["id"])
