"""Secrets made by the admin API are readable once, within the reveal window, and never after.

A server with a short ``REALMGATE_ADMIN_SECRET_REVEAL_WINDOW`` (debug logs) gets, through the
Keycloak endpoints as the master admin: a client whose secret is read once, one whose secret
is never read, one whose secret is regenerated twice, one created with a ``secret`` of the
script's own. The operator's view of the database gives the never-read secret (decrypted with
the master key during the window), so every secret that ever existed is known to the test.

Once the window has passed, no API answer (client and secret reads, listings, the audit trail),
no line of the server's log, no audit row and no database column holds any of them in clear:
the SQLite files (database, ``-wal``) are scanned as bytes, PostgreSQL as every row as text;
as text, as raw bytes (the base64url decoding) and in hex. Positively: the reveal columns are
empty, each client's keyed hash is in the database, a read after the window gets 410 with a
text that says what to do, and the newest secrets still work at the token endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from tests.admin_support import AdminHttp, master_admin, new_secret, token_response, unique
from tests.security.helpers import runtime_of
from tests.security.test_secret_hygiene import assert_absent, database_dump, secret_forms
from tests.servers import Credentials, Server

WINDOW = 4  # seconds a new secret stays readable


def secret_path(realm: str, internal_id: str) -> str:
    return f"/admin/realms/{realm}/clients/{internal_id}/client-secret"


def stored(server: Server, realm: str, client_id: str) -> Any:
    with runtime_of(server) as rt:
        record = rt.store.get_client(realm, client_id)
        assert record is not None
        return record


def test_no_readable_secret_after_the_reveal_window(fresh_server: Server) -> None:
    server = fresh_server
    server.env["REALMGATE_LOG_LEVEL"] = "debug"
    server.env["REALMGATE_ADMIN_SECRET_REVEAL_WINDOW"] = str(WINDOW)
    server.start()
    admin = AdminHttp(server, master_admin(server))
    realm = admin.create_realm(unique("rv"))
    ids = {name: admin.create_client(realm, name) for name in ("read-once", "never-read", "regen")}
    known: dict[str, str] = {}

    # read once: 200, then 410 at once (the first read destroyed it)
    first = admin.ok("GET", secret_path(realm, ids["read-once"]))
    assert first["type"] == "secret"
    known["read-once"] = first["value"]
    again = admin.request("GET", secret_path(realm, ids["read-once"]))
    assert again.status_code == 410, again.text

    # never read through the API: the operator decrypts it while the window lasts
    record = stored(server, realm, "never-read")
    assert record.reveal_enc is not None and record.reveal_until is not None
    with runtime_of(server) as rt:
        known["never-read"] = rt.vault.decrypt_revealable(
            record, record.reveal_enc, record.reveal_until
        )
    assert known["never-read"].encode() not in record.reveal_enc

    # regenerated twice: each answer carries the new secret, the last one is never read
    known["regen-0"] = admin.ok("GET", secret_path(realm, ids["regen"]))["value"]
    for i in (1, 2):
        regenerated = admin.ok("POST", secret_path(realm, ids["regen"]))
        assert regenerated["type"] == "secret"
        known[f"regen-{i}"] = regenerated["value"]

    # created with the script's own secret
    known["given"] = new_secret()
    ids["given"] = admin.create_client(realm, "given", secret=known["given"])
    assert len(set(known.values())) == len(known)

    # the window passes (bounded by the reveal times the database holds)
    until = max(stored(server, realm, name).reveal_until or 0 for name in ("never-read", "regen"))
    assert until > 0
    while time.time() < until + 1:
        time.sleep(0.2)

    # every API answer from now on is scanned
    answers: list[str] = []

    def answer(method: str, path: str, status: int = 200) -> httpx.Response:
        r = admin.request(method, path)
        assert r.status_code == status, f"{method} {path}: {r.status_code} {r.text}"
        answers.append(f"{r.headers}\n{r.text}")
        return r

    for name, internal_id in ids.items():
        late = answer("GET", secret_path(realm, internal_id), 410)
        message = late.json()["error"]
        assert name in message and "regenerate" in message.lower(), message
        answer("GET", f"/admin/realms/{realm}/clients/{internal_id}")
        answer("GET", f"/admin/realms/{realm}/clients/{internal_id}/service-account-user")
    answer("GET", f"/admin/realms/{realm}/clients")
    answer("GET", f"/admin/realms/{realm}")
    answer("GET", f"/admin/realmgate/tenants/{realm}/clients")
    audit = answer("GET", f"/admin/realmgate/audit?tenant={realm}&max=1000").json()
    actions = json.dumps(audit)
    for action in ("client.created", "client.secret_revealed", "client.secret_regenerated"):
        assert action in actions, actions
    cli_audit = server.cli("audit", "list", "--limit", "10000", "--json").stdout
    assert "client.secret_regenerated" in cli_audit

    # the newest secrets still work; the older ones do not
    for name, secret in (("read-once", known["read-once"]), ("never-read", known["never-read"])):
        assert token_response(server, Credentials(realm, name, secret)).status_code == 200
    assert token_response(server, Credentials(realm, "regen", known["regen-2"])).status_code == 200
    assert token_response(server, Credentials(realm, "given", known["given"])).status_code == 200
    for old in ("regen-0", "regen-1"):
        assert token_response(server, Credentials(realm, "regen", known[old])).status_code == 401

    # the reveal columns are empty; the keyed hashes are what is stored
    with runtime_of(server) as rt:
        pepper = rt.vault.hasher._pepper
        hashes = []
        for name in ids:
            client = rt.store.get_client(realm, name)
            assert client is not None
            assert client.reveal_enc is None and client.reveal_until is None, name
            hashes.append(client.secret_hash)
    current = {"read-once", "never-read", "regen-2", "given"}
    assert sorted(hashes) == sorted(
        hmac.new(pepper, known[k].encode(), hashlib.sha256).digest() for k in current
    )

    forbidden = {f"secret {name}": secret_forms(secret) for name, secret in known.items()}
    for i, text in enumerate(answers):
        assert_absent(f"API answer #{i}", text.encode(), forbidden)
    assert_absent("the audit trail (CLI)", cli_audit.encode(), forbidden)
    log = server.output()
    for action in ("client.secret_revealed", "client.secret_regenerated"):  # audited in the log
        assert f"{action} {realm}/" in log
    assert_absent("the server log", log.encode(), forbidden)

    dump = database_dump(server)
    if server.database_url is None:
        assert {"realmgate.db", "realmgate.db-wal"} <= set(dump), sorted(dump)
    assert any(h in d or h.hex().encode() in d.lower() for h in hashes for d in dump.values())
    for where, data in dump.items():
        assert_absent(f"the database ({where})", data, forbidden)
    server.stop()
    for where, data in database_dump(server).items():  # SQLite: after the WAL checkpoint too
        assert_absent(f"the database after shutdown ({where})", data, forbidden)
