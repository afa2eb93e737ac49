"""``realmgate operator`` on a running server's database (SQLite and PostgreSQL): passwords
shown once and working, roles, two-factor, disable/enable, sign-out, removal, clean errors,
and the operator ``admin`` the first start prints."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from realmgate.server.core.admin_clients import NotFound
from realmgate.server.core.operators import BadCredentials, Operators, totp_code
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from tests.integration.helpers import poll, request_token, unique_shortcode
from tests.servers import Credentials, Server


@pytest.fixture
def ops(server: Server) -> Iterator[Operators]:
    """The operator services on the server's own database (as the console opens it)."""
    settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    runtime = open_runtime(settings, upgrade=False)
    try:
        yield Operators(runtime.store, runtime.vault, settings, actor="test")
    finally:
        runtime.close()


def _name() -> str:
    return f"op-{uuid.uuid4().hex[:8]}"


def _failure(server: Server, *args: str, message: str) -> None:
    result = server.cli(*args, check=False)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip().startswith("error:"), result.stderr
    assert message in result.stderr, result.stderr


def _password_of(output: str) -> str:
    m = re.search(r"^\s*password:\s+(\S+)\s*$", output, re.MULTILINE | re.IGNORECASE)
    assert m, output
    return m.group(1)


def test_first_start_prints_the_admin_operator(server: Server, ops: Operators) -> None:
    assert server.operator is not None, server.output()
    assert (server.operator.tenant, server.operator.client_id) == ("master", "admin")
    signin = ops.check_password("admin", server.operator.client_secret)
    assert signin.operator.role == "admin"


def test_add_prints_a_working_password_once(server: Server, ops: Operators) -> None:
    name = _name()
    out = server.cli("operator", "add", name, "--role", "support").stdout
    password = _password_of(out)
    assert len(password) == 20
    assert ops.check_password(name, password).stage == "ok"
    listed = server.cli("operator", "list", "--json")
    assert password not in listed.stdout
    assert "argon2" not in listed.stdout
    row = next(o for o in json.loads(listed.stdout) if o["username"] == name)
    assert row["role"] == "support" and row["enabled"] and not row["totp"]
    data = json.loads(server.cli("operator", "add", _name(), "--json").stdout)
    assert set(data) == {"username", "role", "password"} and data["role"] == "viewer"
    _failure(server, "operator", "add", name, message="exists already")
    table = server.cli("operator", "list").stdout
    assert name in table and password not in table
    events = ops.store.list_audit("master", 50, action="operator.*")
    created = [e for e in events if e.target == f"operator:{name}"]
    assert [e.action for e in created] == ["operator.created"]
    assert created[0].actor.startswith("cli:")
    assert password not in json.dumps(created[0].details)


def test_bad_input_is_a_clean_error(server: Server) -> None:
    _failure(server, "operator", "add", "Bad Name", message="a username has 1 to 64")
    _failure(server, "operator", "add", "x" * 65, message="a username has 1 to 64")
    _failure(server, "operator", "add", _name(), "--role", "root", message="the role must be")
    _failure(server, "operator", "set-role", "nobody-here", "admin", message="no operator")
    _failure(server, "operator", "disable", "nobody-here", message="no operator")
    _failure(server, "operator", "remove", "nobody-here", "--yes", message="no operator")


def test_role_password_disable_enable_remove(server: Server, ops: Operators) -> None:
    name = _name()
    first = _password_of(server.cli("operator", "add", name).stdout)
    server.cli("operator", "set-role", name, "admin")
    assert ops.get(name).role == "admin"
    token, _ = ops.start_session(name, "ok", "127.0.0.1")
    new = _password_of(server.cli("operator", "passwd", name, "--generate").stdout)
    assert new != first
    with pytest.raises(BadCredentials):
        ops.check_password(name, first)
    assert ops.check_password(name, new).stage == "ok"
    assert ops.session(token) is None  # a new password ends the sessions

    token, _ = ops.start_session(name, "ok", None)
    server.cli("operator", "disable", name)
    assert ops.session(token) is None
    with pytest.raises(BadCredentials, match="Invalid username or password"):
        ops.check_password(name, new)
    server.cli("operator", "enable", name)
    assert ops.check_password(name, new).stage == "ok"

    ops.start_session(name, "ok", None)
    ops.start_session(name, "ok", None)
    assert "Ended 2 session(s)" in server.cli("operator", "sign-out", name).stdout
    server.cli("operator", "remove", name, "--yes")
    with pytest.raises(NotFound):
        ops.get(name)
    assert name not in server.cli("operator", "list").stdout


