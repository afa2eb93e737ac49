"""``realmgate serve --workers 2``: the command onboards and prints once, then supervises the
workers it forks, each listening on a socket of its own; SIGTERM and SIGINT stop it cleanly,
a restart on the migrated database serves again, SIGHUP replaces the workers one by one, and
no connection is refused or left hanging while a worker is replaced or retired."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.servers import Server


def _cmdline(pid: int) -> str:
    """The command line of a live process; "" for a zombie or a process already gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _form(srv: Server) -> dict[str, str]:
    demo = srv.demo
    assert demo is not None
    return {
        "grant_type": "client_credentials",
        "client_id": demo.client_id,
        "client_secret": demo.client_secret,
    }


def _served_by(port: int, client_port: int) -> int | None:
    """The process holding the server's end of the connection from ``client_port``."""
    out = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( sport = :{port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out)}
    return pids.pop() if len(pids) == 1 else None


def _token(srv: Server, attempts: int = 200) -> None:
    """Tokens on new connections (each from a new source port, which the kernel hashes to
    one of the workers' sockets) until every worker has served one; each is identified by
    the process that holds the server's end of the connection."""
    assert srv.proc is not None and srv.demo is not None
    workers = set(_workers(srv.proc.pid))
    served: set[int | None] = set()
    for _ in range(attempts):
        with httpx.Client(timeout=30) as fresh_connection:
            r = fresh_connection.post(srv.token_url(srv.demo.tenant), data=_form(srv))
            assert r.status_code == 200
            assert r.json()["token_type"] == "Bearer"
            _, client_port = r.extensions["network_stream"].get_extra_info("client_addr")
            served.add(_served_by(srv.port, client_port))  # while the connection is open
        if served >= workers:
            break
    assert served == workers, f"served by {served}, workers {workers}"


def _workers(pid: int) -> list[int]:
    """The live worker processes of the supervisor ``pid``."""
    return [p for p in _children(pid) if _cmdline(p) and "resource_tracker" not in _cmdline(p)]


