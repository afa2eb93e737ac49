"""The table of :mod:`tests.integration.test_admin_authz_matrix`: every admin route with the
callers Keycloak lets through, and the realm, clients and tokens the matrix runs with."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.admin_support import AdminHttp, claims_of, master_admin, token_of, unique
from tests.security.helpers import parts, signing_keys
from tests.servers import Credentials, Server, postgres_database

IDENTITIES = (
    "none",
    "expired",
    "master-admin",
    "realm-admin",
    "other-realm-admin",
    "view-clients",
    "manage-clients",
    "ordinary",
)
ROLE_CLIENTS = {  # identity -> (its clientId in the target realm, its realm-management roles)
    "realm-admin": ("mx-realm-admin", ("realm-admin",)),
    "view-clients": ("mx-view-clients", ("view-clients",)),
    "manage-clients": ("mx-manage-clients", ("manage-clients",)),
    "ordinary": ("mx-ordinary", ()),
}
# The matrix sends a few hundred admin requests a second: the per-client admin rate limit
# (tests/security covers it) is lifted on its server.
SERVER_ENV = {"REALMGATE_ADMIN_RATE_LIMIT": "100000", "REALMGATE_ADMIN_RATE_BURST": "100000"}


@contextmanager
def matrix_server(backend: str, data_dir: Path) -> Iterator[Server]:
    if backend == "postgres":
        with postgres_database() as url:
            server = Server(data_dir, url, SERVER_ENV)
            server.start()
            try:
                yield server
            finally:
                server.stop()
    else:
        server = Server(data_dir, None, SERVER_ENV)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@dataclass
class Kit:
    server: Server
    master: AdminHttp
    realm: str
    callers: dict[str, Credentials]  # every identity with credentials but master-admin
    client: str  # a target client's internal id
    client_id: str  # ... its clientId
    user: str  # ... its service account's id
    role: dict[str, Any]  # a realm role of the target realm (RoleRepresentation)
    rm: str  # the realm-management client's internal id
    rm_roles: dict[str, dict[str, Any]]  # its roles by name
    expired: str  # the master admin's token, an hour past its expiry
    short_lived: tuple[str, int]  # a realm-admin token of 60 s, with its exp
    short_lived_creds: Credentials

    def creds(self, identity: str) -> Credentials:
        return master_admin(self.server) if identity == "master-admin" else self.callers[identity]

    def token(self, identity: str) -> str | None:
        """A fresh token of ``identity`` (None: no token)."""
        if identity == "none":
            return None
        if identity == "expired":
            return self.expired
        return token_of(self.server, self.creds(identity))


def expired_copy(server: Server, token: str) -> str:
    """``token`` with its time claims an hour back, signed again with its realm's own key."""
    header, claims, _ = parts(token)
    realm = claims["iss"].rstrip("/").rsplit("/", 1)[1]
    key = signing_keys(server, realm)[header["kid"]]
    now = int(time.time())
    moved = {**claims, "iat": now - 3700, "exp": now - 3600, "jti": str(uuid.uuid4())}
    if "nbf" in claims:
        moved["nbf"] = now - 3700
    return key.signer.sign(moved, typ=header.get("typ", "JWT"))


def build_kit(server: Server) -> Kit:
    master = AdminHttp(server, master_admin(server))
    realm = master.create_realm(unique("mx"))
    other = master.create_realm(unique("mxo"))
    callers = {
        identity: master.service_client(realm, client_id, admin_roles=roles)[0]
        for identity, (client_id, roles) in ROLE_CLIENTS.items()
    }
    callers["other-realm-admin"] = master.service_client(
        other, "mx-realm-admin", admin_roles=("realm-admin",)
    )[0]
    _, client, user = master.service_client(realm, "mx-target")
    role = master.create_role(realm, "mx-reader", "read")
    rm = master.client_uuid(realm, "realm-management")
    rm_roles = {r["name"]: r for r in master.ok("GET", f"/admin/realms/{realm}/clients/{rm}/roles")}
    short_creds = master.service_client(
        realm,
        "mx-short-lived",
        admin_roles=("realm-admin",),
        attributes={"access.token.lifespan": "60"},
    )[0]
    short = token_of(server, short_creds)
    return Kit(
        server=server,
        master=master,
        realm=realm,
        callers=callers,
        client=client,
        client_id="mx-target",
        user=user,
        role=role,
        rm=rm,
        rm_roles=rm_roles,
        expired=expired_copy(server, master.token),
        short_lived=(short, int(claims_of(short)["exp"])),
        short_lived_creds=short_creds,
    )


