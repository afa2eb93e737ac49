"""Pure ASGI middleware that requires a valid access token (no Starlette needed).

.. code-block:: python

    verifier = AsyncVerifier.from_realm("https://sso.example.com", "acme", audience="api")
    app = BearerAuthMiddleware(
        app, verifier, path_prefixes=["/v2"], public_url="https://api.example.com"
    )

Bearer tokens (RFC 6750) are accepted as before. Sender-constrained tokens are checked against
the request: DPoP-bound ones (``cnf.jkt``) need ``Authorization: DPoP`` and a valid ``DPoP``
proof (RFC 9449 §7), which needs ``public_url``, the external base URL the proofs' ``htu``
is compared with (never taken from ``Host``); certificate-bound ones (``cnf["x5t#S256"]``)
need the certificate, from the TLS connection or a trusted proxy's header (``trusted_certs``,
RFC 8705 §3).

The verified :class:`~realmgate.verifier.AccessTokenClaims` are put into
``scope["state"]["token_claims"]`` (``request.state.token_claims`` in Starlette and FastAPI)
and ``scope["realmgate.claims"]``. Refusals: 401 (missing or invalid token or DPoP proof) or
403 (missing role or scope), with a JSON body and a ``WWW-Authenticate`` challenge (RFC 6750
``Bearer``; RFC 9449 ``DPoP`` with ``algs``, and ``DPoP-Nonce`` for ``use_dpop_nonce``).
Only ``http`` scopes are checked: ``websocket`` and ``lifespan`` scopes pass through untouched. CORS
preflight requests carry no token, so put a CORS middleware outside this one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from realmgate.jose.dpop import DPOP_ALGS
from realmgate.verifier._binding import (
    MISSING_CREDENTIALS_DESCRIPTION,
    Credentials,
    ProtectedRequest,
    SenderConstraint,
    header_values,
    parse_authorization,
    public_request_url,
)
from realmgate.verifier._certs import TrustedProxyCerts, cert_from_scope
from realmgate.verifier._claims import AccessTokenClaims
from realmgate.verifier._dpop import DpopNonces, ReplayCache
from realmgate.verifier._errors import InvalidTokenError, TokenError, UseDpopNonceError
from realmgate.verifier._http import error_body
from realmgate.verifier._verifier import AsyncVerifier, Verifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "token_claims"
SCOPE_KEY = "realmgate.claims"


class BearerAuthMiddleware:
    """Verify the access token of every ``http`` request (or those under ``path_prefixes``,
    matched on whole path segments: ``/v2`` covers ``/v2`` and ``/v2/x``, not ``/v2x``).

    ``roles`` and ``scopes`` are required in addition to the verifier's own; ``realm`` is
    the optional ``realm`` of the challenges. A sync :class:`Verifier` runs in a worker
    thread; an :class:`AsyncVerifier` runs on the event loop.

    DPoP (``Authorization: DPoP``) is accepted when ``public_url`` is given: the base URL
    (scheme, host, port and any path prefix a proxy strips) under which clients call this
    application; a proof's ``htu`` must be it followed by the request's path. Without it,
    DPoP-bound tokens are refused. ``replay_cache`` remembers proofs' ``jti`` (default: in this
    process only; give every process behind the same URL one shared cache); ``dpop_nonces``
    makes proofs carry a server nonce (RFC 9449 §9); ``dpop_max_age`` is how long after its
    ``iat`` a proof is accepted; ``dpop_algs`` the proof algorithms accepted.
    ``trusted_certs`` reads client certificates from a trusted proxy's header (the TLS
    connection's own certificate is always used when there is one).
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier | AsyncVerifier,
        *,
        path_prefixes: Iterable[str] | None = None,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        realm: str | None = None,
        public_url: str | None = None,
        dpop_nonces: DpopNonces | None = None,
        replay_cache: ReplayCache | None = None,
        trusted_certs: TrustedProxyCerts | None = None,
        dpop_max_age: int = 60,
        dpop_algs: Sequence[str] = DPOP_ALGS,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.path_prefixes = (
            None if path_prefixes is None else tuple(p.rstrip("/") for p in path_prefixes)
        )
        self.roles = frozenset(roles)
        self.scopes = frozenset(scopes)
        self.realm = realm
        self.public_url = check_public_url(public_url)
        self.trusted_certs = trusted_certs
        self.binding = SenderConstraint(
            dpop=public_url is not None,
            replay_cache=replay_cache,
            nonces=dpop_nonces,
            max_age=dpop_max_age,
            algs=dpop_algs,
        )

    def _protects(self, path: str) -> bool:
        if self.path_prefixes is None:
            return True
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.path_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        try:
            credentials = parse_authorization(_authorization(scope), dpop=self.binding.dpop)
            if credentials is None:
                await _refuse(send, None, self.binding, self.realm)
                return
            claims = await self._verify(credentials, self._request(scope))
        except TokenError as error:
            await _refuse(send, error, self.binding, self.realm)
            return
        state = dict(scope.get("state") or {})
        state[STATE_KEY] = claims
        nonce = (
            self.binding.response_nonce(self.verifier.clock())
            if credentials.scheme == "DPoP"
            else None
        )
        await self.app(
            {**scope, "state": state, SCOPE_KEY: claims}, receive, _with_nonce(send, nonce)
        )

    def _request(self, scope: Scope) -> ProtectedRequest:
        return protected_request(scope, self.public_url, self.trusted_certs)

    async def _verify(
        self, credentials: Credentials, request: ProtectedRequest
    ) -> AccessTokenClaims:
        return await verify_protected(
            self.verifier, credentials, request, self.binding, self.roles, self.scopes
        )


