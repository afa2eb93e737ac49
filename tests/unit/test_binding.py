"""Token binding at the core level: which ``cnf`` a token request gets (``core/binding.py``),
the bound token's claims and response (``core/tokens.py``), and the grant memo staying out of
DPoP requests (``core/grants.py``)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from realmgate.jose.dpop import DpopProof, jwk_thumbprint, make_proof, public_jwk_of
from realmgate.server.core.admin import Admin, IssuedCredentials
from realmgate.server.core.binding import MISSING_CERT, MISSING_PROOF, UNBOUND, Binding, decide
from realmgate.server.core.grants import ClientCredentialsGrant, RawTokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import ClientRecord, TenantRecord
from realmgate.wire.errors import InvalidDpopProof, InvalidRequest


def payload(token: bytes | str) -> dict[str, Any]:
    part = (token if isinstance(token, str) else token.decode()).split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def a_proof(jkt: str = "thumb") -> DpopProof:
    return DpopProof(jkt=jkt, jti="j", iat=0, htm="POST", htu="https://x/", nonce=None, ath=None)


def der_cert() -> bytes:
    ca = trustme.CA()
    pem = ca.issue_cert("client.example").cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(Settings(data_dir=tmp_path))
    yield rt
    rt.close()


@pytest.fixture
def creds(runtime: Runtime) -> IssuedCredentials:
    return Admin(runtime.store, runtime.vault, runtime.settings).create_tenant("acme")


def records(runtime: Runtime, client_id: str) -> tuple[TenantRecord, ClientRecord]:
    tenant = runtime.store.get_tenant("acme")
    client = runtime.store.get_client("acme", client_id)
    assert tenant is not None and client is not None
    return tenant, client


# decide ---------------------------------------------------------------------------------
def test_no_proof_no_policy_is_unbound(runtime: Runtime, creds: IssuedCredentials) -> None:
    tenant, client = records(runtime, creds.client_id)
    assert decide(tenant, client, None, None) is UNBOUND
    assert decide(tenant, client, None, der_cert()) is UNBOUND  # cert alone binds only cert_bound


def test_proof_binds_whatever_the_policy(runtime: Runtime, creds: IssuedCredentials) -> None:
    tenant, client = records(runtime, creds.client_id)
    binding = decide(tenant, client, a_proof("abc"), None)
    assert binding == Binding(jkt="abc")
    assert binding.token_type == "DPoP"
    assert binding.cnf() == {"jkt": "abc"}


@pytest.mark.parametrize("where", ["client", "tenant"])
def test_dpop_policy_needs_a_proof(runtime: Runtime, creds: IssuedCredentials, where: str) -> None:
    tenant, client = records(runtime, creds.client_id)
    if where == "client":
        client = replace(client, dpop_bound=True)
    else:
        tenant = replace(tenant, dpop_required=True)
    with pytest.raises(InvalidDpopProof) as exc:
        decide(tenant, client, None, None)
    assert exc.value.description == MISSING_PROOF
    assert exc.value.status_code == 400
    assert decide(tenant, client, a_proof(), None).jkt == "thumb"


def test_cert_bound_needs_a_certificate(runtime: Runtime, creds: IssuedCredentials) -> None:
    tenant, client = records(runtime, creds.client_id)
    client = replace(client, cert_bound=True)
    with pytest.raises(InvalidRequest) as exc:
        decide(tenant, client, None, None)
    assert exc.value.description == MISSING_CERT
    der = der_cert()
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    binding = decide(tenant, client, a_proof("k"), der)
    assert binding.cnf() == {"jkt": "k", "x5t#S256": expected}
    assert binding.token_type == "DPoP"
    assert decide(tenant, client, None, der).token_type == "Bearer"


def test_claim_json() -> None:
    assert UNBOUND.claim_json() == b""
    assert Binding(x5t_s256="t").claim_json() == b'"cnf":{"x5t#S256":"t"},'


# the grant ------------------------------------------------------------------------------
def body(creds: IssuedCredentials) -> bytes:
    return (
        f"grant_type=client_credentials&client_id={creds.client_id}"
        f"&client_secret={creds.client_secret}"
    ).encode()


def test_dpop_request_gets_bound_token_and_skips_the_memo(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    grant = ClientCredentialsGrant(Directory(runtime.store, runtime.vault, runtime.settings))
    key = ec.generate_private_key(ec.SECP256R1())
    url = f"{runtime.settings.sso_base}/realms/acme/protocol/openid-connect/token"

    async def run() -> None:
        for _ in range(2):
            p = make_proof(key, method="POST", url=url)
            raw = RawTokenRequest("acme", body(creds), None, dpop=p)
            response = json.loads(await grant.handle_body(raw))
            assert response["token_type"] == "DPoP"
            claims = payload(response["access_token"])
            assert claims["cnf"] == {"jkt": jwk_thumbprint(public_jwk_of(key))}
            assert claims["typ"] == "DPoP"  # as Keycloak's DPoP mapper
            assert claims["jti"] and claims["exp"] > claims["iat"]
        assert len(grant.memo) == 0
        # the same proof again: refused (one use)
        with pytest.raises(InvalidDpopProof):
            await grant.handle_body(RawTokenRequest("acme", body(creds), None, dpop=p))
        # a Bearer request still goes through the memo, unbound
        plain = json.loads(await grant.handle_body(RawTokenRequest("acme", body(creds), None)))
        assert plain["token_type"] == "Bearer"
        assert "cnf" not in payload(plain["access_token"])
        assert payload(plain["access_token"])["typ"] == "Bearer"
        assert len(grant.memo) == 1

    anyio.run(run)


def test_bad_proof_is_refused_before_anything_is_issued(
    runtime: Runtime, creds: IssuedCredentials
) -> None:
    grant = ClientCredentialsGrant(Directory(runtime.store, runtime.vault, runtime.settings))
    key = ec.generate_private_key(ec.SECP256R1())
    wrong = "https://evil.example/realms/acme/protocol/openid-connect/token"

    async def run() -> None:
        p = make_proof(key, method="POST", url=wrong)
        with pytest.raises(InvalidDpopProof):
            await grant.handle_body(RawTokenRequest("acme", body(creds), None, dpop=p))

    anyio.run(run)


def test_replay_store_down_is_503_not_500() -> None:
    from realmgate.server.core.dpop import ServerDpop
    from realmgate.wire.errors import TemporarilyUnavailable

    class Down:
        def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]:
            raise ConnectionError("database unreachable")

    class Once:
        def __init__(self) -> None:
            self.seen: set[tuple[str, str]] = set()

        def use_many(self, rows: Sequence[tuple[str, str, int]]) -> list[bool]:
            out = []
            for tenant, key, _ in rows:
                out.append((tenant, key) not in self.seen)
                self.seen.add((tenant, key))
            return out

    async def run() -> None:
        with pytest.raises(TemporarilyUnavailable):
            await ServerDpop(max_age=60, nonces=None, replay=Down()).use("acme", a_proof())
        once = ServerDpop(max_age=60, nonces=None, replay=Once())
        await once.use("acme", a_proof())
        with pytest.raises(InvalidDpopProof):
            await once.use("acme", a_proof())
        await once.use("other", a_proof())  # per tenant

    anyio.run(run)


def test_redis_replay_is_one_use_and_expires() -> None:
    import time
    import uuid

    from realmgate.server.core.dpop import RedisReplay

    replay = RedisReplay("redis://127.0.0.1:6379/15")  # the test Redis (tests/storage)
    tenant = f"t{uuid.uuid4().hex}"
    at = int(time.time()) + 60
    assert replay.use_many([(tenant, "k", at)]) == [True]
    assert replay.use_many([(tenant, "k", at)]) == [False]  # another node: the same answer
    assert RedisReplay("redis://127.0.0.1:6379/15").use_many([(tenant, "k", at)]) == [False]
    # one pipeline: a key twice in a batch is fresh only the first time
    assert replay.use_many([(tenant, "other", at), (tenant, "other", at)]) == [True, False]
    assert replay.use_many([(tenant, "gone", int(time.time()) - 1)]) == [True]  # EXAT past
    assert replay.use_many([(tenant, "gone", at)]) == [True]  # ... is already expired
