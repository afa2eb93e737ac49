"""Client authentication at the token, introspection and revocation endpoints.

Methods (RFC 6749 §2.3.1, RFC 7523 §2.2): ``client_secret_post`` (form parameters, as in the
seed), ``client_secret_basic`` (HTTP Basic with form-urlencoded id and secret),
``client_secret_jwt`` and ``private_key_jwt`` (a signed ``client_assertion``), and mutual TLS
(RFC 8705 §2): ``tls_client_auth`` and ``self_signed_tls_client_auth``, a request with
``client_id`` in its form, no secret nor assertion, and a client certificate (its TLS
connection's, or a trusted proxy's header: ``server/http/client_cert.py``; the matching is in
:mod:`realmgate.server.core.mtls`). A client is registered for one family: secret clients take
post or basic, JWT clients their assertion, certificate clients their certificate.

Unknown client, disabled client, wrong method and wrong secret give one and the same
:class:`InvalidClient` and, for secrets, go through the same work: a keyed hash and a
constant-time comparison against the current and the previous secret (a dummy hash when
there is no client to compare with). Every failure also reads the store once
(:meth:`ClientAuthenticator._recheck`), whether the client was in the cache or not: a fresh
unknown id costs what a known id with a wrong secret costs, in time and in the cache counters.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote_plus

from cryptography import x509

from realmgate.server.core.assertions import (
    ASSERTION_TYPE,
    AssertionInvalid,
    AssertionVerifier,
    assertion_client_id,
)
from realmgate.server.core.mtls import (
    cert_matches_jwks,
    issued_by,
    load_cert,
    load_issuers,
    subject_matches,
)
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.throttle import Throttle, source_key
from realmgate.server.crypto import SecretHasher
from realmgate.server.storage.records import ClientRecord
from realmgate.wire.errors import InvalidClient, InvalidRequest, TooManyRequests
from realmgate.wire.forms import Form

log = logging.getLogger("realmgate.auth")

AuthMethod = Literal[
    "client_secret_basic", "client_secret_post", "client_assertion", "tls_client_auth"
]
TLS_METHODS = frozenset({"tls_client_auth", "self_signed_tls_client_auth"})
MAX_CREDENTIAL_CHARS = 512


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str = field(repr=False)
    method: AuthMethod
    # "tls_client_auth": the request's DER client certificate (either RFC 8705 method; which
    # one is checked is the client's registered ``auth_method``).
    cert: bytes | None = field(default=None, repr=False)


def _parse_basic(authorization: str) -> tuple[str, str]:
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise InvalidRequest("Unsupported Authorization header scheme.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequest("Malformed Basic credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidRequest("Malformed Basic credentials.")
    return unquote_plus(client_id), unquote_plus(secret)


def _assertion(form: Form, authorization: str | None, realm: str) -> Credentials:
    assertion_type, assertion = form.get("client_assertion_type"), form.get("client_assertion")
    if authorization or form.get("client_secret") is not None:
        raise InvalidRequest("Use only one client authentication method.")
    if assertion_type != ASSERTION_TYPE or assertion is None:
        raise InvalidRequest(f"client_assertion_type must be {ASSERTION_TYPE}.")
    try:
        client_id = assertion_client_id(assertion)
    except AssertionInvalid:
        raise InvalidClient.for_scheme(realm, basic=False) from None
    form_id = form.get("client_id")
    if form_id is not None and form_id != client_id:
        raise InvalidClient.for_scheme(realm, basic=False)
    return Credentials(client_id, assertion, "client_assertion")


def extract_credentials(
    form: Form, authorization: str | None, realm: str, cert: bytes | None = None
) -> Credentials:
    """Find the one client authentication method the request used. ``cert``: the request's
    DER client certificate, if any (mutual TLS); it authenticates only a request that has a
    ``client_id`` and no other credentials, and may otherwise come along (certificate-bound
    tokens, RFC 8705 §3)."""
    if "client_assertion" in form or "client_assertion_type" in form:
        return _assertion(form, authorization, realm)
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if authorization:
        client_id, secret = _parse_basic(authorization)
        if form_secret is not None:
            raise InvalidRequest("Use only one client authentication method.")
        if form_id is not None and form_id != client_id:
            raise InvalidRequest("client_id does not match the Basic credentials.")
        if not client_id or not secret:
            raise InvalidClient.for_scheme(realm, basic=True)
        return Credentials(client_id, secret, "client_secret_basic")
    if form_id is not None and form_secret is None and cert is not None:
        return Credentials(form_id, "", "tls_client_auth", cert)
    if form_id is None or form_secret is None:
        raise InvalidClient.for_scheme(realm, basic=False)
    return Credentials(form_id, form_secret, "client_secret_post")


def secret_matches(
    hasher: SecretHasher, client: ClientRecord | None, secret: str, now: int
) -> bool:
    """Constant-time check against the current and (in its grace period) the previous secret."""
    digest = hasher.hash(secret)  # one keyed hash, two comparisons, whatever the client
    current = hasher.compare(digest, client.secret_hash if client else None)
    previous_hash = None
    if client and client.previous_secret_hash and (client.previous_secret_expires_at or 0) > now:
        previous_hash = client.previous_secret_hash
    previous = hasher.compare(digest, previous_hash)
    return current or previous


class ClientAuthenticator:
    def __init__(
        self,
        directory: Directory,
        assertions: AssertionVerifier | None = None,
        throttle: Throttle | None = None,
    ):
        self.directory = directory
        self.assertions = assertions or AssertionVerifier(directory)
        self.throttle = throttle
        self._cert_issuers: tuple[x509.Certificate, ...] | None = None

    def check_throttle(
        self, tenant: str, client_id: str, src: str, *, authenticated: bool = False
    ) -> None:
        """Refuse (429) while the source, or the client for a source that did not authenticate
        it recently, is blocked after failures; ``authenticated``: the request proved the
        secret (a remembered request), so the source is one of the client's known good ones."""
        if self.throttle is not None:
            wait = self.throttle.retry_after(src, tenant, client_id)
            if wait is not None:
                log.info(
                    "client authentication throttled",
                    extra={"event": "auth.throttled", "tenant": tenant, "key": src},
                )
                raise TooManyRequests(wait)
            if authenticated:
                self.throttle.succeeded(src, tenant, client_id)

    async def authenticate(
        self, realm: Realm, creds: Credentials, now: int, source: str | None = None
    ) -> ClientRecord:
        basic = creds.method == "client_secret_basic"
        src = source_key(source)
        self.check_throttle(realm.shortcode, creds.client_id, src)
        client: ClientRecord | None = None
        read = True  # an over-long id: no client can have it
        if len(creds.client_id) <= MAX_CREDENTIAL_CHARS:
            client, read = await self.directory.client_lookup(realm.shortcode, creds.client_id)
        reason = await self._check(realm, client, creds, now)
        if reason is not None:
            client, reason = await self._recheck(realm, client, creds, now, read, reason)
        if reason is not None:
            log.info(
                "client authentication failed",
                extra={
                    "event": "auth.failed",
                    "tenant": realm.shortcode,
                    "reason": reason,
                    "method": creds.method,
                },
            )
            if self.throttle is not None:
                await self.throttle.failed(src, realm.shortcode, creds.client_id)
            raise InvalidClient.for_scheme(realm.shortcode, basic=basic)
        assert client is not None
        if self.throttle is not None:
            self.throttle.succeeded(src, realm.shortcode, creds.client_id)
        return client

    async def _recheck(
        self,
        realm: Realm,
        client: ClientRecord | None,
        creds: Credentials,
        now: int,
        read: bool,
        reason: str,
    ) -> tuple[ClientRecord | None, str | None]:
        """Every failure does the same work whether the id is known or not: one read from the
        store and a second check. A fresh unknown id is never in memory: its lookup read the
        store (and found nothing). A client (or an unknown id) that came from memory is
        checked against the store (:meth:`Directory.recheck_client`: a read of the same kind
        that decodes no record), which also lets a client just created or given a new secret
        on another node in at once. A secret is checked again in any case, an assertion only
        against a record that changed (verifying one costs more than a read)."""
        fresh = client
        if not read:
            fresh = await self.directory.recheck_client(realm.shortcode, creds.client_id, client)
        if creds.method == "client_assertion" and fresh == client:
            return fresh, reason
        return fresh, await self._check(realm, fresh, creds, now)

    async def _check(
        self, realm: Realm, client: ClientRecord | None, creds: Credentials, now: int
    ) -> str | None:
        """None when authenticated, else the reason (for logs only)."""
        if creds.method == "tls_client_auth":
            return self._check_cert(client, creds)
        if creds.method == "client_assertion":
            if client is None or not client.enabled:
                return "unknown client" if client is None else "disabled"
            if client.auth_method == "client_secret" or client.auth_method in TLS_METHODS:
                return "wrong method"
            try:
                await self.assertions.verify(realm, client, creds.client_secret, now)
            except AssertionInvalid as exc:
                return f"assertion: {exc}"
            return None
        ok = secret_matches(
            self.directory.vault.hasher, client, creds.client_secret[:MAX_CREDENTIAL_CHARS], now
        )
        if client is None:
            return "unknown client"
        if not client.enabled:
            return "disabled"
        if client.auth_method != "client_secret":
            return "wrong method"
        return None if ok else "bad secret"

    def cert_issuers(self) -> tuple[x509.Certificate, ...]:
        """The CAs of ``tls_client_ca`` (read once), none when it is not set."""
        if self._cert_issuers is None:
            path = self.directory.settings.tls_client_ca
            self._cert_issuers = load_issuers(path.read_bytes()) if path is not None else ()
        return self._cert_issuers

    def _check_cert(self, client: ClientRecord | None, creds: Credentials) -> str | None:
        """RFC 8705 §2: the certificate is parsed and matched whatever the client (against
        nothing when there is none), so an unknown id costs what a known one costs. With
        ``tls_client_ca``, a ``tls_client_auth`` certificate must be issued by one of its CAs
        whichever way it came (a proxy may pass certificates it did not check, e.g. nginx's
        ``optional_no_ca`` for self-signed ones)."""
        cert = load_cert(creds.cert or b"")
        if cert is None:
            return "malformed certificate"
        issuers = self.cert_issuers()
        trusted = not issuers or issued_by(cert, issuers, datetime.now(UTC))
        method = client.auth_method if client is not None else "tls_client_auth"
        if method == "self_signed_tls_client_auth" and client is not None:
            # The registered certificates are in the client's inline JWKS (the admin services
            # accept no jwks_uri for this method).
            matched = cert_matches_jwks(creds.cert or b"", cert, client.jwks)
        else:
            dn = client.tls_subject_dn if client is not None else None
            san = client.tls_san if client is not None else None
            matched = subject_matches(cert, dn, san) and trusted
        if client is None:
            return "unknown client"
        if not client.enabled:
            return "disabled"
        if client.auth_method not in TLS_METHODS:
            return "wrong method"
        return None if matched else "certificate does not match"
