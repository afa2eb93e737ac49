"""Keycloak's key providers (``components["org.keycloak.keys.KeyProvider"]`` of a realm export)
to realmgate signing keys that keep the ``kid`` Keycloak publishes.

Read from Keycloak's sources (keycloak/keycloak):

- ``common/src/main/java/org/keycloak/common/util/KeyUtils.java``: ``createKeyId`` is the
  unpadded base64url SHA-256 of the public key's DER SubjectPublicKeyInfo
  (:func:`realmgate.jose.keycloak_kid`), not the RFC 7638 thumbprint;
- ``services/src/main/java/org/keycloak/keys/Attributes.java``: the config names ``priority``,
  ``enabled``, ``active``, ``privateKey``, ``certificate``, ``keyUse``, ``kid``, ``algorithm``;
- ``services/.../keys/AbstractRsaKeyProvider.java`` (providers ``rsa``, ``rsa-generated``):
  ``privateKey`` is PEM (base64 DER of PKCS#1 or PKCS#8, header optional), the public key is
  taken from it, the kid is the ``kid`` config if set, else ``createKeyId``; ``algorithm``
  defaults to RS256 (RSA-OAEP for ``keyUse`` enc, the ``rsa-enc*`` providers);
- ``services/.../keys/GeneratedEcdsaKeyProvider.java``, ``AbstractEcdsaKeyProviderFactory.java``
  and ``AbstractEcKeyProvider.java`` (``ecdsa-generated``): ``ecdsaPrivateKey`` (base64
  PKCS#8), ``ecdsaPublicKey`` (base64 SubjectPublicKeyInfo), ``ecdsaEllipticCurveKey``
  P-256/P-384/P-521/secp256k1 -> ES256/ES384/ES512/ES256K, kid from the public key;
- ``services/.../keys/GeneratedEddsaKeyProvider.java`` and ``AbstractEddsaKeyProvider.java``
  (``eddsa-generated``): ``eddsaPrivateKey``/``eddsaPublicKey`` (base64 PKCS#8 / SPKI),
  ``eddsaEllipticCurveKey`` Ed25519 or Ed448, algorithm EdDSA;
- ``KeyStatus.from(active, enabled)``: disabled keys are not published, passive ones verify
  only, and ``DefaultKeyManager`` signs with the active key of the highest priority.

``hmac-generated``, ``aes-generated`` and the encryption providers (``rsa-enc*``,
``ecdh-generated``) hold no token signing key; ``java-keystore`` keeps its key in a file on the
Keycloak host, outside the export; ``mldsa-generated`` (ML-DSA) has no JOSE support here.

One deviation: a ``kid`` in the config of ``ecdsa-generated``/``eddsa-generated`` is kept too
(Keycloak reads it for RSA only). Keycloak never writes one there; ``realmgate export keycloak``
does, for keys realmgate made itself (thumbprint kids), so that a round trip keeps every kid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from realmgate.jose import KeyPair, keycloak_kid, pair_from_private_key
from realmgate.server.storage.records import KeyRecord, KeyStatus
from realmgate.server.vault import Vault

KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"
MASKED = "**********"
MIN_RSA_BITS = 2048
_NOT_SIGNING = {
    "hmac-generated": "an HMAC secret for Keycloak's own tokens (refresh, actions)",
    "hmac-generated-hs512": "an HMAC secret for Keycloak's own tokens (refresh, actions)",
    "aes-generated": "an AES secret for Keycloak's own encrypted data",
    "rsa-enc": "an encryption key (realmgate does not decrypt tokens)",
    "rsa-enc-generated": "an encryption key (realmgate does not decrypt tokens)",
    "ecdh-generated": "an encryption key (realmgate does not decrypt tokens)",
}
_EC_ALGS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")

Row = dict[str, str]


class KeyImportError(ValueError):
    """A key provider component of the wrong shape; ``path`` is its JSON path."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path


class _Dropped(Exception):
    """One key cannot be carried over; the message is the report's reason (no key material)."""


