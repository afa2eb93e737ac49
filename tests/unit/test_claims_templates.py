"""Pre-rendered claims: every token carries exactly the claims of ``access_token_claims``."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from realmgate.jose import decode_verified
from realmgate.server.core.admin import Admin
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.tokens import (
    ClaimsTemplates,
    Grant,
    access_token_claims,
    issue_token,
    lifespan,
    new_jti,
)
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import ClientRecord


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path, bootstrap_demo=False))
    yield rt
    rt.close()


@pytest.fixture
def realm_and_client(runtime: Runtime) -> tuple[Realm, ClientRecord]:
    creds = Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")
    directory = Directory(runtime.store, runtime.vault, runtime.settings)
    realm = anyio.run(directory.realm, "acme")
    client = anyio.run(directory.client, "acme", creds.client_id)
    assert realm is not None and client is not None
    return realm, client


def _payload(token: bytes) -> dict[str, object]:
    part = token.split(b".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))))


@pytest.mark.parametrize("profile", ["jwt", "rfc9068"])
@pytest.mark.parametrize("audience", ["https://api.example", ["https://a.example", "urn:b"]])
def test_payload_equals_the_claims_it_stands_for(
    realm_and_client: tuple[Realm, ClientRecord], profile: str, audience: str | list[str]
) -> None:
    realm, client = realm_and_client
    client = replace(client, token_profile=profile, claims={"dept": "Zürich", "exp": 1})
    grant = Grant.build(realm, client, scope="a b", audience=audience)
    expires_in = lifespan(realm, client)
    for now in (1_700_000_000, 1_700_000_007):  # the second call uses the rendered template
        payload = _payload(grant.sign(now))
        expected = access_token_claims(
            realm, client, scope="a b", audience=audience, now=now, expires_in=expires_in
        )
        assert payload.pop("jti") != expected.pop("jti")
        assert payload == expected


def test_a_new_snapshot_renders_again_and_the_cache_is_bounded(
    realm_and_client: tuple[Realm, ClientRecord],
) -> None:
    realm, client = realm_and_client
    templates = ClaimsTemplates(maxsize=2)

    def roles(c: ClientRecord) -> list[str]:
        raw = b'{"exp":1,' + templates.rest(realm, c, scope="s", audience="aud")
        return list(json.loads(raw)["realm_access"]["roles"])

    assert roles(client) == list(client.roles)
    assert roles(replace(client, roles=("changed",))) == ["changed"]
    for scope in ("x", "y", "z"):
        templates.rest(realm, client, scope=scope, audience="aud")
    assert len(templates._rendered) == 2


def test_the_rendered_response_equals_the_response_dict(
    realm_and_client: tuple[Realm, ClientRecord],
) -> None:
    realm, client = realm_and_client
    grant = Grant.build(realm, client, scope='a "quoted" scope', audience="aud")
    rendered = json.loads(grant.response_json(1_700_000_000))
    as_dict = grant.response(1_700_000_000)
    assert list(rendered) == list(as_dict)  # same fields, same order
    assert rendered.pop("access_token") != as_dict.pop("access_token")
    assert rendered == as_dict


def test_jti_is_a_random_version_4_uuid() -> None:
    jtis = {new_jti().decode() for _ in range(1000)}
    assert len(jtis) == 1000
    for jti in list(jtis)[:50]:
        parsed = uuid.UUID(jti)
        assert str(parsed) == jti and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_issued_tokens_verify_with_the_realms_key(
    realm_and_client: tuple[Realm, ClientRecord],
) -> None:
    realm, client = realm_and_client
    response = issue_token(realm, client, scope="s", audience="aud", now=1_700_000_000)
    key = realm.verify_keys[realm.signing_key.kid]
    header, claims = decode_verified(response["access_token"], key.key, [key.alg])
    assert header == {"alg": key.alg, "typ": "JWT", "kid": key.kid}
    assert claims["exp"] == 1_700_000_000 + response["expires_in"]
    assert claims["client_id"] == client.client_id


def test_a_forked_child_never_hands_out_its_parents_random_bytes() -> None:
    new_jti()  # the pool holds bytes the child would inherit
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next jtis, then out without running pytest's teardown
        os.close(read)
        os.write(write, b"".join(new_jti() for _ in range(3)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = b"".join(new_jti() for _ in range(3))
    assert len(child) == len(parent) == 3 * 36
    assert child != parent
