"""The SDK imports with httpx and the standard library only."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import ModuleType

import realmgate.client


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_without_requests_or_server_dependencies() -> None:
    result = run(
        """
        import sys
        for name in ("requests", "starlette", "sqlalchemy", "pydantic", "fastapi", "joserfc",
                     "cryptography", "realmgate.server"):
            sys.modules[name] = None  # importing any of these now fails
        import realmgate.client
        from realmgate.client import *
        loaded = sorted(m for m, v in sys.modules.items() if m.startswith("realmgate.") and v)
        assert all(m.startswith("realmgate.client") for m in loaded), loaded
        try:
            import realmgate.client.requests_auth
        except ImportError as exc:
            assert "realmgate[requests]" in str(exc)
        else:
            raise AssertionError("requests_auth imported without requests")
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_public_api_is_curated() -> None:
    exported = set(realmgate.client.__all__)
    public = {n for n in dir(realmgate.client) if not n.startswith("_")}
    assert exported <= public
    # Anything else public is a submodule (e.g. requests_auth once imported).
    assert all(isinstance(getattr(realmgate.client, n), ModuleType) for n in public - exported)
    assert "requests" not in " ".join(exported).lower()