@dataclass(frozen=True, slots=True)
class _Parsed:
    name: str
    provider: str
    priority: int
    active: bool
    pair: KeyPair
    jwk_extra: dict[str, Any]


def _row(item: str, outcome: str, reason: str, *, blocking: bool = False) -> Row:
    return {
        "item": item,
        "kind": "key",
        "outcome": outcome,
        "reason": reason,
        "blocking": "yes" if blocking else "no",
    }


def _first(config: Mapping[str, Any], name: str, path: str) -> str | None:
    """Keycloak's ``config.getFirst(name)``: the values are lists of strings."""
    value = config.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        if not value:
            return None
        value = value[0]
    if not isinstance(value, str):
        raise KeyImportError(f"{path}.config.{name}", "expected a string or a list of strings")
    return value


def _config(component: Mapping[str, Any]) -> Any:
    config = component.get("config")
    return {} if config is None else config


def _flag(config: Mapping[str, Any], name: str, path: str) -> bool:
    value = _first(config, name, path)
    if value is None:
        return True  # Keycloak's default for "enabled" and "active"
    if value.strip().lower() not in ("true", "false"):
        raise KeyImportError(f"{path}.config.{name}", "expected true or false")
    return value.strip().lower() == "true"


def _der(text: str, what: str) -> bytes:
    """Base64 DER, or a PEM block whose body is taken (Keycloak's PemUtils accepts both)."""
    body = "".join(line for line in text.splitlines() if not line.startswith("-----"))
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _Dropped(f"its {what} is not base64 or PEM") from None


