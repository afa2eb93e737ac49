"""The admin CLI from anywhere: the README's onboarding commands run against a server over
HTTPS (a trustme CA, ``--server`` with admin client credentials from the environment or a
0600 profile file) print what they print in local mode, on the database of a twin server.

Both servers start empty, so after the same commands they hold the same tenants; outputs are
compared with what differs by nature masked (secrets, key ids, service-account ids, times).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
import typer

from realmgate.cli.main import app
from tests.admin_support import master_admin
from tests.servers import Server, postgres_database

ROOT = Path(__file__).resolve().parents[2]
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
OPAQUE = re.compile(r"[A-Za-z0-9_-]{40,}")  # secrets and key ids (43 characters)
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def readme_commands() -> list[list[str]]:
    """The commands of the README's "Onboarding tenants and clients" block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Onboarding tenants and clients", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0].endswith("bin/realmgate"), line
            commands.append(words[1:])
    assert len(commands) >= 5, commands
    return commands


def mask(text: str) -> str:
    return OPAQUE.sub("<opaque>", UUID.sub("<uuid>", TIME.sub("<time>", text)))


def normalized(data: Any) -> Any:
    return json.loads(mask(json.dumps(data, sort_keys=True)))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@dataclass
class Twins:
    local: Server  # commands on its database
    remote: Server  # commands over HTTPS
    ca_file: Path
    home: Path

    def remote_env(self, **extra: str) -> dict[str, str]:
        admin = master_admin(self.remote)
        env = {k: v for k, v in os.environ.items() if not k.startswith("REALMGATE_")}
        return env | {
            "COLUMNS": "250",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "REALMGATE_SERVER": self.remote.base_url,
            "REALMGATE_CA_FILE": str(self.ca_file),
            "REALMGATE_ADMIN_CLIENT_ID": admin.client_id,
            "REALMGATE_ADMIN_CLIENT_SECRET": admin.client_secret,
            **extra,
        }

    def run_remote(
        self, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "realmgate", *args],
            env=env or self.remote_env(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )

    def both(self, args: list[str]) -> tuple[str, str]:
        """(local, remote) stdout of one command; both must succeed."""
        local = self.local.cli(*args)
        remote = self.run_remote(args)
        assert remote.returncode == 0, (args, remote.stdout, remote.stderr)
        return local.stdout, remote.stdout


