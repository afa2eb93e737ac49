"""Access tokens: JWTs with Keycloak-compatible service-account claims (docs/api.md), or the
RFC 9068 profile (header ``typ: at+jwt``) for clients that ask for it.

Tokens are never stored; their ``jti`` identifies them for revocation.

Only ``exp``, ``iat`` and ``jti`` differ between two tokens of one client with one scope and
audience, so the JSON of the other claims is rendered once per (realm snapshot, client
snapshot, scope, audience) and each token splices its three values in front of it. A
sender-constrained token (DPoP, mutual TLS: :mod:`.binding`) splices its ``cnf`` there too,
and its response says ``"token_type":"DPoP"`` for a DPoP-bound token (RFC 9449 §5).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from realmgate.server.core.policy import custom_claims
from realmgate.server.core.realms import Realm
from realmgate.server.storage.records import ClientRecord

if TYPE_CHECKING:
    from realmgate.server.core.binding import Binding

RFC9068_TYP = "at+jwt"


def lifespan(realm: Realm, client: ClientRecord) -> int:
    """The client's lifespan, else the tenant's, never above the tenant's maximum."""
    wanted = client.access_token_lifespan or realm.tenant.access_token_lifespan
    return max(1, min(wanted, realm.tenant.session_max_lifespan))


def not_before_policy(realm: Realm, client: ClientRecord) -> int:
    return max(realm.tenant.not_before, client.not_before)


def access_token_claims(
    realm: Realm,
    client: ClientRecord,
    *,
    scope: str,
    audience: str | list[str],
    now: int,
    expires_in: int,
) -> dict[str, Any]:
    claims = custom_claims(client)
    if client.token_profile == "rfc9068":
        claims.update(
            {
                "iss": realm.issuer,
                "exp": now + expires_in,
                "aud": audience,
                "sub": client.sub,
                "client_id": client.client_id,
                "iat": now,
                "jti": str(uuid.uuid4()),
                "scope": scope,
                "roles": list(client.roles),
                "tenant": realm.shortcode,
            }
        )
        _admin_roles(claims, client)
        return claims
    claims.update(
        {
            "exp": now + expires_in,
            "iat": now,
            "jti": str(uuid.uuid4()),
            "iss": realm.issuer,
            "aud": audience,
            "sub": client.sub,
            "typ": "Bearer",
            "azp": client.client_id,
            "client_id": client.client_id,
            "preferred_username": f"service-account-{client.client_id}".lower(),
            "scope": scope,
            "realm_access": {"roles": list(client.roles)},
            "tenant": realm.shortcode,
        }
    )
    _admin_roles(claims, client)
    return claims


def _admin_roles(claims: dict[str, Any], client: ClientRecord) -> None:
    """A client's roles of its realm's ``realm-management`` client, where Keycloak puts them
    (the admin API reads them from the token), beside the roles of other clients a Keycloak
    import carried (``claims["resource_access"]``, written by the importer only: admin writes
    refuse the reserved claim; ``realm-management`` there is never honoured)."""
    imported = client.claims.get("resource_access")
    access: dict[str, Any] = {}
    if isinstance(imported, dict):
        access = {k: v for k, v in imported.items() if k != "realm-management"}
    if client.admin_roles:
        access["realm-management"] = {"roles": list(client.admin_roles)}
    if access:
        claims["resource_access"] = access


PER_TOKEN = ("exp", "iat", "jti")
MAX_TEMPLATES = 16_384  # one per active client, at 10,000 active clients per worker


class ClaimsTemplates:
    """Rendered claims JSON without ``exp``/``iat``/``jti``, per snapshot, scope and audience.

    Entries hold the realm and client snapshots they were rendered from and are used only for
    those very objects: any change (a new snapshot) renders again. Bounded to ``maxsize``."""

    def __init__(self, maxsize: int = MAX_TEMPLATES):
        self.maxsize = maxsize
        self._rendered: dict[tuple[str, str, str, object], tuple[Realm, ClientRecord, bytes]] = {}

    def rest(
        self, realm: Realm, client: ClientRecord, *, scope: str, audience: str | list[str]
    ) -> bytes:
        """The claims after ``{"exp":…,"iat":…,"jti":…,`` (up to the closing brace)."""
        key = (
            realm.shortcode,
            client.client_id,
            scope,
            audience if isinstance(audience, str) else tuple(audience),
        )
        hit = self._rendered.get(key)
        if hit is None or hit[0] is not realm or hit[1] is not client:
            claims = access_token_claims(
                realm, client, scope=scope, audience=audience, now=0, expires_in=0
            )
            for name in PER_TOKEN:
                del claims[name]
            rest = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
            hit = (realm, client, rest[1:])
            self._rendered.pop(key, None)
            self._rendered[key] = hit
            if len(self._rendered) > self.maxsize:
                del self._rendered[next(iter(self._rendered))]
        return hit[2]


