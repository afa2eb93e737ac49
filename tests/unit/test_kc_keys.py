"""Keycloak key providers -> realmgate signing keys (server/kc_import/keys.py).

The components are built as ``kc.sh export`` writes them (Keycloak's AbstractRsaKeyProvider,
GeneratedEcdsaKeyProvider, GeneratedEddsaKeyProvider: config values are lists of strings, RSA
keys as PEM bodies, EC/EdDSA keys as base64 PKCS#8 / SubjectPublicKeyInfo)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from joserfc.jwk import RSAKey

from realmgate.jose import decode_verified, keycloak_kid, load_private_key
from realmgate.jose.signer import signer_for
from realmgate.server.admin_api.reps_realm import keys_rep
from realmgate.server.core.admin import DEFAULT_SETTINGS, Admin
from realmgate.server.core.realms import build_realm
from realmgate.server.crypto import Aead, SecretHasher
from realmgate.server.kc_import.keys import KEY_PROVIDER_TYPE, KeyImportError, keys_from_components
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings
from realmgate.server.storage.records import KeyRecord, TenantRecord
from realmgate.server.vault import Vault
from realmgate.verifier._jwks import import_jwk

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

VAULT = Vault(aead=Aead(b"k" * 32), hasher=SecretHasher(b"p" * 32))
NOW = 1_760_000_000
REALM = "CX-Operator"

# A key Keycloak published (its JWKS, kept in a public repository: PolManeTrebol/personal_api,
# src/middlewares/jwks.py): n/e and the kid Keycloak derived for it.
KC_N = (
    "neAQQ_YSdeylwAC3k4FbbvNcqhjtqrMwEiUZEZPfvQCoCyn4U92_-7IDzERkilFyCkEuLEOv3ApGKzVoM1p9j_"
    "ti59sWeWsaNtQCig4JHn1_KK6XTpAZpCK2ow9HhPv50fZMbsUvVNQO6_rTcdc4W1fq80jN0MaBwGA75Wz0qvz"
    "DoSxrK2Hh95EU9lsGyaCTHC1VeY7OWBWgQCMpyDuGupVpv0q04RVgqDyThyxDNCRMluwfqJPBqiSDp24V-seH"
    "pCUpswixNpA4SJVBcG2mZBa4NxGczfHbg_N3gYumL0ignJWlQqHfC2HlErl0fh0m7ljydhIya9KcxM998IbyOQ"
)
KC_KID = "MctAJ4EJKxzrjlPKdVSStjL4pIJ16XrDIroHnp3BVI8"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def spki(public: Any) -> bytes:
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def java_kid(public: Any) -> str:
    """KeyUtils.createKeyId, written out here independently of realmgate.jose."""
    return base64.urlsafe_b64encode(hashlib.sha256(spki(public)).digest()).rstrip(b"=").decode()


def pkcs8(private: Any) -> bytes:
    return bytes(
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def certificate(private: Any, cn: str = REALM) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(private, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def component(name: str, provider: str, **config: str) -> dict[str, Any]:
    return {
        "id": hashlib.md5(name.encode(), usedforsecurity=False).hexdigest(),
        "name": name,
        "providerId": provider,
        "subComponents": {},
        "config": {key: [value] for key, value in config.items()},
    }


def rsa_component(
    name: str, private: rsa.RSAPrivateKey, *, pkcs1: bool = True, **config: str
) -> dict[str, Any]:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if pkcs1
        else serialization.PrivateFormat.PKCS8
    )
    der = private.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
    config.setdefault("priority", "100")
    return component(
        name,
        config.pop("provider", "rsa-generated"),
        privateKey=b64(der),
        certificate=b64(certificate(private)),
        **config,
    )


def ec_component(
    name: str, private: ec.EllipticCurvePrivateKey, curve: str, **config: str
) -> dict[str, Any]:
    return component(
        name,
        "ecdsa-generated",
        ecdsaPrivateKey=b64(pkcs8(private)),
        ecdsaPublicKey=b64(spki(private.public_key())),
        ecdsaEllipticCurveKey=curve,
        **config,
    )


def ed_component(name: str, private: ed25519.Ed25519PrivateKey, **config: str) -> dict[str, Any]:
    return component(
        name,
        "eddsa-generated",
        eddsaPrivateKey=b64(pkcs8(private)),
        eddsaPublicKey=b64(spki(private.public_key())),
        eddsaEllipticCurveKey="Ed25519",
        **config,
    )


def export(*items: dict[str, Any]) -> dict[str, Any]:
    return {KEY_PROVIDER_TYPE: list(items), "org.keycloak.userprofile.UserProfileProvider": []}


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture(scope="module")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


def by_kid(records: list[KeyRecord]) -> dict[str, KeyRecord]:
    return {r.kid: r for r in records}


def keycloak_token(private: Any, alg: str, kid: str, claims: dict[str, Any]) -> str:
    """A JWS as Keycloak's JWSBuilder writes it: header alg, typ "JWT", kid."""

    def seg(obj: Any) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=")

    signing_input = seg({"alg": alg, "typ": "JWT", "kid": kid}) + b"." + seg(claims)
    signature = signer_for(alg, private)(signing_input)
    return (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def test_kid_is_keycloaks_not_the_rfc7638_thumbprint() -> None:
    public = RSAKey.import_key({"kty": "RSA", "n": KC_N, "e": "AQAB"})
    assert keycloak_kid(public.public_key) == KC_KID
    assert public.thumbprint() != KC_KID


def test_full_export_keeps_keycloaks_kids_and_the_active_key(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey
) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    components = export(
        rsa_component("rsa-generated", rsa_key, keySize="2048"),
        rsa_component("rsa-old", rsa_key2, pkcs1=False, priority="150", active="false"),
        ec_component("ecdsa-generated", p384, "P-384", priority="100"),
        ed_component("eddsa-generated", ed, priority="100", active="false"),
        component("hmac-generated-hs512", "hmac-generated", secret="c2VjcmV0", algorithm="HS512"),
        component("aes-generated", "aes-generated", secret="c2VjcmV0"),
        rsa_component(
            "rsa-enc-generated",
            rsa.generate_private_key(65537, 2048),
            provider="rsa-enc-generated",
            algorithm="RSA-OAEP",
            keyUse="ENC",
        ),
        rsa_component("disabled", rsa.generate_private_key(65537, 2048), enabled="false"),
    )
    records, rows = keys_from_components(REALM, components, VAULT, NOW)
    kids = by_kid(records)
    assert set(kids) == {
        java_kid(rsa_key.public_key()),
        java_kid(rsa_key2.public_key()),
        java_kid(p384.public_key()),
        java_kid(ed.public_key()),
    }
    active = [r for r in records if r.status == "active"]
    assert [(r.kid, r.alg) for r in active] == [(java_kid(rsa_key.public_key()), "RS256")]
    assert {r.alg for r in records} == {"RS256", "ES384", "EdDSA"}
    assert all(
        r.verify_until is None and r.created_at == NOW and r.tenant == REALM for r in records
    )
    es = kids[java_kid(p384.public_key())]
    assert es.alg == "ES384" and es.public_jwk["crv"] == "P-384" and es.status == "retired"
    outcomes = {row["item"]: (row["outcome"], row["blocking"]) for row in rows}
    assert outcomes == {
        "key rsa-generated (rsa-generated)": ("imported", "no"),
        "key rsa-old (rsa-generated)": ("imported", "no"),
        "key ecdsa-generated (ecdsa-generated)": ("changed", "no"),  # active there, verifies here
        "key eddsa-generated (eddsa-generated)": ("imported", "no"),
        "key hmac-generated-hs512 (hmac-generated)": ("skipped", "no"),
        "key aes-generated (aes-generated)": ("skipped", "no"),
        "key rsa-enc-generated (rsa-enc-generated)": ("skipped", "no"),
        "key disabled (rsa-generated)": ("skipped", "no"),
    }
    assert all(set(row) == {"item", "kind", "outcome", "reason", "blocking"} for row in rows)


def test_published_jwk_is_keycloaks_with_its_certificate(rsa_key: rsa.RSAPrivateKey) -> None:
    records, _ = keys_from_components(REALM, export(rsa_component("rsa", rsa_key)), VAULT, NOW)
    jwk = records[0].public_jwk
    numbers = rsa_key.public_key().public_numbers()
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(256, "big")).rstrip(b"=").decode()
    assert (jwk["kty"], jwk["n"], jwk["e"], jwk["alg"], jwk["use"]) == (
        "RSA",
        n,
        "AQAB",
        "RS256",
        "sig",
    )
    assert jwk["kid"] == java_kid(rsa_key.public_key())
    cert = certificate(rsa_key)  # same key and subject: only the signature could differ
    assert (
        x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0])).public_key()
        == rsa_key.public_key()
    )
    assert "d" not in jwk and "p" not in jwk and len(cert) > 0
    found = import_jwk(jwk)  # realmgate.verifier takes the JWK, x5c and all
    assert not isinstance(found, str) and found[0] == jwk["kid"] and found[2] == "RS256"


