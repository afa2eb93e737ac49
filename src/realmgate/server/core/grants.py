"""The client credentials grant (RFC 6749 §4.4), as one short pipeline of named steps:

realm → grant type → client authentication → scope → audience → issue.

Machine clients send the same request body every time (their id, their secret, the same scope),
so :meth:`ClientCredentialsGrant.handle_body` remembers the requests that passed every check
(:class:`~realmgate.server.core.grant_memo.GrantMemo`): a repeated request for the same realm
and client snapshots skips parsing, the secret check and the scope and audience policy, and
goes straight to the throttle, the rate limit and the signature.

Requests with a DPoP proof (RFC 9449) or a client certificate (RFC 8705) are never remembered
(a proof is good for one request) and get a sender-constrained token (:mod:`.binding`); the
proof is checked before client authentication, its ``jti`` recorded after it.

The raw-body path (:meth:`ClientCredentialsGrant.handle_body`, the token endpoint's) signs its
token with the other signatures of the event loop's turn (:mod:`.signing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from realmgate.jose.dpop import DpopProof
from realmgate.server.core.binding import UNBOUND, Binding, decide
from realmgate.server.core.client_auth import ClientAuthenticator, extract_credentials
from realmgate.server.core.dpop import TOKEN_PATH, ServerDpop
from realmgate.server.core.grant_memo import GrantMemo, grace_end
from realmgate.server.core.policy import audience, granted_scope
from realmgate.server.core.realms import Directory, Realm
from realmgate.server.core.signing import SigningBatch
from realmgate.server.core.throttle import RateLimiter, source_key
from realmgate.server.core.tokens import Grant
from realmgate.server.storage.records import ClientRecord
from realmgate.wire.errors import (
    InvalidRequest,
    RealmDisabled,
    RealmNotFound,
    TooManyRequests,
    UnsupportedGrantType,
)
from realmgate.wire.forms import Form, parse_form

GRANT_TYPE = "client_credentials"
# Audit lines of issued tokens (raise this logger's level to silence them).
token_log = logging.getLogger("realmgate.audit.tokens")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    tenant: str
    form: Form
    authorization: str | None
    source: str | None = None  # the peer address, for throttling
    dpop: str | None = None  # the DPoP header (RFC 9449)
    cert: bytes | None = field(default=None, repr=False)  # the client certificate (DER)


@dataclass(frozen=True, slots=True)
class RawTokenRequest:
    """A token request as received: the form body not parsed yet."""

    tenant: str
    body: bytes
    authorization: str | None
    source: str | None = None
    dpop: str | None = None
    cert: bytes | None = None

    def __repr__(self) -> str:  # the body holds the client's secret
        return f"RawTokenRequest(tenant={self.tenant!r}, body=<{len(self.body)} bytes>)"


MAX_GRANTS = 4096
MAX_KEYED_CHARS = 512  # scope and resources kept as a key up to this length


class ClientCredentialsGrant:
    def __init__(
        self,
        directory: Directory,
        clock: Callable[[], float] = time.time,
        authenticator: ClientAuthenticator | None = None,
        dpop: ServerDpop | None = None,
    ):
        self.directory = directory
        self._dpop = dpop
        self.clock = clock
        self.authenticator = authenticator or ClientAuthenticator(directory)
        settings = directory.settings
        self.rate_limiter = RateLimiter(settings.token_rate_limit, settings.token_rate_burst)
        self.memo = GrantMemo(settings.token_request_cache_size)
        # Grants rendered once per realm snapshot, client snapshot, requested scope and
        # resources, for the requests that are checked in full (the memo off, or a request
        # seen for the first time): what a grant holds derives from those four only.
        self._grants: dict[tuple[str, str, str | None, tuple[str, ...]], Grant] = {}
        # The signatures of a turn of the event loop, made together (see core/signing.py).
        self.signing = SigningBatch()

    @property
    def dpop(self) -> ServerDpop:
        """The DPoP checks (built on first use when none was given)."""
        if self._dpop is None:
            self._dpop = ServerDpop.for_directory(self.directory)
        return self._dpop

    async def handle(self, request: TokenRequest) -> dict[str, Any]:
        """The token response (RFC 6749 §5.1) as a dict."""
        realm = await self._realm(request.tenant)
        now = int(self.clock())
        grant, binding = await self._authorize(
            realm,
            request.form,
            request.authorization,
            request.source,
            now,
            request.dpop,
            request.cert,
        )
        self._admit(grant)
        self._audit(grant)
        return grant.response(now, binding)

    async def handle_body(self, request: RawTokenRequest) -> bytes:
        """The token response as JSON, for a raw form body (remembered when it passes)."""
        realm = await self._realm(request.tenant)
        now = int(self.clock())
        if request.dpop is not None or request.cert is not None:
            return await self._handle_bound(realm, request, now)
        key = self.memo.key(request.tenant, request.authorization, request.body)
        grant = self.memo.get(key, realm, now)
        if grant is not None:
            current = await self.directory.client(realm.shortcode, grant.client.client_id)
            if current is not grant.client:
                grant = None
        if grant is None:
            form = parse_form(request.body)
            grant, binding = await self._authorize(
                realm, form, request.authorization, request.source, now
            )
            if binding.bound:  # defensive: no proof and no certificate binds nothing
                self._admit(grant)
                self._audit(grant)
                return await self.signing.response_json(grant, now, binding)
            if "client_assertion" not in form:  # an assertion is good for one request only
                self.memo.put(key, grant, grace_end(grant.client, now))
        else:
            self._check_throttle(grant, request.source)
        self._admit(grant)
        self._audit(grant)
        return await self.signing.response_json(grant, now)

    async def _handle_bound(self, realm: Realm, request: RawTokenRequest, now: int) -> bytes:
        """A request with a DPoP proof or a client certificate: checked in full, not
        remembered."""
        form = parse_form(request.body)
        grant, binding = await self._authorize(
            realm, form, request.authorization, request.source, now, request.dpop, request.cert
        )
        self._admit(grant)
        self._audit(grant)
        return await self.signing.response_json(grant, now, binding)

    def _check_proof(self, realm: Realm, proof: str, cert: bytes | None) -> DpopProof:
        """The stateless checks of the token request's proof (``htu``: the token endpoint
        under ``issuer_base_url``, or ``mtls_base_url`` when a certificate came with it)."""
        settings = self.directory.settings
        path = TOKEN_PATH.format(tenant=realm.shortcode)
        urls = [settings.sso_base + path]
        if cert is not None and settings.mtls_base_url:
            urls.append(settings.mtls_base_url.rstrip("/") + path)
        return self.dpop.check(proof, method="POST", urls=urls)

    async def _realm(self, tenant: str) -> Realm:
        realm = await self.directory.realm(tenant)
        if realm is None:
            raise RealmNotFound()
        if not realm.tenant.enabled:  # Keycloak: 403 access_denied "Realm not enabled"
            raise RealmDisabled()
        return realm

    async def _authorize(
        self,
        realm: Realm,
        form: Form,
        authorization: str | None,
        source: str | None,
        now: int,
        dpop: str | None = None,
        cert: bytes | None = None,
    ) -> tuple[Grant, Binding]:
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("Missing parameter: grant_type")
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType()
        proof = self._check_proof(realm, dpop, cert) if dpop is not None else None
        creds = extract_credentials(form, authorization, realm.shortcode, cert=cert)
        client = await self.authenticator.authenticate(realm, creds, now, source)
        binding = UNBOUND
        if (
            proof is not None
            or cert is not None
            or client.dpop_bound
            or client.cert_bound
            or realm.tenant.dpop_required
        ):
            binding = decide(realm.tenant, client, proof, cert)
        if proof is not None:  # recorded once the client is known: one use, on every node
            await self.dpop.use(realm.shortcode, proof)
        return self._grant_for(realm, client, form), binding

    def _grant_for(self, realm: Realm, client: ClientRecord, form: Form) -> Grant:
        """What the authenticated ``client`` gets for ``form``'s ``scope`` and ``resource``
        parameters. The scope and audience policy's answer is a pure function of the realm
        snapshot, the client snapshot and those two parameters: it is worked out, and the
        grant rendered, once per such four (a refusal is worked out every time). Parameters
        longer than ``MAX_KEYED_CHARS`` (repeated scopes or resources) are answered by the
        policy each time and the grant kept under the answer, which the client's lists bound."""
        requested, resources = form.get("scope"), form.get_all("resource")
        key: tuple[str, str, str | None, tuple[str, ...]] | None = None
        if len(requested or "") + sum(len(r) for r in resources) <= MAX_KEYED_CHARS:
            key = (realm.shortcode, client.client_id, requested, tuple(resources))
            grant = self._grants.get(key)
            if grant is not None and grant.realm is realm and grant.client is client:
                return grant
        scope = granted_scope(realm.tenant, client, requested)
        aud = audience(client, self.directory.settings.audience, resources)
        if key is None:
            key = (
                realm.shortcode,
                client.client_id,
                scope,
                (aud,) if isinstance(aud, str) else (*aud,),
            )
        grant = self._grants.get(key)
        if grant is None or grant.realm is not realm or grant.client is not client:
            grant = self._grants[key] = Grant.build(realm, client, scope=scope, audience=aud)
            if len(self._grants) > MAX_GRANTS:
                del self._grants[next(iter(self._grants))]
        return grant

    def _check_throttle(self, grant: Grant, source: str | None) -> None:
        """The throttle of a remembered request (a fresh one checked it while authenticating)."""
        self.authenticator.check_throttle(
            grant.realm.shortcode, grant.client.client_id, source_key(source), authenticated=True
        )

    def _admit(self, grant: Grant) -> None:
        wait = self.rate_limiter.take(grant.rate_key)
        if wait is not None:
            raise TooManyRequests(wait, "Token rate limit exceeded; retry later.")

    def _audit(self, grant: Grant) -> None:
        if token_log.isEnabledFor(logging.INFO):
            token_log.info(
                "token issued",
                extra={
                    "event": "token.issued",
                    "tenant": grant.realm.shortcode,
                    "client_id": grant.client.client_id,
                    "expires_in": grant.expires_in,
                },
            )
