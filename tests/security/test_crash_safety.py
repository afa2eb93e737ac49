"""Crash safety: the server is SIGKILLed in the middle of load, admin CLI processes are SIGKILLed
in flight, and nothing that was acknowledged is lost.

Load runs in background threads: token requests, and CLI ``tenant create`` / ``client create``
/ ``keys rotate`` in a loop bounded by count. A creation is *acknowledged* when the CLI exited 0
and printed its JSON. After the server's restart, every acknowledged tenant, client and key is
in the CLI's ``--json`` listings, every acknowledged secret still gets a token, every token
issued before the kill still opens the tenant API, and every tenant in the database is whole
(its signing key and its first client: onboarding is one transaction), also those whose
creating CLI was killed.

Every kill comes at an observed point, never after a guessed delay: the server's after the load
made a given number of iterations; each killed CLI's while the test holds the database's write
lock, so that it cannot have committed: right after it started, and once it is at the
database (on PostgreSQL: inside its transaction, its rows written, waiting for the lock on the
change feed; on SQLite: with the database open, waiting for the write lock). What a killed CLI
was creating must then be nowhere.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg

from tests.security.helpers import LogWatch, api_get, runtime_of, token_form, unique
from tests.servers import Credentials, Server

ITERATIONS = 8  # per load thread
KILL_SERVER_AFTER = 3  # tenant-loop iterations done when the server is SIGKILLed
RESTART_SERVER_AFTER = 6  # ... and when it is started again
KILL_POINTS = ("started", "at the database")  # when each in-flight CLI is SIGKILLed
WAIT = 600.0  # bound on any wait for the load threads (never reached in a healthy run)


@dataclass
class Ledger:
    """What the load got acknowledged; shared by the threads under ``lock``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: threading.Condition = field(default_factory=threading.Condition)
    tenant_iterations: int = 0
    tenants: dict[str, Credentials] = field(default_factory=dict)
    clients: dict[str, Credentials] = field(default_factory=dict)
    kids: set[str] = field(default_factory=set)
    tokens: list[tuple[str, str]] = field(default_factory=list)  # (tenant, access token)
    token_failures: int = 0
    cli_failures: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def cli_json(server: Server, ledger: Ledger, *args: str) -> Any | None:
    """The command's JSON when it was acknowledged (exit 0 and JSON on stdout), else None
    (the failure is recorded: nothing but a kill may make an admin command fail)."""
    result = server.cli(*args, "--json", check=False)
    try:
        if result.returncode == 0:
            return json.loads(result.stdout)
    except ValueError:
        pass
    with ledger.lock:
        ledger.cli_failures.append(f"{' '.join(args)}: {result.returncode} {result.stderr[-2000:]}")
    return None


def get_token(http: httpx.Client, server: Server, creds: Credentials, ledger: Ledger) -> None:
    try:
        r = http.post(server.token_url(creds.tenant), data=token_form(creds))
    except httpx.TransportError:
        with ledger.lock:
            ledger.token_failures += 1
        return
    with ledger.lock:
        if r.status_code == 200:
            ledger.tokens.append((creds.tenant, r.json()["access_token"]))
        else:
            ledger.token_failures += 1


def tenant_loop(server: Server, base: Credentials, prefix: str, ledger: Ledger) -> None:
    try:
        with httpx.Client(timeout=10) as http:
            for i in range(ITERATIONS):
                get_token(http, server, base, ledger)
                shortcode = f"{prefix}t{i}"
                data = cli_json(server, ledger, "tenant", "create", shortcode)
                if data is not None:
                    creds = Credentials(
                        data["tenantShortcode"], data["clientId"], data["clientSecret"]
                    )
                    assert creds.tenant == shortcode
                    with ledger.lock:
                        ledger.tenants[shortcode] = creds
                    get_token(http, server, creds, ledger)
                with ledger.progress:
                    ledger.tenant_iterations += 1
                    ledger.progress.notify_all()
    except BaseException as exc:  # reported by the main thread
        ledger.errors.append(exc)
        with ledger.progress:
            ledger.tenant_iterations = ITERATIONS
            ledger.progress.notify_all()


def client_key_loop(server: Server, base: Credentials, ledger: Ledger) -> None:
    try:
        with httpx.Client(timeout=10) as http:
            for i in range(ITERATIONS):
                client_id = f"load-{i}"
                data = cli_json(server, ledger, "client", "create", base.tenant, client_id)
                if data is not None:
                    creds = Credentials(base.tenant, data["clientId"], data["clientSecret"])
                    with ledger.lock:
                        ledger.clients[client_id] = creds
                    get_token(http, server, creds, ledger)
                key = cli_json(server, ledger, "keys", "rotate", base.tenant)
                if key is not None:
                    with ledger.lock:
                        ledger.kids.add(key["kid"])
                get_token(http, server, base, ledger)
    except BaseException as exc:
        ledger.errors.append(exc)


def wait_for_progress(ledger: Ledger, iterations: int) -> None:
    with ledger.progress:
        reached = ledger.progress.wait_for(lambda: ledger.tenant_iterations >= iterations, WAIT)
    assert reached, "the load made no progress"


@contextmanager
def write_lock(server: Server) -> Iterator[None]:
    """Hold the database's write lock: no admin command commits while it is held. On
    PostgreSQL, the lock on the change feed, which every admin write appends to last."""
    if server.database_url is not None:
        with psycopg.connect(server.database_url) as conn:
            conn.execute("LOCK TABLE changes IN EXCLUSIVE MODE")
            yield
            conn.rollback()
        return
    lite = sqlite3.connect(server.data_dir / "realmgate.db", timeout=60, isolation_level=None)
    try:
        lite.execute("BEGIN IMMEDIATE")
        yield
        lite.execute("ROLLBACK")
    finally:
        lite.close()