@pytest.mark.parametrize(
    ("alg", "make"),
    [
        ("RS256", lambda: rsa.generate_private_key(65537, 2048)),
        ("PS256", lambda: rsa.generate_private_key(65537, 2048)),
        ("RS512", lambda: rsa.generate_private_key(65537, 2048)),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("ES512", lambda: ec.generate_private_key(ec.SECP521R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    ],
)
def test_keycloak_signed_token_verifies_and_realmgate_signs_with_the_imported_key(
    alg: str, make: Any
) -> None:
    private = make()
    if alg in ("ES256", "ES512"):
        comp = ec_component("k", private, {"ES256": "P-256", "ES512": "P-521"}[alg])
    elif alg == "EdDSA":
        comp = ed_component("k", private)
    else:
        comp = rsa_component("k", private, algorithm=alg)
    records, _ = keys_from_components(REALM, export(comp), VAULT, NOW, default_alg=alg)
    (record,) = records
    assert (record.alg, record.status, record.kid) == (
        alg,
        "active",
        java_kid(private.public_key()),
    )
    claims = {"iss": "https://sso/realms/" + REALM, "sub": "svc", "azp": "svc"}
    token = keycloak_token(private, alg, record.kid, claims)
    public = load_private_key(
        VAULT.decrypt_signing_key(REALM, record.kid, record.private_key_enc), alg, record.kid
    )
    assert decode_verified(token, public.key, [alg])[1] == claims
    tenant = TenantRecord(
        shortcode=REALM,
        name=REALM,
        signing_alg=alg,
        settings=dict(DEFAULT_SETTINGS),
        access_token_lifespan=300,
        session_max_lifespan=300,
        not_before=0,
        created_at=NOW,
        updated_at=NOW,
    )
    realm = build_realm(tenant, records, VAULT, "https://rg/realms/" + REALM, NOW)
    assert (realm.signing_key.kid, realm.signing_key.alg) == (record.kid, alg)
    ours = realm.signing_key.signer.sign(claims)
    verify = realm.verify_key(record.kid, NOW)
    assert verify is not None
    assert decode_verified(ours, verify.key, [alg])[1] == claims
    assert decode_verified(token, verify.key, [alg])[1] == claims
    assert json.loads(realm.jwks_json)["keys"][0]["kid"] == record.kid


def test_partial_export_without_private_keys_is_a_blocking_drop(rsa_key: rsa.RSAPrivateKey) -> None:
    masked = rsa_component("masked", rsa_key)
    masked["config"]["privateKey"] = ["**********"]
    missing = rsa_component("missing", rsa_key)
    del missing["config"]["privateKey"]
    p256 = ec.generate_private_key(ec.SECP256R1())
    no_ec = ec_component("ec", p256, "P-256")
    del no_ec["config"]["ecdsaPrivateKey"]
    records, rows = keys_from_components(REALM, export(masked, missing, no_ec), VAULT, NOW)
    assert records == []
    assert [(r["outcome"], r["blocking"]) for r in rows] == [("dropped", "yes")] * 3
    assert "masks" in rows[0]["reason"] and "no private key" in rows[1]["reason"]


def test_highest_priority_active_key_of_the_default_algorithm_signs(
    rsa_key: rsa.RSAPrivateKey, rsa_key2: rsa.RSAPrivateKey
) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    components = export(
        rsa_component("low", rsa_key, priority="10"),
        rsa_component("high", rsa_key2, priority="200"),
        ec_component("ec", p256, "P-256", priority="500"),
    )
    records, _ = keys_from_components(REALM, components, VAULT, NOW)
    assert [r.kid for r in records if r.status == "active"] == [java_kid(rsa_key2.public_key())]
    records, _ = keys_from_components(REALM, components, VAULT, NOW, default_alg="ES256")
    assert [r.kid for r in records if r.status == "active"] == [java_kid(p256.public_key())]
    # No active key of the default algorithm: the highest-priority active key, reported.
    records, rows = keys_from_components(REALM, components, VAULT, NOW, default_alg="PS512")
    assert [r.alg for r in records if r.status == "active"] == ["ES256"]
    assert any(r["outcome"] == "changed" and "no active PS512" in r["reason"] for r in rows)


def test_rotate_keeps_every_imported_key_verifying_only(rsa_key: rsa.RSAPrivateKey) -> None:
    records, rows = keys_from_components(
        REALM, export(rsa_component("k", rsa_key)), VAULT, NOW, rotate=True
    )
    assert [r.status for r in records] == ["retired"]
    assert rows[0]["outcome"] == "imported" and "verifies only" in rows[0]["reason"]


def test_configured_kid_and_pem_with_headers(rsa_key: rsa.RSAPrivateKey) -> None:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    comp = component(
        "imported", "rsa", privateKey=pem, priority="100", kid="my-key-2024", algorithm="PS384"
    )
    records, _ = keys_from_components(REALM, export(comp), VAULT, NOW, default_alg="PS384")
    assert [(r.kid, r.alg, r.status) for r in records] == [("my-key-2024", "PS384", "active")]
    assert "x5c" not in records[0].public_jwk


def test_keys_that_cannot_be_carried_over(rsa_key: rsa.RSAPrivateKey) -> None:
    p256, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    mismatched = ec_component("mismatch", p256, "P-256")
    mismatched["config"]["ecdsaPublicKey"] = [b64(spki(other.public_key()))]
    small = rsa.generate_private_key(65537, 1024)
    components = export(
        mismatched,
        ec_component("k1", ec.generate_private_key(ec.SECP256K1()), "secp256k1"),
        rsa_component("weak", small),
        component("ks", "java-keystore", keystore="/opt/kc.jks", keystorePassword="x"),
        component("custom", "my-hsm-provider"),
        component("garbage", "rsa-generated", privateKey="!!not base64!!"),
        rsa_component("twice-1", rsa_key),
        rsa_component("twice-2", rsa_key),
    )
    records, rows = keys_from_components(REALM, components, VAULT, NOW)
    assert [r.kid for r in records] == [java_kid(rsa_key.public_key())]
    got = [(r["item"].split()[1], r["outcome"], r["blocking"]) for r in rows]
    assert got == [
        ("mismatch", "dropped", "yes"),
        ("k1", "dropped", "yes"),
        ("weak", "dropped", "yes"),
        ("ks", "dropped", "yes"),
        ("custom", "dropped", "yes"),
        ("garbage", "dropped", "yes"),
        ("twice-2", "skipped", "no"),
        ("twice-1", "imported", "no"),
    ]
    text = json.dumps(rows)
    private_b64 = components[KEY_PROVIDER_TYPE][0]["config"]["ecdsaPrivateKey"][0]
    assert private_b64[:40] not in text and "keystorePassword" not in text
    assert "private_key_enc" not in repr(records[0]) and "BEGIN" not in repr(records[0])


@pytest.mark.parametrize(
    ("components", "path"),
    [
        ([], "components"),
        ({KEY_PROVIDER_TYPE: {}}, f'components["{KEY_PROVIDER_TYPE}"]'),
        ({KEY_PROVIDER_TYPE: ["x"]}, f'components["{KEY_PROVIDER_TYPE}"][0]'),
        (
            {KEY_PROVIDER_TYPE: [{"providerId": 3}]},
            f'components["{KEY_PROVIDER_TYPE}"][0].providerId',
        ),
        (
            {KEY_PROVIDER_TYPE: [{"providerId": "rsa", "config": []}]},
            f'components["{KEY_PROVIDER_TYPE}"][0].config',
        ),
        (
            {KEY_PROVIDER_TYPE: [{"providerId": "rsa", "config": {"enabled": [7]}}]},
            f'components["{KEY_PROVIDER_TYPE}"][0].config.enabled',
        ),
        (
            {KEY_PROVIDER_TYPE: [{"providerId": "rsa", "config": {"active": ["maybe"]}}]},
            f'components["{KEY_PROVIDER_TYPE}"][0].config.active',
        ),
        (
            {KEY_PROVIDER_TYPE: [{"providerId": "rsa", "config": {"priority": ["high"]}}]},
            f'components["{KEY_PROVIDER_TYPE}"][0].config.priority',
        ),
    ],
)
def test_wrong_shapes_name_their_json_path(components: Any, path: str) -> None:
    with pytest.raises(KeyImportError) as err:
        keys_from_components(REALM, components, VAULT, NOW)
    assert err.value.path == path


def test_no_components_no_keys() -> None:
    assert keys_from_components(REALM, None, VAULT, NOW) == ([], [])
    assert keys_from_components(REALM, {}, VAULT, NOW) == ([], [])


def test_padding_of_keycloak_ps256_tokens_is_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    """Java's SHA256withRSA/PSS uses MGF1-SHA256 and a 32-byte salt: a token signed that way
    (here by cryptography directly, not by realmgate's signer) verifies."""
    records, _ = keys_from_components(
        REALM,
        export(rsa_component("k", rsa_key, algorithm="PS256")),
        VAULT,
        NOW,
        default_alg="PS256",
    )
    kid = records[0].kid
    head = base64.urlsafe_b64encode(
        json.dumps({"alg": "PS256", "typ": "JWT", "kid": kid}).encode()
    ).rstrip(b"=")
    body = base64.urlsafe_b64encode(b'{"sub":"svc"}').rstrip(b"=")
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    sig = rsa_key.sign(head + b"." + body, pss, hashes.SHA256())
    token = (head + b"." + body + b"." + base64.urlsafe_b64encode(sig).rstrip(b"=")).decode()
    public = RSAKey.import_key(records[0].public_jwk)
    assert decode_verified(token, public, ["PS256"])[1] == {"sub": "svc"}


def test_stored_imported_keys_rotate_and_emergency_rotate(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """An imported PS384 realm: stored as is, then rotation keeps its algorithm and the
    imported key verifies until its tokens expire; an emergency removes every key."""
    runtime = open_runtime(Settings(data_dir=tmp_path))
    try:
        p521 = ec.generate_private_key(ec.SECP521R1())
        components = export(
            rsa_component("rsa", rsa_key, algorithm="PS384"),
            ec_component("ec", p521, "P-521", active="false"),
        )
        records, _ = keys_from_components(
            "kcimport", components, runtime.vault, NOW, default_alg="PS384"
        )
        tenant = TenantRecord(
            shortcode="kcimport",
            name="kc",
            signing_alg="PS384",
            settings=dict(DEFAULT_SETTINGS),
            access_token_lifespan=300,
            session_max_lifespan=600,
            not_before=0,
            created_at=NOW,
            updated_at=NOW,
            realm_id="3b241101-e2bb-4255-8caf-4136c566a962",
        )
        runtime.store.create_tenant(tenant, [], records)
        stored = {k.kid: k for k in runtime.store.list_keys("kcimport")}
        assert {(k.alg, k.status) for k in stored.values()} == {
            ("PS384", "active"),
            ("ES512", "retired"),
        }
        rep = keys_rep(tenant, list(stored.values()))
        assert rep["active"] == {"PS384": java_kid(rsa_key.public_key())}
        assert {(k["type"], k.get("curve"), "publicKey" in k) for k in rep["keys"]} == {
            ("RSA", None, True),
            ("EC", "P-521", True),
        }
        admin = Admin(runtime.store, runtime.vault, runtime.settings, actor="test")
        new = admin.rotate_key("kcimport")
        assert new.alg == "PS384" and new.kid not in stored
        after = {k.kid: k for k in runtime.store.list_keys("kcimport")}
        old = after[java_kid(rsa_key.public_key())]
        assert old.status == "retired" and old.verify_until is not None
        admin.rotate_key("kcimport", signing_alg="ES384", emergency=True)
        statuses = {k.kid: k.status for k in runtime.store.list_keys("kcimport")}
        assert sorted(statuses.values()) == ["active", "revoked", "revoked", "revoked"]
    finally:
        runtime.close()


def test_kid_in_config_is_kept_for_every_provider_as_realmgate_exports_it() -> None:
    """Keycloak-written EC/EdDSA components have no ``kid``; realmgate's export adds one for
    keys it generated (RFC 7638 kids), and a round trip keeps it."""
    p256 = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    components = export(
        ec_component("ec", p256, "P-256", kid="thumb-ec"),
        ed_component("ed", ed, kid="thumb-ed", active="false"),
    )
    records, _ = keys_from_components(REALM, components, VAULT, NOW, default_alg="ES256")
    assert [(r.kid, r.status) for r in records] == [("thumb-ec", "active"), ("thumb-ed", "retired")]