def _listeners(port: int) -> list[set[int]]:
    """The listening sockets on ``port``: for each, the processes holding it."""
    out = subprocess.run(
        ["ss", "-tlnpH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return [{int(p) for p in re.findall(r"pid=(\d+)", line)} for line in out.splitlines()]


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_forks_workers_on_sockets_of_their_own(tmp_path: Path, sig: signal.Signals) -> None:
    srv = Server(tmp_path / "data", None, extra_env={"REALMGATE_WORKERS": "2"})
    srv.start()
    try:
        proc = srv.proc
        assert proc is not None
        workers = _workers(proc.pid)
        assert len(workers) == 2
        # forked: the command's own process image, no re-import through multiprocessing
        assert all(_cmdline(p) == _cmdline(proc.pid) for p in workers)
        # two listening sockets, each held by the supervisor and one worker
        listeners = _listeners(srv.port)
        assert sorted(sorted(holders - {proc.pid}) for holders in listeners) == sorted(
            [w] for w in workers
        )
        assert all(proc.pid in holders for holders in listeners)
        _token(srv)
        proc.send_signal(sig)
        assert proc.wait(20) == 0
        output = srv.output()
        assert output.count("clientSecret:") == 2  # the demo's and master's admin client
        assert "Traceback" not in output
        srv.proc = None
        srv.start()  # the schema is at this version's revision: the workers start on it
        _token(srv)
        assert srv.output().count("clientSecret:") == 2
    finally:
        srv.stop()


def test_the_console_script_hands_over_with_its_config_file(tmp_path: Path) -> None:
    """``realmgate serve --config FILE``: the workers get the file's settings through the
    environment and do not read the config file named in the environment."""
    script = Path(sys.executable).parent / "realmgate"
    srv = Server(tmp_path / "data", None)
    config = tmp_path / "realmgate.env"
    config.write_text(f"REALMGATE_PORT={srv.port}\nREALMGATE_WORKERS=2\n")
    env = {k: v for k, v in srv.env.items() if k not in ("REALMGATE_PORT", "REALMGATE_WORKERS")}
    env["REALMGATE_CONFIG_FILE"] = str(tmp_path / "not-this-one.env")
    srv.data_dir.mkdir(parents=True)
    with srv.log_path.open("ab") as log:
        srv.proc = subprocess.Popen(
            [str(script), "serve", "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while srv.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{srv.base_url}/health/live", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        assert srv.proc.poll() is None, srv.output()
        assert len(_children(srv.proc.pid)) >= 2
        srv.demo = srv._parse_demo()
        _token(srv)
    finally:
        srv.stop()
    assert "Traceback" not in srv.output()


@pytest.mark.parametrize("affinity", ["on", "off"])
def test_workers_are_pinned_one_per_cpu(tmp_path: Path, affinity: str) -> None:
    """``worker_cpu_affinity``: worker i runs on CPU i (modulo the usable CPUs), all its
    threads too; ``off`` leaves them free. Workers replaced after a crash are pinned again."""
    usable = sorted(os.sched_getaffinity(0))
    env = {"REALMGATE_WORKERS": "2", "REALMGATE_WORKER_CPU_AFFINITY": affinity}
    srv = Server(tmp_path / "data", None, extra_env=env)
    srv.start()
    try:
        proc = srv.proc
        assert proc is not None

        def workers() -> list[int]:
            return _workers(proc.pid)

        def masks() -> set[frozenset[int]]:
            """The CPU masks of every thread of every worker (None for one that went away)."""
            found: set[frozenset[int]] = set()
            for pid in workers():
                try:
                    for tid in os.listdir(f"/proc/{pid}/task"):
                        found.add(frozenset(os.sched_getaffinity(int(tid))))
                except (FileNotFoundError, ProcessLookupError):
                    return set()  # a worker is going or coming: look again
            return found

        _token(srv)
        expected = (
            {frozenset({usable[i % len(usable)]}) for i in range(2)}
            if affinity == "on"
            else {frozenset(usable)}
        )
        assert masks() == expected
        if affinity == "on":
            victim = workers()[0]
            os.kill(victim, signal.SIGKILL)
            _wait_for(
                lambda: victim not in workers() and len(workers()) == 2 and masks() == expected
            )
            _token(srv)
    finally:
        srv.stop()


def _fresh_connections(srv: Server, count: int) -> list[int]:
    """Status codes of ``count`` requests, each on a new connection (so from a new source
    port, hashed anew to one of the workers' sockets); none may time out."""
    codes = []
    for _ in range(count):
        with httpx.Client(timeout=10) as fresh_connection:
            codes.append(fresh_connection.get(f"{srv.base_url}/health/live").status_code)
    return codes


def test_connections_wait_for_a_replaced_worker_and_a_retired_ones_socket_closes(
    tmp_path: Path,
) -> None:
    """A worker killed: connections hashed to its socket wait in the socket's queue, which the
    supervisor keeps listening, and its replacement serves them. SIGTTOU retires a worker:
    its socket is closed everywhere (the other worker, forked with it, closed its copy), so no
    connection is sent where nobody accepts. SIGTTIN adds a worker on a new socket."""
    srv = Server(tmp_path / "data", None, extra_env={"REALMGATE_WORKERS": "2"})
    srv.start()
    try:
        proc = srv.proc
        assert proc is not None
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        assert _fresh_connections(srv, 24) == [200] * 24
        _wait_for(lambda: victim not in _workers(proc.pid) and len(_workers(proc.pid)) == 2)

        proc.send_signal(signal.SIGTTOU)
        _wait_for(lambda: len(_workers(proc.pid)) == 1 and len(_listeners(srv.port)) == 1)
        assert _fresh_connections(srv, 24) == [200] * 24

        proc.send_signal(signal.SIGTTIN)
        _wait_for(lambda: len(_workers(proc.pid)) == 2 and len(_listeners(srv.port)) == 2)
        assert _fresh_connections(srv, 24) == [200] * 24
        _token(srv)
    finally:
        srv.stop()
    assert "Traceback" not in srv.output()


class SteadyClient:
    """Token requests one after another, each on a new connection, from a thread; every
    outcome is recorded with the phase the test was in when the request was sent."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.phase = "before"
        self.outcomes: list[tuple[str, str]] = []  # (phase, "200" or the error)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SteadyClient:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        assert self.srv.demo is not None
        url = self.srv.token_url(self.srv.demo.tenant)
        while not self._stop.is_set():
            phase = self.phase
            try:
                with httpx.Client(timeout=30) as fresh_connection:
                    outcome = str(fresh_connection.post(url, data=_form(self.srv)).status_code)
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            self.outcomes.append((phase, outcome))

    def count(self, phase: str) -> int:
        return sum(p == phase for p, _ in self.outcomes)


def test_sighup_replaces_the_workers_one_by_one_without_failing_a_request(
    tmp_path: Path,
) -> None:
    """SIGHUP: each worker is replaced by a new process (a new PID) while the other keeps
    serving; at no moment are fewer than the two workers alive, or more than one extra; a
    client sending token requests all along sees every one answered 200."""
    srv = Server(tmp_path / "data", None, extra_env={"REALMGATE_WORKERS": "2"})
    srv.start()
    try:
        proc = srv.proc
        assert proc is not None
        old = set(_workers(proc.pid))
        assert len(old) == 2
        seen: list[set[int]] = []
        with SteadyClient(srv) as client:
            _wait_for(lambda: client.count("before") >= 5)
            client.phase = "restart"
            proc.send_signal(signal.SIGHUP)

            def replaced() -> bool:
                current = set(_workers(proc.pid))
                seen.append(current)
                return len(current) == 2 and not current & old

            _wait_for(replaced)
            client.phase = "after"
            _wait_for(lambda: client.count("after") >= 5)
        assert client.count("restart") > 0
        failed = [(p, o) for p, o in client.outcomes if o != "200"]
        assert failed == []
        # one by one: never fewer workers alive than configured, never more than one extra
        assert all(2 <= len(workers) <= 3 for workers in seen), seen
        assert proc.poll() is None
        _token(srv)  # both new workers serve
    finally:
        srv.stop()
    assert "Traceback" not in srv.output()