def at_the_database(server: Server, proc: subprocess.Popen[str], name: str) -> bool:
    """PostgreSQL: the CLI's session (``application_name``) waits for a lock inside its
    transaction. SQLite: the CLI has the database file open."""
    if server.database_url is not None:
        with psycopg.connect(server.database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND wait_event_type = 'Lock'",
                (name,),
            ).fetchone()
        return bool(row and row[0])
    database = str((server.data_dir / "realmgate.db").resolve())
    try:
        fds = os.listdir(f"/proc/{proc.pid}/fd")
        return any(os.readlink(f"/proc/{proc.pid}/fd/{fd}") == database for fd in fds)
    except (FileNotFoundError, ProcessLookupError):
        return False


def kill_cli_in_flight(server: Server, args: list[str], point: str, name: str) -> str:
    """Run ``realmgate *args --json`` under the write lock and SIGKILL it at ``point``;
    its stderr."""
    with write_lock(server):
        proc = subprocess.Popen(
            [sys.executable, "-m", "realmgate", *args, "--json"],
            env={**server.env, "PGAPPNAME": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        if point == "at the database":
            deadline = time.monotonic() + WAIT
            while proc.poll() is None and not at_the_database(server, proc, name):
                assert time.monotonic() < deadline, f"{name} never reached the database"
                time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, (args, point, proc.returncode, err)
    return err


def listed(server: Server, *args: str) -> Any:
    return json.loads(server.cli(*args, "--json").stdout)


def test_nothing_acknowledged_is_lost_across_sigkills(fresh_server: Server) -> None:
    server = fresh_server
    server.start()
    prefix = unique("cr")
    base = server.create_tenant(f"{prefix}base")
    ledger = Ledger()
    threads = [
        threading.Thread(target=tenant_loop, args=(server, base, prefix, ledger), daemon=True),
        threading.Thread(target=client_key_loop, args=(server, base, ledger), daemon=True),
    ]
    for t in threads:
        t.start()

    # SIGKILL the server in the middle of the load
    wait_for_progress(ledger, KILL_SERVER_AFTER)
    assert server.proc is not None and server.proc.poll() is None
    server.stop(sig="kill")
    with ledger.lock:
        tokens_before_kill = list(ledger.tokens)
    assert tokens_before_kill, "no token was issued before the kill"

    # SIGKILL admin CLI processes in flight (the load keeps running meanwhile)
    killed_tenants: list[str] = []
    killed_clients: list[str] = []
    for j, point in enumerate(p for p in KILL_POINTS for _ in range(3)):
        args = [
            ["tenant", "create", f"{prefix}k{j}"],
            ["keys", "rotate", base.tenant],
            ["client", "create", base.tenant, f"killed-{j}"],
        ][j % 3]
        kill_cli_in_flight(server, args, point, name=f"{prefix}-killed-{j}")
        if args[0] == "tenant":
            killed_tenants.append(args[2])
        elif args[0] == "client":
            killed_clients.append(args[3])

    wait_for_progress(ledger, RESTART_SERVER_AFTER)
    watch = LogWatch(server)
    server.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert ledger.errors == []
    assert ledger.cli_failures == []

    # the load did get acknowledgements of every kind
    assert ledger.tenants and ledger.clients and ledger.kids

    # every acknowledged tenant, client and key is listed; what the killed CLIs were
    # creating is not (they never committed)
    tenants = {t["shortcode"] for t in listed(server, "tenant", "list")}
    assert set(ledger.tenants) <= tenants
    assert base.tenant in tenants
    assert not tenants & set(killed_tenants)
    clients = {c["clientId"] for c in listed(server, "client", "list", base.tenant)}
    assert set(ledger.clients) <= clients
    assert not clients & set(killed_clients)
    keys = listed(server, "keys", "list", base.tenant)
    assert ledger.kids <= {k["kid"] for k in keys}
    assert [k["status"] for k in keys].count("active") == 1

    # every acknowledged secret still gets a token
    with httpx.Client(timeout=30) as http:
        for creds in [base, *ledger.tenants.values(), *ledger.clients.values()]:
            r = http.post(server.token_url(creds.tenant), data=token_form(creds))
            assert r.status_code == 200, (creds.tenant, creds.client_id, r.text)

    # every token issued before the kill (and after) still opens the tenant API
    for tenant, token in ledger.tokens:
        r = api_get(server, token)
        assert r.status_code == 200, (tenant, r.text)
        assert r.json()["data"]["shortcode"] == tenant
    assert set(tokens_before_kill) <= set(ledger.tokens)

    # every stored tenant is whole: one active signing key and its first client, also the
    # tenants whose creating CLI was killed (onboarding is one transaction)
    with runtime_of(server) as rt:
        for stored in rt.store.list_tenants():
            stored_keys = rt.store.list_keys(stored.shortcode)
            assert [k.status for k in stored_keys].count("active") == 1, stored.shortcode
            stored_clients = {c.client_id for c in rt.store.list_clients(stored.shortcode)}
            # the administrative realm's first client is the master admin (bootstrap_admin)
            master = stored.shortcode == "master"
            first = "realmgate-admin" if master else f"{stored.shortcode}-admin"
            assert first in stored_clients, stored.shortcode
    watch.assert_no_error()