def check_public_url(public_url: str | None) -> str | None:
    """``public_url`` without a trailing slash; ValueError unless an absolute http(s) URL
    without query or fragment."""
    if public_url is None:
        return None
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"public_url must be an absolute http(s) URL, not {public_url!r}")
    return public_url.rstrip("/")


def _authorization(scope: Scope) -> str | None:
    values = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidTokenError("The request has several Authorization headers")
    return bytes(values[0]).decode("latin-1")


def _with_nonce(send: Send, nonce: str | None) -> Send:
    """``send`` adding ``DPoP-Nonce: nonce`` to the response start (RFC 9449 §8.2)."""
    if nonce is None:
        return send
    value = nonce.encode("ascii")

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [*message.get("headers", ()), (b"dpop-nonce", value)]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def refusal_body(error: TokenError | None, binding: SenderConstraint) -> dict[str, str]:
    """The JSON body of a refusal (only a description when credentials are missing)."""
    if error is None and binding.dpop:
        return {"error_description": MISSING_CREDENTIALS_DESCRIPTION}
    return error_body(error)


async def _refuse(
    send: Send, error: TokenError | None, binding: SenderConstraint, realm: str | None
) -> None:
    body = json.dumps(refusal_body(error, binding)).encode()
    status = 401 if error is None else error.status_code
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"www-authenticate", binding.challenge(error, realm).encode("latin-1")),
    ]
    if isinstance(error, UseDpopNonceError):
        headers.append((b"dpop-nonce", error.nonce.encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def protected_request(
    scope: Scope | MutableMapping[str, Any],
    public_url: str | None,
    trusted_certs: TrustedProxyCerts | None,
) -> ProtectedRequest:
    """What the binding check needs of a request: its method, its URL under ``public_url``
    (never from ``Host``), its ``DPoP`` headers and its client certificate (the connection's,
    or a trusted proxy's header)."""
    url = ""
    if public_url is not None:
        url = public_request_url(public_url, scope.get("raw_path") or scope["path"])
    cert = trusted_certs.cert(scope) if trusted_certs is not None else cert_from_scope(scope)
    return ProtectedRequest(
        method=str(scope.get("method", "GET")),
        url=url,
        proofs=tuple(header_values(scope.get("headers", ()), b"dpop")),
        cert=cert,
    )


async def verify_protected(
    verifier: Verifier | AsyncVerifier,
    credentials: Credentials,
    request: ProtectedRequest,
    binding: SenderConstraint,
    roles: Iterable[str],
    scopes: Iterable[str],
) -> AccessTokenClaims:
    """``verify_request`` of either verifier (a sync one in a worker thread)."""
    if isinstance(verifier, AsyncVerifier):
        return await verifier.verify_request(
            credentials, request, binding, roles=roles, scopes=scopes
        )
    import anyio.to_thread

    return await anyio.to_thread.run_sync(
        lambda: verifier.verify_request(credentials, request, binding, roles=roles, scopes=scopes)
    )