def test_passwd_prompts(server: Server, ops: Operators) -> None:
    import subprocess
    import sys

    name = _name()
    server.cli("operator", "add", name)
    chosen = "a long enough password"
    done = subprocess.run(
        [sys.executable, "-m", "realmgate", "operator", "passwd", name],
        input=f"{chosen}\n{chosen}\n",
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert chosen not in done.stdout
    assert ops.check_password(name, chosen).stage == "ok"
    short = subprocess.run(
        [sys.executable, "-m", "realmgate", "operator", "passwd", name],
        input="short\nshort\n",
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert short.returncode != 0 and "12 to 256 characters" in short.stderr


def test_totp_enroll_and_reset(server: Server, ops: Operators) -> None:
    name = _name()
    password = _password_of(server.cli("operator", "add", name).stdout)
    data = json.loads(server.cli("operator", "totp-enroll", name, "--json").stdout)
    assert data["uri"].startswith("otpauth://totp/") and data["secret"] in data["uri"]
    assert ops.check_password(name, password).stage == "totp"
    secret = base64.b32decode(data["secret"] + "=" * (-len(data["secret"]) % 8))
    code = totp_code(secret, time.time())
    ops.check_totp(name, code)
    with pytest.raises(BadCredentials):
        ops.check_totp(name, code)  # the same code twice: a replay
    text = server.cli("operator", "list").stdout
    assert data["secret"] not in text
    server.cli("operator", "totp-reset", name)
    assert ops.check_password(name, password).stage == "ok"
    actions = [
        e.action
        for e in ops.store.list_audit("master", 50, action="operator.*")
        if e.target == f"operator:{name}"
    ]
    assert "operator.totp_enrolled" in actions and "operator.totp_reset" in actions


def test_the_running_server_records_traffic(server: Server, ops: Operators) -> None:
    """Tokens and failed client authentications reach the traffic table (the dashboard's
    chart) from the server's workers, within a few flush intervals."""
    creds = server.create_tenant(unique_shortcode("trf"))
    since = int(time.time()) // 60 - 1
    for _ in range(3):
        assert request_token(server, creds).status_code == 200
    wrong = Credentials(creds.tenant, creds.client_id, "not-the-secret")
    assert request_token(server, wrong).status_code in (401, 429)

    def counts() -> tuple[int, int]:
        rows = [r for r in ops.store.traffic_since(since) if r.tenant == creds.tenant]
        return sum(r.tokens for r in rows), sum(r.failures for r in rows)

    assert poll(counts, lambda c: c == (3, 1), timeout=60) == (3, 1)


def test_an_upgraded_install_without_operators_gets_one(tmp_path: Path) -> None:
    """An install from before the console (tenants, no operator) gets the operator ``admin``
    on its next start, printed once; a later start prints nothing."""
    srv = Server(tmp_path / "data", None, {"REALMGATE_BOOTSTRAP_OPERATOR": "false"})
    srv.start()
    try:
        assert srv.operator is None
        assert "console operator" not in srv.output()
    finally:
        srv.stop()
    again = Server(tmp_path / "data", None)
    again.start()
    try:
        creds = again.operator
        assert creds is not None and creds.client_id == "admin"
        settings = Settings(data_dir=again.data_dir)
        runtime = open_runtime(settings, upgrade=False)
        try:
            ops = Operators(runtime.store, runtime.vault, settings, actor="test")
            assert ops.check_password("admin", creds.client_secret).operator.role == "admin"
        finally:
            runtime.close()
    finally:
        again.stop()
    third = Server(tmp_path / "data", None)
    third.start()
    try:
        assert third.operator is None
    finally:
        third.stop()
