"""Operations: several workers, structured JSON logs with request ids and audit events, and
the audit trail of admin changes."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.servers import Server


def test_several_workers_serve_one_port(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", None, extra_env={"REALMGATE_WORKERS": "2"})
    srv.start()
    try:
        assert srv.proc is not None
        children = subprocess.run(
            ["pgrep", "-P", str(srv.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) >= 2
        demo = srv.demo
        assert demo is not None
        form = {
            "grant_type": "client_credentials",
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
        }
        tokens = set()
        for _ in range(20):
            with httpx.Client() as fresh_connection:  # spread over the workers
                r = fresh_connection.post(srv.token_url(demo.tenant), data=form)
                assert r.status_code == 200
                tokens.add(r.json()["access_token"])
                api = fresh_connection.get(
                    f"{srv.base_url}/v2/tenants/current/settings",
                    headers={"Authorization": f"Bearer {r.json()['access_token']}"},
                )
                assert api.status_code == 200
        assert len(tokens) == 20
    finally:
        srv.stop()


def test_json_logs_carry_request_ids_and_audit_events(tmp_path: Path) -> None:
    srv = Server(
        tmp_path / "data",
        None,
        extra_env={
            "REALMGATE_LOG_FORMAT": "json",
            "REALMGATE_ACCESS_LOG": "true",
            "REALMGATE_BOOTSTRAP_DEMO": "false",
        },
    )
    srv.start()
    try:
        tenant = f"o{uuid.uuid4().hex[:10]}"
        creds = srv.create_tenant(tenant)
        url = srv.token_url(tenant)
        form = {"grant_type": "client_credentials", "client_id": creds.client_id}
        bad = httpx.post(
            f"{url}?client_secret=leak",
            data={**form, "client_secret": "wrong"},
            headers={"X-Request-ID": "req-bad-1"},
        )
        assert bad.status_code == 401
        assert bad.headers["x-request-id"] == "req-bad-1"
        good = httpx.post(url, data={**form, "client_secret": creds.client_secret})
        token = good.json()["access_token"]
        httpx.get(
            f"{srv.base_url}/v2/tenants/current/settings",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-api-1"},
        )
    finally:
        srv.stop()
    lines = [json.loads(line) for line in srv.output().splitlines() if line.startswith("{")]
    events = {(e.get("event"), e.get("request_id")) for e in lines}
    assert ("auth.failed", "req-bad-1") in events
    assert any(e.get("event") == "token.issued" and e.get("tenant") == tenant for e in lines)
    access = [e for e in lines if e["logger"] == "realmgate.access"]
    assert {"path": f"/realms/{tenant}/protocol/openid-connect/token", "status": 401} in [
        {"path": e["path"], "status": e["status"]} for e in access
    ]
    assert any(e["request_id"] == "req-api-1" and e["status"] == 200 for e in access)
    text = srv.output()
    assert "leak" not in text
    assert creds.client_secret not in text
    assert token not in text


def test_admin_changes_are_in_the_audit_trail(server: Server) -> None:
    tenant = f"a{uuid.uuid4().hex[:10]}"
    server.create_tenant(tenant)
    server.create_client(tenant, "svc")
    server.cli("client", "disable", tenant, "svc")
    server.cli("keys", "rotate", tenant)
    events = json.loads(server.cli("audit", "list", "--tenant", tenant, "--json").stdout)
    actions = [(e["action"], e["target"]) for e in events]
    assert actions[:3] == [
        ("key.rotated", actions[0][1]),
        ("client.disabled", "svc"),
        ("client.created", "svc"),
    ]
    assert actions[3] == ("tenant.created", tenant)
    assert all(e["actor"].startswith("cli:") for e in events)
    assert all(e["at"] for e in events)
