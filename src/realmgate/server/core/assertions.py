"""JWT client authentication (RFC 7523 §2.2 and §3, with the audience rule of RFC 10070).

``private_key_jwt``: the client signs with its own key; realmgate verifies with the JWKS the
client registered (inline, or at a ``jwks_uri`` fetched and cached). ``client_secret_jwt``: the
client signs with HMAC under its client secret, which realmgate keeps encrypted for that.

Checks: ``iss`` = ``sub`` = the client id; ``aud`` is the realm's issuer (one value); ``exp``
required and at most ``MAX_ASSERTION_LIFETIME`` (1 h, what common client libraries use) ahead;
``iat``, when present, at most ``MAX_ASSERTION_AGE`` (5 min) old; ``jti`` required and never
accepted twice while the assertion lives, on any node (the ``used_assertions`` table). The
time claims go through the verifier's own check (``check_time_claims``: finite numbers only,
``nbf`` and ``iat`` well-formed when present, the same leeway as access tokens).
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import anyio.to_thread
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from realmgate.jose.keys import SUPPORTED_ALGORITHMS, eddsa_name_allowed
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.storage.records import ClientRecord
from realmgate.verifier import DEFAULT_LEEWAY, AsyncJwksCache, TimeClaimError, check_time_claims

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600
MAX_ASSERTION_AGE = 300
LEEWAY = DEFAULT_LEEWAY
MAX_ASSERTION_BYTES = 8192
# As Keycloak's client-jwt authenticator: RS, PS and ES at 256/384/512, and EdDSA.
ASYMMETRIC_ALGS = SUPPORTED_ALGORITHMS
HMAC_ALGS = ("HS256", "HS384", "HS512")


class AssertionInvalid(Exception):
    """The assertion failed a check; the reason goes to logs only."""


def _segment(token: str, index: int) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_ASSERTION_BYTES:
        raise AssertionInvalid("malformed assertion")
    try:
        value = json.loads(base64.urlsafe_b64decode(parts[index] + "=" * (-len(parts[index]) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise AssertionInvalid("malformed assertion") from None
    if not isinstance(value, dict):
        raise AssertionInvalid("malformed assertion")
    return value


def assertion_client_id(assertion: str) -> str:
    """The client the assertion claims to be (``iss``, which must equal ``sub``)."""
    claims = _segment(assertion, 1)
    iss, sub = claims.get("iss"), claims.get("sub")
    if not isinstance(iss, str) or iss != sub:
        raise AssertionInvalid("iss and sub must both be the client id")
    return iss


def check_claims(claims: dict[str, Any], client_id: str, issuer: str, now: int) -> tuple[str, int]:
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AssertionInvalid("iss/sub mismatch")
    aud = claims.get("aud")
    if not (aud == issuer or (isinstance(aud, list) and aud == [issuer])):
        raise AssertionInvalid("aud must be the realm's issuer")
    try:
        times = check_time_claims(
            claims,
            now,
            leeway=LEEWAY,
            max_lifetime=MAX_ASSERTION_LIFETIME,
            max_age=MAX_ASSERTION_AGE,
        )
    except TimeClaimError as exc:
        raise AssertionInvalid(f"assertion {exc}") from None
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise AssertionInvalid("jti missing")
    # NumericDate may be fractional (RFC 7519 §2); finite and at most an hour ahead here.
    return jti, math.ceil(times.expires_at)


class AssertionVerifier:
    """Verifies client assertions for one server; keeps remote client JWKS cached."""

    def __init__(self, directory: Directory, jwks_cache: AsyncJwksCache | None = None):
        self.directory = directory
        self._jwks = jwks_cache

    def _cache(self) -> AsyncJwksCache:
        if self._jwks is None:
            self._jwks = AsyncJwksCache()
        return self._jwks

    @property
    def jwks_fetches(self) -> int:
        """Fetches of clients' registered JWKS URIs."""
        return 0 if self._jwks is None else self._jwks.fetches

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    async def _key(
        self, realm: Realm, client: ClientRecord, header: dict[str, Any], now: int
    ) -> Any:
        alg = header.get("alg")
        if client.auth_method == "client_secret_jwt":
            if alg not in HMAC_ALGS or client.secret_enc is None:
                raise AssertionInvalid("client_secret_jwt needs an HMAC algorithm")
            keys = [self.directory.vault.decrypt_client_secret(client, client.secret_enc)]
            if client.previous_secret_enc and (client.previous_secret_expires_at or 0) > now:
                keys.append(
                    self.directory.vault.decrypt_client_secret(client, client.previous_secret_enc)
                )
            return [OctKey.import_key(k) for k in keys]
        if client.auth_method != "private_key_jwt" or alg not in ASYMMETRIC_ALGS:
            raise AssertionInvalid("private_key_jwt needs an asymmetric algorithm")
        kid = header.get("kid")
        if client.jwks is not None:
            keyset = KeySet.import_key_set(client.jwks)  # type: ignore[arg-type]
            return [k for k in keyset.keys if kid is None or k.kid == kid]
        if client.jwks_uri is None:
            raise AssertionInvalid("the client registered no keys")
        cache = self._cache()
        source = f"client:{realm.shortcode}:{client.client_id}"
        cache.pin(source, client.jwks_uri)
        found = await cache.resolve(source, kid) if isinstance(kid, str) else None
        if found is None:
            raise AssertionInvalid("no key with that kid")
        return [found[0]]

    async def verify(self, realm: Realm, client: ClientRecord, assertion: str, now: int) -> None:
        header = _segment(assertion, 0)
        if "crit" in header:
            raise AssertionInvalid("unsupported critical header")
        keys = await self._key(realm, client, header, now)
        alg = str(header.get("alg"))
        claims: dict[str, Any] | None = None
        for key in keys:
            try:
                with eddsa_name_allowed(alg):
                    claims = dict(jwt.decode(assertion, key, algorithms=[alg]).claims)
                break
            except (JoseError, ValueError, TypeError):
                continue
        if claims is None:
            raise AssertionInvalid("signature invalid")
        jti, exp = check_claims(claims, client.client_id, realm.issuer, now)
        store = self.directory.store
        fresh = await anyio.to_thread.run_sync(
            store.use_assertion, realm.shortcode, client.client_id, jti, exp + LEEWAY
        )
        if not fresh:
            raise AssertionInvalid("assertion replayed")
