"""``serve --workers N``: the settings the workers read back, the CPUs they are pinned to, and
the listening sockets, one per worker (``SO_REUSEPORT``), among which the kernel spreads
connections."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from realmgate.server.http.workers import bind_worker_sockets
from realmgate.server.settings import Settings


def test_the_workers_read_back_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        port=19124,
        workers=2,
        insecure_http=True,
        log_format="json",
        forwarded_allow_ips="10.0.0.1",
        master_key="k" * 43,
        reuse_port=False,
    )
    for name in list(os.environ):
        if name.startswith("REALMGATE_"):
            monkeypatch.delenv(name)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings.load().model_dump() == settings.model_dump()


def test_pinned_cpus_follow_the_affinity_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 5})
    assert Settings(workers=2).pinned_cpus() == [2, 5]  # auto: one worker per usable CPU
    assert Settings(workers=3).pinned_cpus() == []  # auto: not a one-per-CPU setup
    assert Settings(workers=3, worker_cpu_affinity="on").pinned_cpus() == [2, 5]
    assert Settings(workers=2, worker_cpu_affinity="off").pinned_cpus() == []
    assert Settings(workers=1, worker_cpu_affinity="on").pinned_cpus() == []


def test_a_socket_per_worker_only_with_several_workers_on_linux(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    assert Settings(workers=2).per_worker_sockets()
    assert not Settings(workers=1).per_worker_sockets()
    assert not Settings(workers=2, reuse_port=False).per_worker_sockets()
    monkeypatch.setattr(sys, "platform", "darwin")  # SO_REUSEPORT there does not balance
    assert not Settings(workers=2).per_worker_sockets()


def _config(port: int = 0) -> uvicorn.Config:
    return uvicorn.Config("realmgate.server.http.asgi:app_from_env", host="127.0.0.1", port=port)


@pytest.fixture
def worker_sockets() -> Iterator[list[socket.socket]]:
    sockets = bind_worker_sockets(_config(), 2)
    yield sockets
    for sock in sockets:
        sock.close()


def test_worker_sockets_listen_on_one_port(worker_sockets: list[socket.socket]) -> None:
    ports = {sock.getsockname()[1] for sock in worker_sockets}
    assert len(ports) == 1 and ports != {0}
    for sock in worker_sockets:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert sock.get_inheritable()


def test_the_kernel_spreads_connections_over_the_worker_sockets(
    worker_sockets: list[socket.socket],
) -> None:
    """64 connections, by a hash of their addresses: that all land on one socket has a
    chance of 2**-63 (one shared socket would leave the second with none)."""
    port = worker_sockets[0].getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
    try:
        accepted = []
        for sock in worker_sockets:
            sock.setblocking(False)
            count = 0
            while True:
                try:
                    conn, _ = sock.accept()
                except BlockingIOError:
                    break
                conn.close()
                count += 1
            accepted.append(count)
        assert sum(accepted) == 64
        assert min(accepted) > 0, accepted
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_in_use_is_refused_even_by_another_reuse_port_listener(reuse_port: bool) -> None:
    """A second server on the port would otherwise take half of its connections."""
    taken = socket.socket()
    if reuse_port:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        with pytest.raises(SystemExit) as exc:
            bind_worker_sockets(_config(taken.getsockname()[1]), 2)
        assert exc.value.code == STARTUP_FAILURE
    finally:
        taken.close()
