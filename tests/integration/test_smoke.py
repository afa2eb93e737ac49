"""The seed's flow end to end against a real server, on each backend."""

from __future__ import annotations

import httpx

from tests.servers import Server


def test_demo_tenant_gets_a_token_that_opens_the_api(server: Server) -> None:
    assert server.demo is not None
    demo = server.demo
    r = httpx.post(
        server.token_url(demo.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
        },
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    s = httpx.get(
        f"{server.base_url}/v2/tenants/current/settings",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert s.status_code == 200
    assert s.json()["data"]["shortcode"] == "demo"