class _RandomPool:
    """Bytes of ``os.urandom`` read 4 KiB at a time (one system call per 256 tokens, not one
    per token) and handed out once each, under a lock. A forked child drops what its parent
    had read, so two processes never hand out the same bytes."""

    SIZE = 4096

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self._buf, self._pos, self._lock = b"", 0, threading.Lock()

    def take(self, n: int) -> bytes:
        with self._lock:
            pos = self._pos
            if pos + n > len(self._buf):
                self._buf, pos = os.urandom(self.SIZE), 0
            self._pos = pos + n
            return self._buf[pos : pos + n]


_random = _RandomPool()


def new_jti() -> bytes:
    """A random (version 4) UUID in its text form, as Keycloak's ``jti``."""
    b = bytearray(_random.take(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex().encode()
    return b"%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


_templates = ClaimsTemplates()


@dataclass(frozen=True, slots=True)
class Grant:
    """Everything a token of one client, scope and audience needs, rendered once.

    Only ``exp``, ``iat``, ``jti`` and the signature differ between two of its tokens, and only
    the token itself differs between two token responses."""

    realm: Realm
    client: ClientRecord
    scope: str
    audience: str | list[str]
    expires_in: int
    typ: str
    claims_rest: bytes
    response_tail: bytes  # the JSON token response after the token's opening quote
    dpop_tail: bytes  # the same with "token_type":"DPoP"
    rate_key: str  # the client's key in the token rate limiter

    @classmethod
    def build(
        cls, realm: Realm, client: ClientRecord, *, scope: str, audience: str | list[str]
    ) -> Grant:
        expires_in = lifespan(realm, client)
        response = token_response("", expires_in, not_before_policy(realm, client), scope)
        rendered = json.dumps(response, separators=(",", ":"), ensure_ascii=False).encode()
        response["token_type"] = "DPoP"
        dpop = json.dumps(response, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(
            realm=realm,
            client=client,
            scope=scope,
            audience=audience,
            expires_in=expires_in,
            typ=RFC9068_TYP if client.token_profile == "rfc9068" else "JWT",
            claims_rest=_templates.rest(realm, client, scope=scope, audience=audience),
            response_tail=rendered[len(RESPONSE_HEAD) :],
            dpop_tail=dpop[len(RESPONSE_HEAD) :],
            rate_key=f"{realm.shortcode}:{client.client_id}",
        )

    def sign(self, now: int) -> bytes:
        """A new access token (ASCII: base64url and dots)."""
        payload = b'{"exp":%d,"iat":%d,"jti":"%s",%s' % (
            now + self.expires_in,
            now,
            new_jti(),
            self.claims_rest,
        )
        return self.realm.signing_key.signer.sign_payload_bytes(payload, self.typ)

    def sign_bound(self, now: int, binding: Binding) -> bytes:
        """A new access token with the confirmation ``cnf`` of ``binding`` (and, for a DPoP
        binding in Keycloak's profile, ``"typ":"DPoP"`` as Keycloak's DPoP mapper sets)."""
        rest = self.claims_rest
        if binding.jkt is not None and self.typ != RFC9068_TYP:
            rest = _dpop_typed(rest)
        payload = b'{"exp":%d,"iat":%d,"jti":"%s",%s%s' % (
            now + self.expires_in,
            now,
            new_jti(),
            binding.claim_json(),
            rest,
        )
        return self.realm.signing_key.signer.sign_payload_bytes(payload, self.typ)

    def response_json(self, now: int, binding: Binding | None = None) -> bytes:
        """The token response (RFC 6749 §5.1, seed fields) of a new token, as JSON."""
        if binding is None or not binding.bound:
            return RESPONSE_HEAD + self.sign(now) + self.response_tail
        tail = self.dpop_tail if binding.jkt is not None else self.response_tail
        return RESPONSE_HEAD + self.sign_bound(now, binding) + tail

    def response(self, now: int, binding: Binding | None = None) -> dict[str, Any]:
        bound = binding is not None and binding.bound
        token = self.sign_bound(now, binding) if binding and bound else self.sign(now)
        response = token_response(
            token.decode("ascii"),
            self.expires_in,
            not_before_policy(self.realm, self.client),
            self.scope,
        )
        if binding is not None and binding.jkt is not None:
            response["token_type"] = "DPoP"
        return response


RESPONSE_HEAD = b'{"access_token":"'


@functools.lru_cache(maxsize=1024)
def _dpop_typed(claims_rest: bytes) -> bytes:
    """``claims_rest`` with the ``typ`` claim ``DPoP`` (rendered once per template)."""
    claims = json.loads(b"{" + claims_rest)
    claims["typ"] = "DPoP"
    return json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()[1:]


def token_response(token: str, expires_in: int, not_before: int, scope: str) -> dict[str, Any]:
    return {
        "access_token": token,
        "expires_in": expires_in,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": not_before,
        "scope": scope,
    }


def issue_token(
    realm: Realm, client: ClientRecord, *, scope: str, audience: str | list[str], now: int
) -> dict[str, Any]:
    """Sign an access token and return the token response (RFC 6749 §5.1, seed fields)."""
    return Grant.build(realm, client, scope=scope, audience=audience).response(now)
