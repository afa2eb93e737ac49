"""Secret hygiene at rest and in every output, after one full scenario on a fresh server.

The scenario onboards a tenant, creates clients of every secret-bearing auth method
(``client_secret`` by post and basic, ``client_secret_jwt``), rotates secrets with and without
a grace period, rotates the signing key, tries wrong secrets and a forged assertion, introspects,
revokes, reads and writes the tenant settings, and lists everything with the CLI.

Then no client secret (issued or guessed), no access token, no client assertion, no private
signing key, no pepper and no master key appears in clear in: the server's log (debug level),
every CLI ``--json`` output after creation, the audit trail, and the raw database (SQLite: the
bytes of every file in the data directory, WAL included; PostgreSQL: every row of every table
as text). Positively: secrets are stored as HMAC-SHA-256 under the pepper, ``client_secret_jwt``
secrets and signing keys as AES-GCM ciphertext under the master key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization

from realmgate.server.crypto import parse_master_key
from tests.security.helpers import (
    access_token,
    api_get,
    api_patch,
    b64url_decode,
    introspect,
    poll,
    request_token,
    revoke,
    runtime_of,
    sign_hs256,
    unique,
)
from tests.servers import Credentials, Server

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class Material:
    """Everything that must never appear in clear."""

    secrets: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    assertions: set[str] = field(default_factory=set)
    cli_outputs: list[str] = field(default_factory=list)


def cli_json(server: Server, *args: str) -> Any:
    return json.loads(server.cli(*args, "--json").stdout)


def listing(server: Server, material: Material, *args: str) -> Any:
    """A CLI listing; its output is scanned later."""
    out = server.cli(*args, "--json").stdout
    material.cli_outputs.append(out)
    return json.loads(out)


def assertion(server: Server, tenant: str, client_id: str, secret: str) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{server.base_url}/realms/{tenant}",
        "exp": now + 60,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    return sign_hs256(secret.encode(), {"alg": "HS256", "typ": "JWT"}, claims)


def jwt_token_request(server: Server, tenant: str, signed: str) -> httpx.Response:
    return httpx.post(
        server.token_url(tenant),
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
        timeout=30,
    )


def run_scenario(server: Server) -> tuple[Material, dict[str, Credentials]]:
    m = Material()
    assert server.demo is not None
    m.secrets.add(server.demo.client_secret)
    m.tokens.add(access_token(server, server.demo))

    # onboarding and clients of every secret-bearing auth method
    tenant = unique("hyg")
    admin = server.create_tenant(tenant)
    svc = server.create_client(tenant, "svc", "reader")
    made = cli_json(
        server, "client", "create", tenant, "jwtc", "--auth-method", "client_secret_jwt"
    )
    jwtc = Credentials(tenant, made["clientId"], made["clientSecret"])
    m.secrets |= {admin.client_secret, svc.client_secret, jwtc.client_secret}

    # tokens: post, basic, client_secret_jwt
    m.tokens.add(access_token(server, admin))
    basic = httpx.post(
        server.token_url(tenant),
        data={"grant_type": "client_credentials"},
        auth=(svc.client_id, svc.client_secret),
        timeout=30,
    )
    assert basic.status_code == 200, basic.text
    m.tokens.add(basic.json()["access_token"])
    signed = assertion(server, tenant, jwtc.client_id, jwtc.client_secret)
    m.assertions.add(signed)
    r = jwt_token_request(server, tenant, signed)
    assert r.status_code == 200, r.text
    m.tokens.add(r.json()["access_token"])
    # a replayed assertion is refused
    assert jwt_token_request(server, tenant, signed).status_code == 401

    # wrong secrets: post, basic, unknown client, forged assertion
    for i in range(3):
        wrong = f"wrong-{i}-{uuid.uuid4().hex}"
        m.secrets.add(wrong)
        assert request_token(server, Credentials(tenant, admin.client_id, wrong)).status_code == 401
        assert request_token(server, Credentials(tenant, "ghost", wrong)).status_code == 401
        bad = httpx.post(
            server.token_url(tenant),
            data={"grant_type": "client_credentials"},
            auth=(svc.client_id, wrong),
            timeout=30,
        )
        assert bad.status_code == 401
        forged = assertion(server, tenant, jwtc.client_id, wrong)
        m.assertions.add(forged)
        assert jwt_token_request(server, tenant, forged).status_code == 401
    # a secret sent where it does not belong (an API bearer, a settings value) is refused
    assert api_get(server, admin.client_secret).status_code == 401

    # rotations with grace: both secrets work during the grace period
    rotated = cli_json(server, "client", "rotate-secret", tenant, "svc", "--grace", "600")
    svc2 = Credentials(tenant, "svc", rotated["clientSecret"])
    m.secrets.add(svc2.client_secret)
    r = poll(lambda: request_token(server, svc2), lambda r: r.status_code == 200)
    assert r.status_code == 200, r.text
    m.tokens.add(r.json()["access_token"])
    m.tokens.add(access_token(server, svc))  # the previous secret, in its grace period
    rotated = cli_json(server, "client", "rotate-secret", tenant, "jwtc", "--grace", "600")
    jwtc2 = Credentials(tenant, "jwtc", rotated["clientSecret"])
    m.secrets.add(jwtc2.client_secret)
    for secret in (jwtc2.client_secret, jwtc.client_secret):

        def with_fresh_assertion(secret: str = secret) -> httpx.Response:
            signed = assertion(server, tenant, "jwtc", secret)
            m.assertions.add(signed)
            return jwt_token_request(server, tenant, signed)

        r = poll(with_fresh_assertion, lambda r: r.status_code == 200)
        assert r.status_code == 200, r.text
        m.tokens.add(r.json()["access_token"])
    # without grace: the old secret stops at once
    rotated = cli_json(server, "client", "rotate-secret", tenant, admin.client_id, "--grace", "0")
    admin2 = Credentials(tenant, admin.client_id, rotated["clientSecret"])
    m.secrets.add(admin2.client_secret)
    assert (
        poll(lambda: request_token(server, admin), lambda r: r.status_code == 401).status_code
        == 401
    )
    admin_token = access_token(server, admin2)
    m.tokens.add(admin_token)
    server.cli("keys", "rotate", tenant, "--json")
    m.tokens.add(access_token(server, admin2))

    # introspection, revocation, the tenant API
    svc_token = access_token(server, svc2)
    m.tokens.add(svc_token)
    body = introspect(server, admin2, svc_token).json()
    assert body["active"] is True
    assert revoke(server, svc2, svc_token).status_code == 200
    assert introspect(server, admin2, svc_token).json() == {"active": False}
    assert api_get(server, svc_token).status_code == 401
    assert api_get(server, admin_token).status_code == 200
    assert api_patch(server, admin_token, {"name": "Hygiene Corp"}).status_code == 200
    assert api_patch(server, admin_token, {"bogus": admin2.client_secret}).status_code == 422

    # every CLI listing after creation
    listing(server, m, "tenant", "list")
    listing(server, m, "tenant", "show", tenant)
    listing(server, m, "tenant", "show", "demo")
    clients = listing(server, m, "client", "list", tenant)
    assert {c["clientId"] for c in clients} == {admin.client_id, "svc", "jwtc"}
    for c in clients:
        listing(server, m, "client", "show", tenant, c["clientId"])
    listing(server, m, "keys", "list", tenant)
    listing(server, m, "keys", "list", "demo")
    audit = listing(server, m, "audit", "list", "--limit", "10000")
    actions = {e["action"] for e in audit}
    assert {
        "tenant.created",
        "client.created",
        "client.secret_rotated",
        "key.rotated",
    } <= actions
    creds = {
        "admin": admin2,
        "svc": svc2,
        "svc-previous": svc,
        "jwtc": jwtc2,
        "jwtc-previous": jwtc,
    }
    return m, creds


def secret_forms(secret: str) -> list[bytes]:
    """The secret as text and, when it is base64url, as its raw bytes."""
    forms = [secret.encode()]
    try:
        raw = b64url_decode(secret)
    except ValueError:
        return forms
    if len(raw) >= 16:
        forms.append(raw)
    return forms


def needles(
    m: Material, master_key: bytes, pepper: bytes, private_ders: list[bytes]
) -> dict[str, list[bytes]]:
    """name -> byte strings that must not occur (raw forms; text stores are searched in hex)."""
    found: dict[str, list[bytes]] = {}
    for i, s in enumerate(sorted(m.secrets)):
        found[f"client secret #{i}"] = secret_forms(s)
    for i, t in enumerate(sorted(m.tokens | m.assertions)):
        signature = t.rpartition(".")[2]
        found[f"token/assertion #{i}"] = [t.encode(), signature.encode(), b64url_decode(signature)]
    found["master key"] = [master_key, base64.urlsafe_b64encode(master_key).rstrip(b"=")]
    found["pepper"] = [pepper]
    for i, der in enumerate(private_ders):
        # the PKCS#8 DER and a 48-byte slice of the middle of its PEM body
        pem = serialization.load_der_private_key(der, password=None).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        found[f"private key #{i}"] = [der, pem.splitlines()[5][:48]]
    return found


def assert_absent(where: str, haystack: bytes, forbidden: dict[str, list[bytes]]) -> None:
    lower_hex = haystack.lower()
    for name, forms in forbidden.items():
        for form in forms:
            assert form not in haystack, f"{name} found in {where}"
            assert form.hex().encode() not in lower_hex, f"{name} (hex) found in {where}"


def database_dump(server: Server) -> dict[str, bytes]:
    """The stored data as the attacker who stole the database would see it."""
    if server.database_url is None:
        return {
            str(p.relative_to(server.data_dir)): p.read_bytes()
            for p in sorted(server.data_dir.iterdir())
            if p.is_file() and p.name != "master.key" and not p.name.endswith(".log")
        }
    dump: dict[str, bytes] = {}
    with psycopg.connect(server.database_url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        assert {"clients", "signing_keys", "meta", "audit_events"} <= set(tables)
        for table in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" AS t').fetchall()
            dump[table] = "\n".join(r[0] for r in rows).encode()
    return dump


def test_no_secret_in_clear_anywhere(fresh_server: Server) -> None:
    server = fresh_server
    server.env["REALMGATE_LOG_LEVEL"] = "debug"
    server.start()
    m, creds = run_scenario(server)
    tenant = creds["admin"].tenant

    master_key = parse_master_key((server.data_dir / "master.key").read_text())
    with runtime_of(server) as rt:
        pepper = rt.vault.hasher._pepper  # the HMAC key, stored encrypted only
        private_ders: list[bytes] = []
        for t in (tenant, "demo"):
            for k in rt.store.list_keys(t):
                pem = rt.vault.decrypt_signing_key(t, k.kid, k.private_key_enc)
                # AES-GCM: a 12-byte nonce, the ciphertext and a 16-byte tag
                assert len(k.private_key_enc) == 12 + len(pem) + 16
                key = serialization.load_pem_private_key(pem, password=None)
                private_ders.append(
                    key.private_bytes(
                        serialization.Encoding.DER,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                )
        assert len(private_ders) == 3  # the tenant's two keys and demo's one

        # positively: how each secret is stored
        def keyed_hash(secret: str) -> bytes:
            return hmac.new(pepper, secret.encode(), hashlib.sha256).digest()

        svc = rt.store.get_client(tenant, "svc")
        assert svc is not None
        stored_hash = svc.secret_hash
        assert svc.secret_hash == keyed_hash(creds["svc"].client_secret)
        assert svc.previous_secret_hash == keyed_hash(creds["svc-previous"].client_secret)
        assert svc.secret_enc is None and svc.previous_secret_enc is None
        jwtc = rt.store.get_client(tenant, "jwtc")
        assert jwtc is not None
        assert jwtc.secret_hash == keyed_hash(creds["jwtc"].client_secret)
        assert jwtc.secret_enc is not None and jwtc.previous_secret_enc is not None
        assert (
            rt.vault.decrypt_client_secret(jwtc, jwtc.secret_enc)
            == creds["jwtc"].client_secret.encode()
        )
        assert (
            rt.vault.decrypt_client_secret(jwtc, jwtc.previous_secret_enc)
            == creds["jwtc-previous"].client_secret.encode()
        )
        admin = rt.store.get_client(tenant, creds["admin"].client_id)
        assert admin is not None
        assert admin.secret_hash == keyed_hash(creds["admin"].client_secret)
        assert admin.previous_secret_hash is None  # rotated without grace

    forbidden = needles(m, master_key, pepper, private_ders)

    # the server's log: the demo secret only in the first-start banner, printed to the
    # terminal (stdout here), never in a log record
    log = server.output()
    assert "realmgate.audit.tokens" in log  # the server logs every token issued (never the token)
    assert server.demo is not None
    banner, sep, rest = log.partition("realmgate listening on")
    assert sep, log
    assert banner.count(server.demo.client_secret) == 2  # the clientSecret line and the curl line
    banner_free = banner.replace(server.demo.client_secret, "<demo secret>")
    assert_absent("the server log", (banner_free + rest).encode(), forbidden)

    # every CLI --json output after creation, the audit trail included
    assert len(m.cli_outputs) >= 10
    for out in m.cli_outputs:
        assert_absent("a CLI listing", out.encode(), forbidden)

    # the database, raw
    dump = database_dump(server)
    # the dump does hold the rows where a secret would be: the stored keyed hash is in it
    assert any(stored_hash in d or stored_hash.hex().encode() in d.lower() for d in dump.values())
    for where, data in dump.items():
        assert_absent(f"the database ({where})", data, forbidden)
    server.stop()
    # SQLite: once more after the server closed its connections (WAL checkpointed)
    for where, data in database_dump(server).items():
        assert_absent(f"the database after shutdown ({where})", data, forbidden)


def test_scanner_finds_planted_material() -> None:
    """The scan itself: a secret in clear, as raw bytes or in hex is found."""
    secret = "q8Yy0c3oVwq1vOQm2b0a5x9T7y2nY0kzq0oM3v8wJ0A"
    forbidden = needles(Material(secrets={secret}), b"M" * 32, b"P" * 32, [])
    raw = b64url_decode(secret)
    for haystack in (
        b"row|" + secret.encode() + b"|",
        b"\x00" + raw + b"\x00",
        b"(x,\\x" + raw.hex().upper().encode() + b")",
        b"key=" + b"M" * 32,
        b"pepper " + (b"P" * 32).hex().encode(),
    ):
        with pytest.raises(AssertionError):
            assert_absent("a planted haystack", haystack, forbidden)
    assert_absent("a clean haystack", b"nothing to see" * 100, forbidden)