def tls_files(ca: trustme.CA, where: Path) -> tuple[Path, Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = where / "cert.pem", where / "key.pem", where / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert_file, key_file, ca_file


@pytest.fixture(scope="module")
def twins(
    ca: trustme.CA, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Twins]:
    where = tmp_path_factory.mktemp(f"remote-cli-{backend}")
    cert_file, key_file, ca_file = tls_files(ca, where)
    tls = {"REALMGATE_TLS_CERT": str(cert_file), "REALMGATE_TLS_KEY": str(key_file)}
    verify = ssl.create_default_context(cafile=str(ca_file))
    home = where / "home"
    home.mkdir()
    if backend == "postgres":
        with postgres_database() as local_url, postgres_database() as remote_url:
            yield from _started(where, local_url, remote_url, tls, verify, ca_file, home)
    else:
        yield from _started(where, None, None, tls, verify, ca_file, home)


def _started(
    where: Path,
    local_url: str | None,
    remote_url: str | None,
    tls: dict[str, str],
    verify: ssl.SSLContext,
    ca_file: Path,
    home: Path,
) -> Iterator[Twins]:
    local = Server(where / "local", local_url)
    remote = Server(where / "remote", remote_url, extra_env=tls, scheme="https", verify=verify)
    local.start()
    try:
        remote.start()
        try:
            yield Twins(local, remote, ca_file, home)
        finally:
            remote.stop()
    finally:
        local.stop()


def test_readme_onboarding_prints_the_same_remotely(twins: Twins) -> None:
    for args in readme_commands():
        local, remote = twins.both(args)
        assert mask(remote) == mask(local), args
        if "--json" in args:
            assert normalized(json.loads(remote)) == normalized(json.loads(local))
    # The same commands again for a second tenant, each with --json where it has one.
    for command in readme_commands():
        args = [("acme2" if a == "acme" else a) for a in command]
        if "--json" not in args:
            args.append("--json")
        local, remote = twins.both(args)
        assert normalized(json.loads(remote)) == normalized(json.loads(local)), args
    for args in (
        ["tenant", "show", "acme2", "--json"],
        ["client", "list", "acme2", "--json"],
        ["client", "show", "acme2", "reporting", "--json"],
        ["keys", "list", "acme2", "--json"],
        ["keys", "policy", "acme2", "--json"],
        ["tenant", "throttle", "acme2", "--json"],
        ["tenant", "settings", "acme2", "--set", "duplicateCheck=true", "--json"],
        ["client", "set", "acme2", "reporting", "--role", "writer", "--lifespan", "600", "--json"],
        ["client", "revoke-tokens", "acme2", "reporting", "--json"],
        ["client", "disable", "acme2", "reporting", "--json"],
        ["tenant", "set", "acme2", "--lifespan", "900", "--scope", "extra=optional", "--json"],
    ):
        local, remote = twins.both(args)
        assert normalized(json.loads(remote)) == normalized(json.loads(local)), args
    trail = json.loads(twins.run_remote(["audit", "list", "--tenant", "acme", "--json"]).stdout)
    assert {e["actor"] for e in trail} == {f"admin:master/{master_admin(twins.remote).client_id}"}
    local_trail = json.loads(twins.local.cli("audit", "list", "--tenant", "acme", "--json").stdout)
    assert [e["action"] for e in trail] == [e["action"] for e in local_trail]


def test_errors_read_the_same(twins: Twins) -> None:
    for args in (["tenant", "show", "nope"], ["client", "create", "nope", "x"]):
        local = twins.local.cli(*args, check=False)
        remote = twins.run_remote(args)
        assert (remote.returncode, remote.stderr) == (local.returncode, local.stderr), args
        assert remote.stderr.startswith("error: unknown tenant")


def test_credentials_from_a_0600_profile_file(twins: Twins) -> None:
    admin = master_admin(twins.remote)
    profile = twins.home / ".config" / "realmgate" / "admin.toml"
    profile.parent.mkdir(parents=True, exist_ok=True)
    profile.write_text(
        f'[prod]\nserver = "{twins.remote.base_url}"\nclient_id = "{admin.client_id}"\n'
        f'client_secret = "{admin.client_secret}"\nca_file = "{twins.ca_file}"\n',
        encoding="utf-8",
    )
    profile.chmod(0o600)
    env = {k: v for k, v in twins.remote_env().items() if not k.startswith("REALMGATE_")}
    ok = twins.run_remote(["tenant", "list", "--admin-profile", "prod", "--json"], env)
    assert ok.returncode == 0, ok.stderr
    assert {t["shortcode"] for t in json.loads(ok.stdout)} >= {"demo", "master"}
    profile.chmod(0o644)
    refused = twins.run_remote(["tenant", "list", "--admin-profile", "prod"], env)
    assert refused.returncode == 2 and "chmod 600" in refused.stderr
    assert admin.client_secret not in refused.stderr + refused.stdout
    profile.unlink()


def test_refusals_are_clear_and_hold_no_secret(twins: Twins) -> None:
    admin = master_admin(twins.remote)
    data_dir = ["--data-dir", str(twins.local.data_dir)]
    cases: list[tuple[list[str], dict[str, str], str]] = [
        ([], {"REALMGATE_CA_FILE": ""}, "give its CA with --ca-file"),
        ([], {"REALMGATE_ADMIN_CLIENT_SECRET": "wrong"}, "refused the admin credentials"),
        ([], {"REALMGATE_ADMIN_CLIENT_SECRET": ""}, "set both"),
        ([], {"REALMGATE_SERVER": "http://sso.example.com"}, "must be https://"),
        (data_dir, {}, "exclude each other"),
    ]
    for args, extra, message in cases:
        result = twins.run_remote(["tenant", "list", *args], twins.remote_env(**extra))
        assert result.returncode != 0 and message in result.stderr, (args, extra, result.stderr)
        assert "Traceback" not in result.stderr
        assert admin.client_secret not in result.stderr + result.stdout


def _commands(group: Any) -> Iterator[tuple[str, Any]]:
    """Every leaf command under a (Typer's own click) group, by its full name."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from ((f"{name} {n}", c) for n, c in _commands(command))
        else:
            yield name, command


def test_every_admin_command_goes_remote_and_takes_no_secret_flag() -> None:
    root = typer.main.get_command(app)
    admin = [
        (n, c) for n, c in _commands(root) if n.split()[0] in ("tenant", "client", "keys", "audit")
    ]
    assert len(admin) >= 20
    for name, command in admin:
        flags = {opt for p in command.params for opt in p.opts}
        assert not any("secret" in f or "password" in f for f in flags), (name, flags)
        if name == "keys rewrap":
            assert "--server" not in flags and "Local only" in (command.help or "")
        else:
            assert {"--server", "--ca-file", "--admin-profile"} <= flags, name


def test_sender_constraint_flags_print_the_same_remotely(twins: Twins) -> None:
    """``--binding``, ``--tls-subject-dn``/``--tls-san``, ``--auth-method`` and
    ``--dpop-required`` through ``/admin/realmgate`` answer what they answer on the database."""
    twins.both(["tenant", "create", "bound", "--json"])
    dn = "CN=orders.svc,O=Example Corp,C=DE"
    for args in (
        ["client", "create", "bound", "mtls", "--auth-method", "tls_client_auth",
         "--tls-subject-dn", dn, "--binding", "cert", "--json"],
        ["client", "create", "bound", "dpop", "--binding", "dpop", "--json"],
        ["client", "set", "bound", "mtls", "--tls-subject-dn", "", "--tls-san",
         "dns:orders.example.com", "--binding", "dpop+cert", "--json"],
        ["client", "set", "bound", "dpop", "--auth-method", "tls_client_auth", "--tls-san",
         "ip:10.0.0.1", "--json"],
        ["client", "show", "bound", "mtls", "--json"],
        ["tenant", "set", "bound", "--dpop-required", "--json"],
        ["tenant", "show", "bound", "--json"],
    ):  # fmt: skip
        local, remote = twins.both(args)
        assert normalized(json.loads(remote)) == normalized(json.loads(local)), args
    shown = json.loads(twins.run_remote(["client", "show", "bound", "dpop", "--json"]).stdout)
    assert (shown["authMethod"], shown["binding"], shown["tlsSan"]) == (
        "tls_client_auth",
        "dpop",
        "ip:10.0.0.1",
    )
    assert json.loads(twins.run_remote(["tenant", "show", "bound", "--json"]).stdout)[
        "dpopRequired"
    ]
    for args in (
        ["client", "create", "bound", "bad", "--auth-method", "tls_client_auth"],
        ["client", "set", "bound", "mtls", "--binding", "both"],
    ):
        local = twins.local.cli(*args, check=False)
        remote = twins.run_remote(args)
        assert (remote.returncode, remote.stderr) == (local.returncode, local.stderr), args
        assert remote.returncode != 0
