"""The worker supervisor: uvicorn's, with each worker on its own listening socket and CPU.

**Sockets.** uvicorn's workers accept from one shared socket, and asyncio accepts every
pending connection at each wake-up, so the worker that wakes first takes them all: 16
connections opened at once were measured landing 16/0 on two workers (and 64 as 14/50),
which halves the throughput for as long as they stay open. With ``reuse_port`` (Linux), each
worker listens on a socket of its own bound to the same address (``SO_REUSEPORT``) and the
kernel spreads new connections over the sockets by a hash of their addresses.

The supervisor binds the sockets, puts them in the listening state and keeps them open: while
a worker is being replaced (a crash, ``SIGHUP``), connections that hash to its socket wait in
that socket's queue for the replacement rather than being refused. Before binding, it checks
that nothing else listens on the address, since a port shared by ``SO_REUSEPORT`` would
otherwise be shared with another server of the same user without a word.

**Fork.** Where the platform forks (POSIX), the workers are forked from the supervisor, which
has imported the app's modules once, instead of spawned (a new interpreter that imports them
all again, in every worker, while the others do the same on the same cores); a worker is then
ready as soon as it has built its app. The supervisor must hold no thread, no database
connection and no unwritten log line when it forks: ``realmgate serve`` logs unbatched and
closes its runtime before handing over.

**CPUs.** Worker i is pinned to ``cpus[i % len(cpus)]`` when ``cpus`` is given (replacements
too), which keeps each worker's caches warm on a dedicated host.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn, cast

import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess, Process

from realmgate.server.http.log_output import flush_log_handlers

logger = logging.getLogger("uvicorn.error")


def fork_available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _exit_on_bind_error(exc: OSError, host: str, port: int) -> NoReturn:
    logger.error("cannot listen on %s port %d: %s", host, port, exc.strerror or exc)
    sys.exit(STARTUP_FAILURE)


def _ensure_free(host: str, port: int) -> None:
    """Exit as uvicorn does when another socket listens on ``(host, port)``: a plain bind
    fails then, whether or not that socket allows ``SO_REUSEPORT``."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        probe.bind((host, port))
    except OSError as exc:
        _exit_on_bind_error(exc, host, port)
    finally:
        probe.close()


def _reuse_port_socket(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def bind_worker_sockets(config: uvicorn.Config, count: int) -> list[socket.socket]:
    """``count`` listening sockets on the config's address, all with ``SO_REUSEPORT``
    (port 0: the port the first one got); exits as uvicorn does when the port is taken."""
    host, port = config.host, config.port
    if port:
        _ensure_free(host, port)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_reuse_port_socket(host, port, config.backlog))
            port = sockets[0].getsockname()[1]
    except OSError as exc:
        for sock in sockets:
            sock.close()
        _exit_on_bind_error(exc, host, port)
    scheme = "https" if config.is_ssl else "http"
    shown = f"[{host}]" if ":" in host else host
    logger.info(
        "Uvicorn running on %s://%s:%d, one socket per worker (Press CTRL+C to quit)",
        scheme,
        shown,
        port,
    )
    return sockets


def pin_process(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` to ``cpu`` (threads it starts later inherit the mask)."""
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), {cpu})


def _forked_worker(target: Callable[..., None], others: list[socket.socket], **kwargs: Any) -> None:
    """A forked worker starts with the supervisor's signal handlers, which only queue the
    signal for a supervisor's loop: back to the defaults (uvicorn then takes SIGINT and
    SIGTERM for its graceful shutdown). It closes the other workers' sockets, so that a
    socket the supervisor closes (``SIGTTOU``) stops listening."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    for sock in others:
        sock.close()
    subprocess_started(target=target, **kwargs)


class ForkedWorker(Process):
    """uvicorn's worker process (health-check pipe, ``Server.run``), forked, not spawned."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        others: list[socket.socket],
    ):
        super().__init__(config, sockets)  # builds a spawn process object; never started
        kwargs = {"config": config, "sockets": sockets, "stdin_fileno": None}
        forked = multiprocessing.get_context("fork").Process(
            target=_forked_worker, args=(self.target, others), kwargs=kwargs
        )
        self.process = cast(Any, forked)


class WorkerSupervisor(Multiprocess):
    """uvicorn's supervisor (health checks, restarts, signals), where worker i serves
    ``sockets[i]`` when there is one socket per worker (else the one shared socket), runs
    on ``cpus[i % len(cpus)]`` when ``cpus`` is not empty, and is forked when ``fork``."""

    def __init__(
        self,
        config: uvicorn.Config,
        sockets: list[socket.socket],
        cpus: list[int] | None = None,
        *,
        per_worker: bool = False,
        fork: bool = False,
    ):
        super().__init__(config, sockets)
        self.per_worker = per_worker
        self.cpus = cpus or []
        self.fork = fork

    def _sockets_of(self, index: int) -> list[socket.socket]:
        return [self.sockets[index]] if self.per_worker else self.sockets

    def _start(self, index: int) -> Process:
        flush_log_handlers()  # or a forked worker would write the lines again
        mine = self._sockets_of(index)
        if self.fork:
            others = [sock for sock in self.sockets if sock not in mine]
            process: Process = ForkedWorker(self.config, mine, others)
        else:
            process = Process(self.config, mine)
        process.start()
        if self.cpus and process.pid is not None:
            pin_process(process.pid, self.cpus[index % len(self.cpus)])
        return process

    # uvicorn's methods below, with each worker started by ``_start(index)``.

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            self.processes.append(self._start(index))

    def restart_all(self) -> None:
        """Replace each worker, its replacement serving (same socket) before the old one
        is retired."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._start(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        "New child process [%s] was not ready in time; keeping worker [%s] "
                        "and aborting the restart.",
                        new.pid,
                        old.pid,
                    )
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: kill it
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # Failed before serving: the app, TLS or the socket is broken, and every
                # restart would fail the same way.
                logger.error(
                    "Child process [%s] failed to start, stopping the parent process.",
                    process.pid,
                )
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("Child process [%s] died", process.pid)
            self.processes[index] = self._start(index)

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        if self.per_worker:  # a new worker, a new socket
            port = self.sockets[0].getsockname()[1]
            try:
                self.sockets.append(_reuse_port_socket(self.config.host, port, self.config.backlog))
            except OSError as exc:
                logger.error("no socket for another worker: %s", exc.strerror or exc)
                return
        self.processes_num += 1
        self.processes.append(self._start(len(self.processes)))

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            logger.info("Already reached one process, cannot decrease the number of processes.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        if self.per_worker and len(self.sockets) > len(self.processes):
            # Nobody accepts from it any more: close it, or connections hashed to it would
            # wait forever (those already queued there are reset).
            self.sockets.pop().close()