@dataclass(frozen=True)
class Attempt:
    path: str
    body: Any
    token: str | None


Body = Callable[["Kit", str], Any]  # (kit, the fresh name or id) -> JSON body


@dataclass(frozen=True)
class Row:
    """One route. ``path`` placeholders: {realm} {client} {clientId} {user} {role} {rm} and
    {fresh}: what ``fresh`` makes for the attempt ("name": a new name; "client": a new client's
    internal id, its clientId in {freshClientId}; "role": a new realm role's name; "realm": a
    realm made for a caller that passes, with its own realm-admin when that is the caller)."""

    name: str
    allowed: frozenset[str]
    ok: int
    body: Body | None = None
    fresh: str | None = None
    check: Callable[[Kit, httpx.Response], None] | None = None

    @property
    def method(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.name.split(" ", 1)[1]

    def prepare(self, kit: Kit, identity: str, passes: bool) -> Attempt:
        realm, token, fresh, fresh_client_id = kit.realm, kit.token(identity), "", ""
        if self.fresh == "name":
            fresh = unique("mxn")
        elif self.fresh == "client":
            fresh_client_id = unique("mxc")
            fresh = kit.master.create_client(kit.realm, fresh_client_id)
        elif self.fresh == "role":
            fresh = kit.master.create_role(kit.realm, unique("mxr"))["name"]
        elif self.fresh == "realm" and passes and identity in ("master-admin", "realm-admin"):
            realm = kit.master.create_realm(unique("mxd"))
            if identity == "realm-admin":
                creds = kit.master.service_client(realm, "own-admin", admin_roles=("realm-admin",))
                token = token_of(kit.server, creds[0])
        if self.name.endswith("role-mappings/realm") and self.method == "DELETE":
            kit.master.map_realm_roles(kit.realm, kit.user, [kit.role])
        path = self.path.format(
            realm=realm,
            client=kit.client,
            clientId=kit.client_id,
            user=kit.user,
            role=kit.role["name"],
            rm=kit.rm,
            fresh=fresh,
            freshClientId=fresh_client_id,
        )
        body = None if self.body is None else self.body(kit, fresh)
        return Attempt(path, body, token)


A, R, V, M, OTHER = (
    "master-admin",
    "realm-admin",
    "view-clients",
    "manage-clients",
    "other-realm-admin",
)
ANY_ADMIN = frozenset({A, R, V, M, OTHER})  # Keycloak's isAdmin(): any admin role, any realm
REALM_VIEWERS = frozenset({A, R, V, M})  # isAdmin(realm): the brief realm representation
VIEW_REALM = frozenset({A, R})  # view-realm / manage-realm / view-users / manage-users ...
CLIENT_VIEWERS = frozenset({A, R, V, M})  # view-clients | manage-clients (list, view)
CLIENT_MANAGERS = frozenset({A, R, M})  # manage-clients
MASTER_ONLY = frozenset({A})
VIEWS_A_REALM = frozenset({A, R, OTHER})  # GET /admin/realmgate/tenants: view-realm on one

K = "/admin/realms"
X = "/admin/realmgate"


def role_rep(kit: Kit, _: str) -> list[dict[str, Any]]:
    return [{"id": kit.role["id"], "name": kit.role["name"]}]


def admin_role_rep(kit: Kit, _: str) -> list[dict[str, Any]]:
    role = kit.rm_roles["query-clients"]
    return [{"id": role["id"], "name": role["name"]}]


def brief_or_full(kit: Kit, r: httpx.Response) -> None:
    assert r.json()["realm"] == kit.realm


def secret_value(kit: Kit, r: httpx.Response) -> None:
    body = r.json()
    assert body["type"] == "secret" and body["value"]


ROWS: list[Row] = [
    # -- Keycloak's endpoints (KEYCLOAK-ADMIN.md §2) -------------------------------------------
    Row(f"GET {K}", ANY_ADMIN, 200),
    Row(f"POST {K}", MASTER_ONLY, 201, lambda k, f: {"realm": f, "enabled": True}, "name"),
    Row(f"GET {K}/{{realm}}", REALM_VIEWERS, 200, check=brief_or_full),
    Row(f"PUT {K}/{{realm}}", VIEW_REALM, 204, lambda k, f: {"displayName": "Matrix"}),
    Row(f"DELETE {K}/{{realm}}", VIEW_REALM, 204, fresh="realm"),
    Row(f"GET {K}/{{realm}}/clients", CLIENT_VIEWERS, 200),
    Row(f"GET {K}/{{realm}}/clients?clientId={{clientId}}", CLIENT_VIEWERS, 200),
    Row(
        f"POST {K}/{{realm}}/clients",
        CLIENT_MANAGERS,
        201,
        lambda k, f: {"clientId": f, "serviceAccountsEnabled": True, "publicClient": False},
        "name",
    ),
    Row(f"GET {K}/{{realm}}/clients/{{client}}", CLIENT_VIEWERS, 200),
    Row(
        f"PUT {K}/{{realm}}/clients/{{client}}",
        CLIENT_MANAGERS,
        204,
        lambda k, f: {"description": "matrix"},
    ),
    Row(f"DELETE {K}/{{realm}}/clients/{{fresh}}", CLIENT_MANAGERS, 204, fresh="client"),
    Row(
        f"GET {K}/{{realm}}/clients/{{fresh}}/client-secret",
        CLIENT_VIEWERS,
        200,
        fresh="client",
        check=secret_value,
    ),
    Row(
        f"POST {K}/{{realm}}/clients/{{client}}/client-secret",
        CLIENT_MANAGERS,
        200,
        check=secret_value,
    ),
    Row(f"GET {K}/{{realm}}/clients/{{client}}/service-account-user", CLIENT_VIEWERS, 200),
    Row(f"GET {K}/{{realm}}/roles", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/roles?first=0&max=10", VIEW_REALM, 200),
    Row(f"POST {K}/{{realm}}/roles", VIEW_REALM, 201, lambda k, f: {"name": f}, "name"),
    Row(f"GET {K}/{{realm}}/roles/{{role}}", VIEW_REALM, 200),
    Row(f"DELETE {K}/{{realm}}/roles/{{fresh}}", VIEW_REALM, 204, fresh="role"),
    Row(f"GET {K}/{{realm}}/users", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/users/{{user}}", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/users/{{user}}/role-mappings", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/users/{{user}}/role-mappings/realm/composite", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/users/{{user}}/role-mappings/realm/available", VIEW_REALM, 200),
    Row(f"GET {K}/{{realm}}/users/{{user}}/role-mappings/realm", VIEW_REALM, 200),
    Row(f"POST {K}/{{realm}}/users/{{user}}/role-mappings/realm", VIEW_REALM, 204, role_rep),
    Row(f"DELETE {K}/{{realm}}/users/{{user}}/role-mappings/realm", VIEW_REALM, 204, role_rep),
    Row(f"GET {K}/{{realm}}/client-scopes", CLIENT_VIEWERS, 200),
    Row(f"GET {K}/{{realm}}/keys", VIEW_REALM, 200),
    # the realm-management pseudo-client (python-keycloak assign_client_role)
    Row(f"GET {K}/{{realm}}/clients/{{rm}}/roles", CLIENT_VIEWERS, 200),
    Row(f"GET {K}/{{realm}}/clients/{{rm}}/roles/view-clients", CLIENT_VIEWERS, 200),
    Row(
        f"GET {K}/{{realm}}/users/{{user}}/role-mappings/clients/{{rm}}/composite", VIEW_REALM, 200
    ),
    Row(
        f"GET {K}/{{realm}}/users/{{user}}/role-mappings/clients/{{rm}}/available", VIEW_REALM, 200
    ),
    Row(f"GET {K}/{{realm}}/users/{{user}}/role-mappings/clients/{{rm}}", VIEW_REALM, 200),
    Row(
        f"POST {K}/{{realm}}/users/{{user}}/role-mappings/clients/{{rm}}",
        VIEW_REALM,
        204,
        admin_role_rep,
    ),
    Row(
        f"DELETE {K}/{{realm}}/users/{{user}}/role-mappings/clients/{{rm}}",
        VIEW_REALM,
        204,
        admin_role_rep,
    ),
    # -- realmgate's extensions: the checks their modules document (realmgate_ext, _ops) --
    Row(f"GET {X}/tenants", VIEWS_A_REALM, 200),
    Row(f"POST {X}/tenants", MASTER_ONLY, 201, lambda k, f: {"shortcode": f}, "name"),
    Row(f"GET {X}/tenants/{{realm}}", VIEW_REALM, 200),
    Row(
        f"PATCH {X}/tenants/{{realm}}", VIEW_REALM, 200, lambda k, f: {"accessTokenLifespan": 3600}
    ),
    Row(f"DELETE {X}/tenants/{{realm}}", VIEW_REALM, 204, fresh="realm"),
    Row(f"POST {X}/tenants/{{realm}}/revoke-tokens", VIEW_REALM, 200, fresh="realm"),
    Row(f"GET {X}/tenants/{{realm}}/clients", CLIENT_VIEWERS, 200),
    Row(
        f"POST {X}/tenants/{{realm}}/clients",
        CLIENT_MANAGERS,
        201,
        lambda k, f: {"clientId": f},
        "name",
    ),
    Row(f"GET {X}/tenants/{{realm}}/clients/{{clientId}}", CLIENT_VIEWERS, 200),
    Row(
        f"PATCH {X}/tenants/{{realm}}/clients/{{clientId}}",
        CLIENT_MANAGERS,
        200,
        lambda k, f: {"accessTokenLifespan": 600},
    ),
    Row(
        f"DELETE {X}/tenants/{{realm}}/clients/{{freshClientId}}",
        CLIENT_MANAGERS,
        204,
        fresh="client",
    ),
    Row(
        f"POST {X}/tenants/{{realm}}/clients/{{freshClientId}}/rotate-secret",
        CLIENT_MANAGERS,
        200,
        lambda k, f: {"grace": 0},
        "client",
    ),
    Row(
        f"POST {X}/tenants/{{realm}}/clients/{{clientId}}/end-previous-secret",
        CLIENT_MANAGERS,
        200,
    ),
    Row(
        f"POST {X}/tenants/{{realm}}/clients/{{freshClientId}}/revoke-tokens",
        CLIENT_MANAGERS,
        200,
        fresh="client",
    ),
    Row(f"GET {X}/tenants/{{realm}}/keys", VIEW_REALM, 200),
    Row(f"POST {X}/tenants/{{realm}}/keys/rotate", VIEW_REALM, 200, lambda k, f: {}),
    Row(f"GET {X}/tenants/{{realm}}/key-policy", VIEW_REALM, 200),
    Row(
        f"PUT {X}/tenants/{{realm}}/key-policy",
        VIEW_REALM,
        200,
        lambda k, f: {"rotationPeriod": 7776000},
    ),
    Row(f"GET {X}/tenants/{{realm}}/settings", VIEW_REALM, 200),
    Row(f"PATCH {X}/tenants/{{realm}}/settings", VIEW_REALM, 200, lambda k, f: {}),
    Row(f"GET {X}/tenants/{{realm}}/throttle", VIEW_REALM, 200),
    Row(f"DELETE {X}/tenants/{{realm}}/throttle?clientId={{clientId}}", VIEW_REALM, 200),
    Row(f"GET {X}/audit?tenant={{realm}}", VIEW_REALM, 200),
]
