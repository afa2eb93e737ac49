"""On PostgreSQL a change reaches every node through LISTEN/NOTIFY, long before the polling
fallback: here the poll interval is 60 s, yet a disabled client is refused within seconds."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.servers import Server, postgres_database


def test_notify_propagates_a_change_without_waiting_for_the_poll(tmp_path: Path) -> None:
    with postgres_database() as url:
        srv = Server(tmp_path / "data", url, extra_env={"REALMGATE_CACHE_POLL_INTERVAL": "60"})
        srv.start()
        try:
            creds = srv.create_client("demo", "notified")
            form = {
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            }
            assert httpx.post(srv.token_url("demo"), data=form).status_code == 200
            srv.cli("client", "disable", "demo", "notified")
            deadline = time.monotonic() + 10  # a bound on propagation; the poll would take 60 s
            status = 200
            while status == 200 and time.monotonic() < deadline:
                status = httpx.post(srv.token_url("demo"), data=form).status_code
                time.sleep(0.05)
            assert status == 401
        finally:
            srv.stop()
