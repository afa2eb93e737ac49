"""``serve --workers N`` hands over to a small supervisor module: the command it builds, and
what a worker spawned from it imports (not the command line tool, Alembic or libpq)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from realmgate.server.http import supervise
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage import migrate


def test_command_runs_the_module_with_uvicorns_options_and_the_settings_in_the_env(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        port=19123,
        workers=3,
        log_level="warning",
        log_format="json",
        forwarded_allow_ips="10.0.0.1",
        master_key="k" * 43,
    )
    environ = {
        "PATH": "/usr/bin",
        "REALMGATE_CONFIG_FILE": str(tmp_path / "gone.env"),
        "REALMGATE_PORT": "1",
    }
    argv, env = supervise.command(settings, environ)
    # -P: nothing imported from the current directory (realmgate is installed here)
    assert argv[:4] == [sys.executable, "-P", "-m", "realmgate.server.http.supervise"]
    options = json.loads(argv[4])
    assert (options["workers"], options["log_level"], options["log_format"]) == (
        3,
        "warning",
        "json",
    )
    assert options["uvicorn"]["port"] == 19123
    assert options["uvicorn"]["forwarded_allow_ips"] == "10.0.0.1"
    assert "REALMGATE_CONFIG_FILE" not in env  # every setting is in the env already
    assert env["PATH"] == "/usr/bin"
    assert env["REALMGATE_PORT"] == "19123"  # the settings win over the inherited env
    assert env["REALMGATE_MASTER_KEY"] == "k" * 43


def test_the_workers_read_back_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, port=19124, workers=2, insecure_http=True)
    _, env = supervise.command(settings, {})
    for name in list(os.environ):
        if name.startswith("REALMGATE_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings.load().model_dump() == settings.model_dump()


def test_main_wants_its_options() -> None:
    with pytest.raises(SystemExit) as exc:
        supervise.main([])
    assert exc.value.code == 2


def test_script_head_agrees_with_alembic() -> None:
    assert migrate.script_head() == migrate.head_revision()


# What a spawned worker does: run the supervisor module as __mp_main__, then build the app
# through uvicorn's factory string (the database was migrated by the parent).
WORKER = textwrap.dedent(
    """
    import runpy, sys
    runpy.run_module("realmgate.server.http.supervise", run_name="__mp_main__", alter_sys=True)
    from uvicorn.importer import import_from_string
    from realmgate.server.http.runner import FACTORY
    app = import_from_string(FACTORY)()
    unwanted = ("typer", "rich", "alembic", "mako", "psycopg", "realmgate.cli")
    print(sorted(m for m in unwanted if m in sys.modules))
    """
)


def test_a_worker_imports_only_what_serving_needs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, bootstrap_demo=False)
    open_runtime(settings).close()  # the parent's migration
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
    env.update(settings.to_env())
    result = subprocess.run(
        [sys.executable, "-c", WORKER],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_pinned_cpus_follow_the_affinity_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 5})
    assert Settings(workers=2).pinned_cpus() == [2, 5]  # auto: one worker per usable CPU
    assert Settings(workers=3).pinned_cpus() == []  # auto: not a one-per-CPU setup
    assert Settings(workers=3, worker_cpu_affinity="on").pinned_cpus() == [2, 5]
    assert Settings(workers=2, worker_cpu_affinity="off").pinned_cpus() == []
    assert Settings(workers=1, worker_cpu_affinity="on").pinned_cpus() == []
