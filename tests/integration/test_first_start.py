"""The first start onboards the tenant ``demo``. Its client secret is shown on a terminal, and
never written where a service's output goes (a pipe, journald, a log file): there the command
that makes a new secret is printed instead. The data directory is then 0700 and the SQLite
files, the WAL ones included, 0600."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import shlex
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from tests.servers import free_port

# `realmgate serve`, where the test alone learns the secret of the client created on the
# first start (written to the file named by the first argument), to look for it in the output.
RECORD_SECRET = """
import sys
from realmgate.server.core.admin import Admin

create_tenant = Admin.create_tenant

def recording(self, *args, **kwargs):
    creds = create_tenant(self, *args, **kwargs)
    with open(sys.argv[1], "w") as sink:
        sink.write(creds.client_secret)
    return creds

Admin.create_tenant = recording
from realmgate.cli.main import app
app(["serve"], prog_name="realmgate")
"""


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
    return {
        **env,
        "COLUMNS": "250",
        "REALMGATE_DATA_DIR": str(data_dir),
        "REALMGATE_PORT": str(port),
    }


class Drain:
    """Reads a child's output (a pipe or a pty's master side) on a thread until it ends."""

    def __init__(self, read: IO[bytes] | int) -> None:
        self.data = bytearray()
        self._read = read
        self._fd = read if isinstance(read, int) else read.fileno()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:  # EIO: the pty's other side is closed
                return
            if not chunk:
                return
            self.data += chunk

    def text(self) -> str:
        return self.data.decode(errors="replace")

    def join(self) -> str:
        self._thread.join(30)
        if not isinstance(self._read, int):
            self._read.close()
        return self.text()


def _token(base_url: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/realms/demo/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def _wait_until_serving(proc: subprocess.Popen[bytes], base_url: str, out: Drain) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, out.text()
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"realmgate serve did not come up:\n{out.text()}")


@contextlib.contextmanager
def _stopped_at_exit(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _poll(condition: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_service_s_output_never_holds_the_demo_secret(tmp_path: Path) -> None:
    """stdout and stderr are pipes, as under systemd: the secret (the only one this server
    creates) is in neither; the printed command makes a working one."""
    data, port = tmp_path / "data", free_port()
    base_url = f"http://127.0.0.1:{port}"
    sink = tmp_path / "secret"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORD_SECRET, str(sink)],
        env=_env(data, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Drain(proc.stdout), Drain(proc.stderr)
    with _stopped_at_exit(proc):
        _wait_until_serving(proc, base_url, out)
        _poll(lambda: "realmgate listening" in out.text(), out.text())
        secret = sink.read_text()
        assert len(secret) >= 32
        assert _token(base_url, "demo-admin", secret).status_code == 200  # the real one
        printed = out.text()
        assert "tenantShortcode: demo" in printed
        assert "clientId:        demo-admin" in printed
        assert "clientSecret" not in printed
        command = next(
            line.strip() for line in printed.splitlines() if "client rotate-secret" in line
        )
        assert command == (
            f"realmgate client rotate-secret demo demo-admin --grace 0 --data-dir {data}"
        )
        # the command that was printed instead gives a secret that works, and ends the first
        rotated = subprocess.run(
            [sys.executable, "-m", "realmgate", *shlex.split(command)[1:], "--json"],
            env=_env(data, port),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        new_secret = json.loads(rotated.stdout)["clientSecret"]
        _poll(
            lambda: _token(base_url, "demo-admin", new_secret).status_code == 200,
            "the new secret never worked",
        )
        _poll(
            # 401, or 429 once the failures of the wait above count against this address
            lambda: _token(base_url, "demo-admin", secret).status_code in (401, 429),
            "the first secret kept working",
        )
        proc.terminate()
        proc.wait(30)
    everything = out.join() + err.join()
    assert "realmgate listening" in everything
    assert secret not in everything
    assert new_secret not in everything


def test_a_terminal_is_shown_the_demo_secret_and_the_curl(tmp_path: Path) -> None:
    """``make serve`` on a terminal (a pseudo-terminal here): the first-run experience."""
    data, port = tmp_path / "data", free_port()
    base_url = f"http://127.0.0.1:{port}"
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "realmgate", "serve"],
            env=_env(data, port),
            stdout=slave,
            stderr=slave,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(slave)
    out = Drain(master)
    try:
        with _stopped_at_exit(proc):
            _wait_until_serving(proc, base_url, out)
            _poll(lambda: "realmgate listening" in out.text(), out.text())
            found = re.search(r"clientSecret:\s+(\S+)", out.text())
            assert found is not None, out.text()
            secret = found.group(1)
            assert _token(base_url, "demo-admin", secret).status_code == 200
            assert f"--data client_secret={secret}" in out.text()  # the ready-to-paste curl
            assert "rotate-secret" not in out.text()
    finally:
        out.join()
        os.close(master)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_server_s_files_are_private(tmp_path: Path) -> None:
    """After the start and once the WAL files exist: the data directory 0700, the database,
    its -wal and -shm files and the master key 0600, whatever the umask."""
    data, port = tmp_path / "data", free_port()
    base_url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "realmgate", "serve"],
        env=_env(data, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        umask=0o022,
    )
    assert proc.stdout is not None
    out = Drain(proc.stdout)
    with _stopped_at_exit(proc):
        _wait_until_serving(proc, base_url, out)
        files = ["realmgate.db", "realmgate.db-wal", "realmgate.db-shm", "master.key"]
        _poll(lambda: all((data / name).exists() for name in files), str(list(data.iterdir())))
        assert _mode(data) == 0o700
        for name in files:
            assert _mode(data / name) == 0o600, name
        proc.terminate()
        proc.wait(30)
    out.join()
