"""``pip install realmgate`` (no server extra) gives the SDK and the verifier, without the
server's dependencies. Runs a real pip install into a clean virtual environment."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ["starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "typer", "pydantic"]

CHECK = f"""
import importlib.util, json, sys
import realmgate, realmgate.client, realmgate.verifier, realmgate.jose, realmgate.wire
present = [m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m) is not None]
assert not present, f"server dependencies installed: {{present}}"
loaded = [m for m in sys.modules if m.startswith("realmgate.server")]
assert not loaded, loaded
try:
    import realmgate.server.http.app
except ImportError:
    pass
else:
    raise AssertionError("the server imported without its extra")
print(json.dumps({{"prefix": sys.prefix, "realmgate": realmgate.__file__}}))
"""


def test_base_install_has_sdk_and_verifier_only(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(ROOT / "constraints.txt"),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # Run from an empty directory with a clean environment: nothing but the new virtual
    # environment can provide realmgate (not the source tree, not a PYTHONPATH).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [str(python), "-c", CHECK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    where = json.loads(result.stdout)
    # the check ran in the new environment, on the realmgate that pip installed there
    assert Path(where["prefix"]).resolve() == env_dir.resolve()
    assert Path(where["realmgate"]).resolve().is_relative_to(env_dir.resolve())
