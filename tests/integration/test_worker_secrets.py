"""``realmgate serve --workers N`` hands its settings to the workers it forks in memory: the
master key and the database URL (with its password) from a config file never enter the
environment, which every process a worker starts would inherit and ``/proc`` would show."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from realmgate.server import settings_base
from realmgate.server.crypto import new_master_key
from realmgate.server.settings import Settings
from tests.servers import Server, postgres_database

# `realmgate serve`, where the hand-over to the workers (runner.run) records what a forked
# worker would get: the environment, and what its app factory's Settings.load() returns.
RECORD_HAND_OVER = """
import json, os, sys
from realmgate.server.http import runner
from realmgate.server.settings import Settings

def run(settings, app):
    assert app is None  # several workers
    loaded = Settings.load()
    with open(sys.argv[1], "w") as out:
        json.dump({
            "environ": dict(os.environ),
            "master_key": loaded.master_key.get_secret_value(),
            "database_url": loaded.database_url,
            "same": loaded is settings,
        }, out)

runner.run = run
from realmgate.cli.main import app
app(sys.argv[2:], prog_name="realmgate")
"""


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
    return {**env, "COLUMNS": "250", **extra}


def test_the_workers_get_the_settings_without_the_environment(tmp_path: Path) -> None:
    key = new_master_key()
    url = f"sqlite:///{tmp_path / 'db' / 'realmgate.db'}"
    (tmp_path / "db").mkdir()
    config = tmp_path / "realmgate.env"
    config.write_text(
        f"REALMGATE_MASTER_KEY={key}\nREALMGATE_DATABASE_URL={url}\nREALMGATE_WORKERS=2\n"
        "REALMGATE_BOOTSTRAP_DEMO=false\n"
    )
    record = tmp_path / "handed-over.json"
    env = _clean_env({"REALMGATE_DATA_DIR": str(tmp_path / "data")})
    result = subprocess.run(
        [sys.executable, "-c", RECORD_HAND_OVER, str(record), "serve", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    handed = json.loads(record.read_text())
    environment = "\n".join(f"{k}={v}" for k, v in handed["environ"].items())
    assert key not in environment
    assert url not in environment
    assert "REALMGATE_CONFIG_FILE" not in handed["environ"]
    # what the workers' app factory loads: the command's own settings, config file included
    assert handed["same"] is True
    assert (handed["master_key"], handed["database_url"]) == (key, url)


def test_a_process_not_forked_from_serve_does_not_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALMGATE_SETTINGS_HANDED_OVER", "1")
    monkeypatch.setattr(settings_base, "_handed_over", {})
    with pytest.raises(RuntimeError, match="not forked from `realmgate serve`"):
        Settings.load()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_no_worker_environment_holds_the_master_key_or_the_database_password(
    tmp_path: Path,
) -> None:
    key = new_master_key()
    password = "pw-Sentinel-0123456789"  # PostgreSQL here trusts local connections
    with postgres_database() as url:
        secret_url = url.replace("://postgres@", f"://postgres:{password}@", 1)
        assert password in secret_url
        srv = Server(tmp_path / "data", None)
        config = tmp_path / "realmgate.env"
        config.write_text(
            f"REALMGATE_MASTER_KEY={key}\nREALMGATE_DATABASE_URL={secret_url}\n"
            f"REALMGATE_PORT={srv.port}\nREALMGATE_WORKERS=2\n"
        )
        env = {k: v for k, v in srv.env.items() if k not in ("REALMGATE_PORT",)}
        srv.data_dir.mkdir(parents=True)
        with srv.log_path.open("ab") as log:
            srv.proc = subprocess.Popen(
                [sys.executable, "-m", "realmgate", "serve", "--config", str(config)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            deadline = time.monotonic() + 60
            workers: list[int] = []
            while time.monotonic() < deadline:
                assert srv.proc.poll() is None, srv.output()
                workers = _children(srv.proc.pid)
                with contextlib.suppress(httpx.TransportError):
                    live = httpx.get(f"{srv.base_url}/health/live", timeout=1)
                    if live.status_code == 200 and len(workers) >= 2:
                        break
                time.sleep(0.1)
            else:
                raise AssertionError(f"no two workers serving:\n{srv.output()}")
            srv.demo = srv._parse_demo()
            assert srv.demo is not None, srv.output()
            for _ in range(4):  # the workers reach the database the config file names
                with httpx.Client() as fresh_connection:
                    r = fresh_connection.post(
                        srv.token_url(srv.demo.tenant),
                        data={
                            "grant_type": "client_credentials",
                            "client_id": srv.demo.client_id,
                            "client_secret": srv.demo.client_secret,
                        },
                    )
                    assert r.status_code == 200, r.text
            for pid in [srv.proc.pid, *workers]:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
                assert key.encode() not in environ, pid
                assert password.encode() not in environ, pid
        finally:
            srv.stop()
    assert "Traceback" not in srv.output()