def _private(config: Mapping[str, Any], name: str, path: str) -> Any:
    text = _first(config, name, path)
    if text is None or not text.strip():
        raise _Dropped("the export has no private key (partial export?)")
    if text.strip() == MASKED:
        raise _Dropped("the export masks the private key")
    try:
        return serialization.load_der_private_key(_der(text, "private key"), None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _Dropped("its private key cannot be read") from None


def _public(config: Mapping[str, Any], name: str, path: str, private: Any) -> Any:
    """The public key Keycloak publishes: the stored one when there is one (it must match)."""
    derived = private.public_key()
    text = _first(config, name, path)
    if text is None or not text.strip():
        return derived
    try:
        stored = serialization.load_der_public_key(_der(text, "public key"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _Dropped("its public key cannot be read") from None
    if stored != derived:
        raise _Dropped("its public key does not match its private key")
    return stored


def _certificate(config: Mapping[str, Any], path: str, public: Any) -> tuple[dict[str, Any], str]:
    """x5c/x5t/x5t#S256 as Keycloak's JWKS shows them, for a certificate of this key."""
    text = _first(config, "certificate", path)
    if text is None or not text.strip():
        return {}, ""
    try:
        der = _der(text, "certificate")
        cert = x509.load_der_x509_certificate(der)
        matches = cert.public_key() == public
    except (_Dropped, ValueError):
        return {}, "; its certificate cannot be read: not published"
    if not matches:
        return {}, "; its certificate is of another key: not published"
    b64u = base64.urlsafe_b64encode
    return {
        "x5c": [base64.b64encode(der).decode("ascii")],
        "x5t": b64u(hashlib.sha1(der, usedforsecurity=False).digest()).rstrip(b"=").decode(),
        "x5t#S256": b64u(hashlib.sha256(der).digest()).rstrip(b"=").decode(),
    }, ""


def _parse(component: Mapping[str, Any], path: str, provider: str) -> tuple[_Parsed, str]:
    config = _config(component)
    if not isinstance(config, dict):
        raise KeyImportError(f"{path}.config", "expected an object")
    raw_priority = _first(config, "priority", path) or "0"
    try:
        priority = int(raw_priority.strip())
    except ValueError:
        raise KeyImportError(f"{path}.config.priority", "expected an integer") from None
    name = component.get("name")
    label = name if isinstance(name, str) else "?"
    active = _flag(config, "active", path)
    kid_config = _first(config, "kid", path)
    if provider in ("rsa", "rsa-generated"):
        use = (_first(config, "keyUse", path) or "sig").lower()
        if use != "sig":
            raise _Dropped("an encryption key (realmgate does not decrypt tokens)")
        alg = _first(config, "algorithm", path) or "RS256"
        if alg not in _RSA_ALGS:
            raise _Dropped(f"its algorithm {alg!r} is not a signature algorithm realmgate has")
        private = _private(config, "privateKey", path)
        if not isinstance(private, rsa.RSAPrivateKey):
            raise _Dropped("its private key is not an RSA key")
        if private.key_size < MIN_RSA_BITS:
            raise _Dropped(f"its RSA key has {private.key_size} bits (realmgate needs 2048+)")
        public: Any = private.public_key()
    elif provider == "ecdsa-generated":
        curve = _first(config, "ecdsaEllipticCurveKey", path) or "P-256"
        if curve not in _EC_ALGS:
            raise _Dropped(f"its curve {curve!r} has no JOSE algorithm realmgate signs with")
        alg = _EC_ALGS[curve]
        private = _private(config, "ecdsaPrivateKey", path)
        public = _public(config, "ecdsaPublicKey", path, private)
    elif provider == "eddsa-generated":
        curve = _first(config, "eddsaEllipticCurveKey", path) or "Ed25519"
        if curve != "Ed25519":
            raise _Dropped(f"its curve {curve!r} is not supported (Ed25519 only)")
        alg = "EdDSA"
        private = _private(config, "eddsaPrivateKey", path)
        public = _public(config, "eddsaPublicKey", path, private)
    else:  # pragma: no cover - filtered by the caller
        raise _Dropped(f"unknown provider {provider!r}")
    kid = kid_config.strip() if kid_config and kid_config.strip() else keycloak_kid(public)
    if len(kid) > 128 or not kid.isprintable():
        raise _Dropped("its kid is longer than 128 characters or not printable")
    try:
        pair = pair_from_private_key(private, alg, kid)
    except ValueError:
        raise _Dropped(f"its private key does not fit {alg}") from None
    extra, note = _certificate(config, path, public)
    return _Parsed(label, provider, priority, active, pair, extra), note


def _components(components: Mapping[str, Any] | None) -> list[Any]:
    if components is None:
        return []
    if not isinstance(components, Mapping):
        raise KeyImportError("components", "expected an object")
    found = components.get(KEY_PROVIDER_TYPE)
    if found is None:
        return []
    if not isinstance(found, list):
        raise KeyImportError(f'components["{KEY_PROVIDER_TYPE}"]', "expected a list")
    return found


def keys_from_components(
    realm_name: str,
    components: Mapping[str, Any] | None,
    vault: Vault,
    now: int,
    *,
    default_alg: str = "RS256",
    rotate: bool = False,
) -> tuple[list[KeyRecord], list[Row]]:
    """The realm's signing keys from its key provider components, and the report's rows.

    ``components`` is the RealmRepresentation's ``components`` object (the key providers are
    under :data:`KEY_PROVIDER_TYPE`). Each usable signing key becomes a :class:`KeyRecord`
    with the kid Keycloak publishes, its private key (PKCS#8 PEM) encrypted under the master
    key for ``realm_name``. At most one record is ``active``: Keycloak's active key of the
    highest priority for ``default_alg`` (the realm's ``defaultSignatureAlgorithm``), else of
    any algorithm; the other active and the passive keys are ``retired`` with no end (in the
    JWKS, verifying only). Disabled keys are left out. With ``rotate``, every imported key is
    ``retired`` and the caller adds a fresh active key. With no active record the caller
    generates a key (and says so). The tenant's signing algorithm must be the active key's.

    Rows are ``{"item", "kind": "key", "outcome", "reason", "blocking": "yes"|"no"}``;
    ``blocking`` marks a key that signed or verified tokens and could not be carried over.
    Raises :class:`KeyImportError` (with the JSON path) for components of the wrong shape.
    """
    rows: list[Row] = []
    parsed: list[tuple[_Parsed, str]] = []
    seen: dict[str, str] = {}
    base = f'components["{KEY_PROVIDER_TYPE}"]'
    for index, component in enumerate(_components(components)):
        outcome = _one(component, f"{base}[{index}]")
        if isinstance(outcome, dict):
            rows.append(outcome)
            continue
        key = outcome[0]
        if key.pair.kid in seen:
            reason = f"the same kid as key {seen[key.pair.kid]}: imported once"
            rows.append(_row(f"key {key.name} ({key.provider})", "skipped", reason))
            continue
        seen[key.pair.kid] = key.name
        parsed.append(outcome)
    signing = None if rotate else _signing_choice([k for k, _ in parsed], default_alg)
    records: list[KeyRecord] = []
    for key, note in parsed:
        item = f"key {key.name} ({key.provider})"
        status: KeyStatus = "active" if key is signing else "retired"
        records.append(_record(realm_name, key, status, vault, now))
        what = f"{key.pair.alg}, kid {key.pair.kid}"
        if key is signing:
            changed = key.pair.alg != default_alg
            reason = f"{what}: signs the realm's tokens" + (
                f" (no active {default_alg} key in the export)" if changed else ""
            )
            rows.append(_row(item, "changed" if changed else "imported", reason + note))
        elif key.active and not rotate:
            reason = f"{what}: active in Keycloak; realmgate signs with one key, this one verifies"
            rows.append(_row(item, "changed", reason + note))
        else:
            rows.append(_row(item, "imported", f"{what}: in the JWKS, verifies only" + note))
    return records, rows


def _one(component: Any, path: str) -> tuple[_Parsed, str] | Row:
    """One component: its parsed key (and a note for the report), or the row saying why not."""
    if not isinstance(component, dict):
        raise KeyImportError(path, "expected an object")
    provider = component.get("providerId")
    if not isinstance(provider, str):
        raise KeyImportError(f"{path}.providerId", "expected a string")
    name = component.get("name")
    item = f"key {name if isinstance(name, str) else '?'} ({provider})"
    config = _config(component)
    if not isinstance(config, dict):
        raise KeyImportError(f"{path}.config", "expected an object")
    if not _flag(config, "enabled", path):
        return _row(item, "skipped", "disabled in Keycloak: not published there")
    if provider in _NOT_SIGNING:
        return _row(item, "skipped", f"{_NOT_SIGNING[provider]}, no token signing key")
    if provider not in ("rsa", "rsa-generated", "ecdsa-generated", "eddsa-generated"):
        reason = (
            "its key is in a keystore file on the Keycloak host, not in the export: "
            "import it as an rsa provider"
            if provider == "java-keystore"
            else "an ML-DSA key: realmgate does not sign or verify ML-DSA"
            if provider.startswith(("mldsa", "ml-dsa"))
            else "a key provider realmgate does not know"
        )
        return _row(item, "dropped", reason, blocking=True)
    try:
        return _parse(component, path, provider)
    except _Dropped as why:
        return _row(item, "dropped", str(why), blocking=True)


def _signing_choice(keys: list[_Parsed], default_alg: str) -> _Parsed | None:
    """DefaultKeyManager's active key: the highest priority (the first one on a tie)."""
    active = [k for k in keys if k.active]
    for pool in ([k for k in active if k.pair.alg == default_alg], active):
        if pool:
            return max(pool, key=lambda k: k.priority)  # max keeps the first of equals
    return None


def _record(tenant: str, key: _Parsed, status: KeyStatus, vault: Vault, now: int) -> KeyRecord:
    pem = key.pair.private_pem()
    jwk = key.pair.public_jwk()
    jwk.update(key.jwk_extra)
    return KeyRecord(
        tenant=tenant,
        kid=key.pair.kid,
        alg=key.pair.alg,
        private_key_enc=vault.encrypt_signing_key(tenant, key.pair.kid, pem),
        public_jwk=jwk,
        status=status,
        created_at=now,
        verify_until=None,
    )
