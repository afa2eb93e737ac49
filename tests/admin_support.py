"""The Admin REST API from a test's side: a master admin over plain HTTP (what a provisioning
script sends, KEYCLOAK-ADMIN.md §2) and the realm, client and role set-ups that the interop,
authorization and secret tests share. Every call goes to a real ``realmgate serve``."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.servers import Credentials, Server

REALM_MANAGEMENT = "realm-management"
TIMEOUT = 30.0


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (the server verified it; tests read it)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def token_response(server: Server, creds: Credentials) -> httpx.Response:
    return httpx.post(
        server.token_url(creds.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        },
        timeout=TIMEOUT,
        verify=server.verify,
    )


def token_of(server: Server, creds: Credentials) -> str:
    r = token_response(server, creds)
    assert r.status_code == 200, f"token for {creds.tenant}/{creds.client_id}: {r.text}"
    return str(r.json()["access_token"])


def master_admin(server: Server) -> Credentials:
    """The master admin client created on first start (``Server.admin``)."""
    admin = server.admin
    assert admin is not None, "the server printed no master admin credentials"
    assert admin.tenant == "master"
    return admin


def location_id(r: httpx.Response) -> str:
    """The last path segment of ``Location``, as python-keycloak and the Node client take it."""
    assert r.status_code == 201, (
        f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text}"
    )
    assert r.content == b"", f"201 with a body: {r.text}"
    return r.headers["Location"].rstrip("/").rsplit("/", 1)[1]


@dataclass
class AdminHttp:
    """A caller of the admin API with client credentials (a fresh token when asked)."""

    server: Server
    creds: Credentials
    _token: str | None = field(default=None, repr=False)

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = token_of(self.server, self.creds)
        return self._token

    def request(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return httpx.request(
            method,
            f"{self.server.base_url}{path}",
            content=content,
            headers=headers,
            params=params,
            timeout=TIMEOUT,
            verify=self.server.verify,
        )

    def ok(self, method: str, path: str, body: Any = None, *, status: int = 200) -> Any:
        r = self.request(method, path, body)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    # -- Keycloak's endpoints, as the provisioning scripts use them ----------------------------
    def create_realm(self, realm: str, **rep: Any) -> str:
        r = self.request("POST", "/admin/realms", {"realm": realm, "enabled": True, **rep})
        assert location_id(r) == realm
        return realm

    def delete_realm(self, realm: str) -> None:
        self.ok("DELETE", f"/admin/realms/{realm}", status=204)

    def create_client(self, realm: str, client_id: str, **rep: Any) -> str:
        body = {
            "clientId": client_id,
            "enabled": True,
            "publicClient": False,
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": False,
            "clientAuthenticatorType": "client-secret",
            **rep,
        }
        return location_id(self.request("POST", f"/admin/realms/{realm}/clients", body))

    def client_uuid(self, realm: str, client_id: str) -> str:
        found = self.ok("GET", f"/admin/realms/{realm}/clients?clientId={client_id}")
        assert len(found) == 1 and found[0]["clientId"] == client_id, found
        return str(found[0]["id"])

    def service_account(self, realm: str, internal_id: str) -> str:
        user = self.ok("GET", f"/admin/realms/{realm}/clients/{internal_id}/service-account-user")
        return str(user["id"])

    def create_role(self, realm: str, name: str, description: str | None = None) -> dict[str, Any]:
        r = self.request(
            "POST", f"/admin/realms/{realm}/roles", {"name": name, "description": description}
        )
        assert location_id(r) == name
        role: dict[str, Any] = self.ok("GET", f"/admin/realms/{realm}/roles/{name}")
        return role

    def map_realm_roles(self, realm: str, user_id: str, roles: list[dict[str, Any]]) -> None:
        reps = [{"id": r["id"], "name": r["name"]} for r in roles]
        self.ok(
            "POST", f"/admin/realms/{realm}/users/{user_id}/role-mappings/realm", reps, status=204
        )

    def grant_admin_roles(self, realm: str, user_id: str, names: list[str]) -> None:
        """Map client roles of the realm's ``realm-management`` client to a service account
        (python-keycloak ``assign_client_role``)."""
        rm = self.client_uuid(realm, REALM_MANAGEMENT)
        available = {
            r["name"]: r for r in self.ok("GET", f"/admin/realms/{realm}/clients/{rm}/roles")
        }
        assert set(names) <= set(available), sorted(available)
        reps = [{"id": available[n]["id"], "name": n} for n in names]
        path = f"/admin/realms/{realm}/users/{user_id}/role-mappings/clients/{rm}"
        self.ok("POST", path, reps, status=204)

    def service_client(
        self, realm: str, client_id: str, *, admin_roles: tuple[str, ...] = (), **rep: Any
    ) -> tuple[Credentials, str, str]:
        """A confidential client with a service account and a known secret (given on create):
        (credentials, its internal id, its service account's id)."""
        secret = new_secret()
        internal_id = self.create_client(realm, client_id, secret=secret, **rep)
        user_id = self.service_account(realm, internal_id)
        if admin_roles:
            self.grant_admin_roles(realm, user_id, list(admin_roles))
        return Credentials(realm, client_id, secret), internal_id, user_id
