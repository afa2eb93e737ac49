"""Crash safety: the server is SIGKILLed in the middle of load, admin CLI processes are SIGKILLed
in flight, and nothing that was acknowledged is lost.

Load runs in background threads: token requests, and CLI ``tenant create`` / ``client create``
/ ``keys rotate`` in a loop bounded by count. A creation is *acknowledged* when the CLI exited 0
and printed its JSON. After the server's restart, every acknowledged tenant, client and key is
in the CLI's ``--json`` listings, every acknowledged secret still gets a token, every token
issued before the kill still opens the tenant API, and every tenant in the database is whole
(its signing key and its first client: onboarding is one transaction), also those whose
creating CLI was killed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.security.helpers import LogWatch, api_get, runtime_of, token_form, unique
from tests.servers import Credentials, Server

ITERATIONS = 8  # per load thread
KILL_SERVER_AFTER = 3  # tenant-loop iterations done when the server is SIGKILLed
RESTART_SERVER_AFTER = 6  # ... and when it is started again
# When each in-flight CLI is SIGKILLed, as fractions of how long a read-only CLI run takes on
# this machine under this load: the early kills hit a process before its transaction, the
# later ones may hit it in the middle, the last ones may come after it finished.
CLI_KILL_FRACTIONS = (0.5, 0.85, 0.95, 1.05, 1.15, 1.3)
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


def kill_cli_in_flight(server: Server, args: list[str], delay: float) -> tuple[int, str, str]:
    """Start ``realmgate *args --json``; SIGKILL it if still running after ``delay`` seconds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "realmgate", *args, "--json"],
        env=server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, out, err


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
    killed_in_flight: list[str] = []
    kill_acks: dict[str, Any] = {}
    started = time.monotonic()
    server.cli("keys", "list", base.tenant, "--json")
    cli_time = time.monotonic() - started
    for j, fraction in enumerate(CLI_KILL_FRACTIONS):
        shortcode = f"{prefix}k{j}"
        args = [
            ["tenant", "create", shortcode],
            ["keys", "rotate", base.tenant],
            ["client", "create", base.tenant, f"killed-{j}"],
        ][j % 3]
        code, out, err = kill_cli_in_flight(server, args, fraction * cli_time)
        if code == -signal.SIGKILL:
            killed_in_flight.append(" ".join(args))
        else:
            assert code == 0, (args, code, err)
            kill_acks[" ".join(args)] = json.loads(out)
    assert killed_in_flight, "no CLI process was killed in flight"

    wait_for_progress(ledger, RESTART_SERVER_AFTER)
    watch = LogWatch(server)
    server.start()
    for t in threads:
        t.join(WAIT)
        assert not t.is_alive()
    assert ledger.errors == []
    assert ledger.cli_failures == []

    # the acknowledgements of the CLI runs that finished before their kill count as well
    for command, data in kill_acks.items():
        if command.startswith("tenant create"):
            creds = Credentials(data["tenantShortcode"], data["clientId"], data["clientSecret"])
            ledger.tenants[creds.tenant] = creds
        elif command.startswith("client create"):
            ledger.clients[data["clientId"]] = Credentials(
                base.tenant, data["clientId"], data["clientSecret"]
            )
        else:
            ledger.kids.add(data["kid"])
    # the load did get acknowledgements of every kind
    assert ledger.tenants and ledger.clients and ledger.kids

    # every acknowledged tenant, client and key is listed
    tenants = {t["shortcode"] for t in listed(server, "tenant", "list")}
    assert set(ledger.tenants) <= tenants
    assert base.tenant in tenants
    clients = {c["clientId"] for c in listed(server, "client", "list", base.tenant)}
    assert set(ledger.clients) <= clients
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
        for tenant in rt.store.list_tenants():
            stored_keys = rt.store.list_keys(tenant.shortcode)
            assert [k.status for k in stored_keys].count("active") == 1, tenant.shortcode
            stored_clients = {c.client_id for c in rt.store.list_clients(tenant.shortcode)}
            assert f"{tenant.shortcode}-admin" in stored_clients, tenant.shortcode
    watch.assert_no_error()
