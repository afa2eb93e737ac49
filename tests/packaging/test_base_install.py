"""``pip install realmgate`` (no server extra) gives the SDK and the verifier, without the
server's dependencies. Runs a real pip install into a clean virtual environment."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = ["starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "typer", "pydantic"]

CHECK = f"""
import importlib.util, sys
import realmgate.client, realmgate.verifier, realmgate.jose, realmgate.wire
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
print("ok")
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
    result = subprocess.run(
        [str(python), "-c", CHECK], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert sys.executable != str(python)
