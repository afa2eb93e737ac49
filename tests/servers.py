"""Real realmgate server processes for integration tests (uvicorn on loopback, real databases)."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import trustme

PG_ADMIN_URL = os.environ.get("REALMGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
METRICS_TOKEN = f"metrics-{uuid.uuid4().hex}"  # the test servers' /metrics token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Credentials:
    tenant: str
    client_id: str
    client_secret: str = field(repr=False)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server; dropped afterwards.

    Never skipped: if PostgreSQL is unreachable the tests that need it fail.
    """
    name = f"realmgate_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise RuntimeError(
            f"PostgreSQL is required for the tests and is unreachable at {PG_ADMIN_URL}: {exc}"
        ) from exc
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """One ``realmgate serve`` process; ``cli()`` runs admin commands on the same database."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        extra_env: dict[str, str] | None = None,
        *,
        scheme: str = "http",
        verify: ssl.SSLContext | bool = True,
    ):
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify = verify
        self.env = {
            **os.environ,
            "COLUMNS": "250",
            # The suites make many deliberate failures from 127.0.0.1: the throttle tests run
            # servers of their own with the defaults (extra_env can restore them).
            "REALMGATE_THROTTLE_SOURCE_FREE": "1000000",
            "REALMGATE_THROTTLE_CLIENT_FREE": "1000000",
            # The demo secret is printed to a terminal only; the tests read it from the log.
            "REALMGATE_BOOTSTRAP_DEMO_SECRET": "stdout",
            "REALMGATE_DATA_DIR": str(data_dir),
            "REALMGATE_PORT": str(self.port),
            "REALMGATE_METRICS_TOKEN": METRICS_TOKEN,
            **({"REALMGATE_DATABASE_URL": database_url} if database_url else {}),
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"
        self.demo: Credentials | None = None
        # the admin client of realm master printed on the first start (realm role admin)
        self.admin: Credentials | None = None
        # the console operator printed on the first start: tenant "master", client_id the
        # username, client_secret the password
        self.operator: Credentials | None = None

    @property
    def backend(self) -> str:
        return "postgres" if self.database_url else "sqlite"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "realmgate", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"realmgate serve exited early:\n{self.output()}")
            try:
                live = httpx.get(f"{self.base_url}/health/live", timeout=1, verify=self.verify)
                if live.status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"realmgate serve did not come up:\n{self.output()}")
        self.demo = self.demo or self._parse_demo()
        self.admin = self.admin or self._parse_admin()
        self.operator = self.operator or self._parse_operator()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _parse_demo(self) -> Credentials | None:
        """The demo client's credentials, as the first start printed them."""
        return self._parse_first_start("the tenant 'demo'")

    def _parse_admin(self) -> Credentials | None:
        """The admin client of realm ``master`` (realm role ``admin``), as printed."""
        return self._parse_first_start("the realm 'master'")

    def _parse_operator(self) -> Credentials | None:
        """The console operator made on the first start (``bootstrap_operator``), as printed."""
        out = self.output()
        start = out.find("First start: created the console operator")
        if start < 0:
            return None
        block = out[start:]
        found = {
            key: m.group(1)
            for key in ("username", "password")
            if (m := re.search(rf"^\s*{key}:\s+(\S+)\s*$", block, re.MULTILINE))
        }
        if len(found) != 2:
            return None
        return Credentials("master", found["username"], found["password"])

    def _parse_first_start(self, what: str) -> Credentials | None:
        """The credentials printed under ``First start: created {what}...``."""
        out = self.output()
        start = out.find(f"First start: created {what}")
        if start < 0:
            return None
        end = out.find("First start: created", start + 1)
        block = out[start : end if end > 0 else len(out)]
        found = {
            key: m.group(1)
            for key in ("tenantShortcode", "clientId", "clientSecret")
            if (m := re.search(rf"^\s*{key}:\s+(\S+)\s*$", block, re.MULTILINE))
        }
        if len(found) != 3:
            return None
        return Credentials(found["tenantShortcode"], found["clientId"], found["clientSecret"])

    def stop(self, sig: str = "term") -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if sig == "kill":
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "realmgate", *args],
            check=False,
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"realmgate {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def create_tenant(self, shortcode: str, *extra: str) -> Credentials:
        import json

        data = json.loads(self.cli("tenant", "create", shortcode, "--json", *extra).stdout)
        return Credentials(data["tenantShortcode"], data["clientId"], data["clientSecret"])

    def create_client(self, tenant: str, client_id: str, *roles: str) -> Credentials:
        import json

        role_args = [a for r in roles for a in ("--role", r)]
        data = json.loads(
            self.cli("client", "create", tenant, client_id, "--json", *role_args).stdout
        )
        return Credentials(data["tenantShortcode"], data["clientId"], data["clientSecret"])

    def metrics(self, token: str | None = None) -> httpx.Response:
        """``GET /metrics`` with this server's metrics token (or ``token``)."""
        token = token or self.env.get("REALMGATE_METRICS_TOKEN", "")
        return httpx.get(
            f"{self.base_url}/metrics",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            verify=self.verify,
        )

    def token_url(self, tenant: str) -> str:
        return f"{self.base_url}/realms/{tenant}/protocol/openid-connect/token"


@contextmanager
def two_nodes(
    data_dir: Path, backend: str, env: dict[str, str] | None = None
) -> Iterator[tuple[Server, Server]]:
    """Two running nodes on one database (a fresh PostgreSQL one, or SQLite in ``data_dir``);
    the second issues tokens under the first one's issuer, so either takes the other's."""
    env = env or {}
    database: AbstractContextManager[str | None] = (
        postgres_database() if backend == "postgres" else nullcontext(None)
    )
    with database as url:
        a = Server(data_dir, url, extra_env=env)
        a.start()
        b = Server(data_dir, url, extra_env={**env, "REALMGATE_ISSUER_BASE_URL": a.base_url})
        try:
            b.start()
            yield a, b
        finally:
            b.stop()
            a.stop()


@contextmanager
def mtls_server(ca: trustme.CA, directory: Path) -> Iterator[Server]:
    """A server on HTTPS (a certificate of ``ca`` for 127.0.0.1) that asks for client
    certificates of ``ca`` (``tls_client_ca``), on SQLite in ``directory``."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = (
        directory / "cert.pem",
        directory / "key.pem",
        directory / "ca.pem",
    )
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(cert_file), append=i > 0)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    srv = Server(
        directory / "data",
        None,
        extra_env={
            "REALMGATE_TLS_CERT": str(cert_file),
            "REALMGATE_TLS_KEY": str(key_file),
            "REALMGATE_TLS_CLIENT_CA": str(ca_file),
        },
        scheme="https",
        verify=ssl.create_default_context(cafile=str(ca_file)),
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
