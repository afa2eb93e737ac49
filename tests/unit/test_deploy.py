"""The systemd unit we ship is checked by systemd itself, not just written."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is needed (Debian package systemd)"
    unit = (ROOT / "deploy" / "realmgate.service").read_text()
    # Point ExecStart and EnvironmentFile at files that exist here, keep everything else.
    exe = tmp_path / "realmgate"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    env = tmp_path / "realmgate.env"
    env.write_text((ROOT / "deploy" / "realmgate.env").read_text())
    unit = unit.replace("/opt/realmgate/bin/realmgate", str(exe)).replace(
        "/etc/realmgate/realmgate.env", str(env)
    )
    path = tmp_path / "realmgate.service"
    path.write_text(unit)
    result = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "realmgate.service" in line or "Unknown" in line or "Invalid" in line
    ]
    assert result.returncode == 0, result.stderr
    assert problems == []


def test_env_example_names_only_known_options() -> None:
    from realmgate.server.settings import Settings

    known = {f"REALMGATE_{name.upper()}" for name in Settings.model_fields}
    names = [
        entry.lstrip("# ").split("=", 1)[0]
        for entry in (ROOT / "deploy" / "realmgate.env").read_text().splitlines()
        if entry.lstrip("# ").startswith("REALMGATE_")
    ]
    assert len(names) >= 8
    assert set(names) <= known


def test_the_service_onboards_no_demo_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under systemd the demo's first-start banner would go to the journal: the unit turns
    the demo off (its secret is shown on a terminal only: integration/test_first_start.py)."""
    from realmgate.server.settings import Settings

    unit = (ROOT / "deploy" / "realmgate.service").read_text()
    for name in list(os.environ):
        if name.startswith("REALMGATE_"):
            monkeypatch.delenv(name)
    for line in unit.splitlines():
        if line.startswith("Environment="):
            name, _, value = line.removeprefix("Environment=").partition("=")
            monkeypatch.setenv(name, value)
    assert os.environ.get("REALMGATE_BOOTSTRAP_DEMO") == "false"
    assert Settings.load().bootstrap_demo is False
