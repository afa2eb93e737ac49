"""The two hot routes, served on raw ASGI: ``POST /realms/{tenant}/protocol/openid-connect/token``
and ``GET /v2/tenants/current/settings``.

They are what machine clients call all day, so they skip the framework's router, request and
response objects and middleware (about a third of a request's cost on uvicorn; see
docs/benchmarks.md) and speak ASGI directly. They keep every behaviour of the framework path:
the same core calls, errors, headers, ``X-Request-ID``, access log and metrics; an unexpected
exception is logged once and answered 500 in the endpoint's error format. Every other method,
path and the other endpoints go through the Starlette application.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.types import Receive, Scope, Send

from realmgate.server.api.auth import MissingToken
from realmgate.server.api.settings import challenge_response
from realmgate.server.core.grants import GRANT_TYPE, RawTokenRequest
from realmgate.server.core.realms import Realm
from realmgate.server.core.tenant_settings import represent
from realmgate.server.http.client_cert import request_cert
from realmgate.server.http.observability import log_access, request_id, request_id_from
from realmgate.server.http.request_head import RequestHead, head_of, read_body
from realmgate.server.http.responses import NO_STORE, json_bytes
from realmgate.server.http.state import AppState
from realmgate.server.http.whole import send_whole
from realmgate.verifier import TokenError
from realmgate.wire import jsend
from realmgate.wire.errors import OAuthError, ServerError, UnsupportedMediaType
from realmgate.wire.forms import parse_form

log = logging.getLogger("realmgate.http")

TOKEN_PREFIX = "/realms/"
TOKEN_SUFFIX = "/protocol/openid-connect/token"
SETTINGS_PATH = "/v2/tenants/current/settings"
FORM = b"application/x-www-form-urlencoded"
JSON = (b"content-type", b"application/json")
OAUTH_HEADERS = [JSON, *((k.lower().encode(), v.encode()) for k, v in NO_STORE.items())]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
Result = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, body, headers
MAX_RENDERED = 4096


class RenderedPerRealm:
    """A response body rendered once per realm snapshot (a changed tenant is a new snapshot)."""

    def __init__(self, render: Callable[[Realm], bytes]):
        self._render = render
        self._bodies: dict[str, tuple[Realm, bytes]] = {}

    def get(self, realm: Realm) -> bytes:
        hit = self._bodies.get(realm.shortcode)
        if hit is not None and hit[0] is realm:
            return hit[1]
        body = self._render(realm)
        self._bodies.pop(realm.shortcode, None)
        self._bodies[realm.shortcode] = (realm, body)
        if len(self._bodies) > MAX_RENDERED:
            del self._bodies[next(iter(self._bodies))]
        return body


async def respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], rid: str
) -> None:
    request_id = rid.encode()
    if send_whole(send, status, headers, request_id, body):  # one write, on our protocol
        return
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", b"%d" % len(body)),
                (b"x-request-id", request_id),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class HotPaths:
    def __init__(self, state: AppState):
        self.state = state
        self.access_log = state.settings.access_log
        self.limit = state.settings.max_body_bytes
        # Whether requests can carry a client certificate (own TLS listener or a proxy header).
        self.certs = bool(state.settings.tls_client_ca or state.settings.client_cert_header)
        self.nonces = state.settings.dpop_nonce
        self.settings_bodies = RenderedPerRealm(
            lambda realm: json_bytes(jsend.success(represent(realm.tenant)))
        )

    def match(self, scope: Scope) -> Handler | None:
        path: str = scope["path"]
        method = scope["method"]
        if method == "POST" and path.endswith(TOKEN_SUFFIX) and path.startswith(TOKEN_PREFIX):
            if "/" not in path[len(TOKEN_PREFIX) : -len(TOKEN_SUFFIX)]:
                return self.token
        elif method == "GET" and path == SETTINGS_PATH:
            return self.settings
        return None

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        handle: Callable[[Scope, Receive, RequestHead], Awaitable[Result]],
        error_body: Callable[[], tuple[bytes, list[tuple[bytes, bytes]]]],
    ) -> None:
        headers = head_of(scope)
        status, body, extra, rid = await self.answer(
            scope["method"],
            scope["path"],
            headers.request_id,
            handle(scope, receive, headers),
            error_body,
        )
        await respond(send, status, body, extra, rid)

    async def answer(
        self,
        method: str,
        path: str,
        request_id_header: bytes | None,
        handling: Awaitable[Result],
        error_body: Callable[[], tuple[bytes, list[tuple[bytes, bytes]]]],
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], str]:
        """``handling``'s answer and the request's id, under that id: an unexpected exception
        is logged once and answered 500 with ``error_body``; one access log line."""
        rid = request_id_from(request_id_header)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        try:
            status, body, extra = await handling
        except Exception as exc:
            # The framework path logs unexpected errors the same way: one line with the trace.
            log.error(
                "unhandled %s on %s %s", type(exc).__name__, method, path[:512], exc_info=True
            )
            status = 500
            body, extra = error_body()
        finally:
            if self.access_log:
                log_access(method, path, status, started)
            request_id.reset(token)
        return status, body, extra, rid

    async def token(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, self._token, oauth_server_error)

    async def _token(self, scope: Scope, receive: Receive, headers: RequestHead) -> Result:
        started = time.perf_counter()
        tenant = scope["path"][len(TOKEN_PREFIX) : -len(TOKEN_SUFFIX)]
        try:
            if headers.media_type != FORM:
                raise UnsupportedMediaType()
            body = await read_body(receive, headers.content_length, self.limit)
        except OAuthError as exc:
            return self._refused(tenant, b"", exc, started)
        client = scope.get("client")
        return await self.token_for(
            tenant,
            headers,
            body,
            client[0] if client else None,
            request_cert(scope, self.state.settings) if self.certs else None,
            started,
        )

    async def token_for(
        self,
        tenant: str,
        headers: RequestHead,
        body: bytes,
        source: str | None,
        cert: bytes | None,
        started: float,
    ) -> Result:
        """The answer to a token request for ``tenant`` whose form body is ``body``."""
        state = self.state
        try:
            response = await state.grant.handle_body(
                RawTokenRequest(
                    tenant=tenant,
                    body=body,
                    authorization=headers.authorization,
                    source=source,
                    dpop=headers.dpop,
                    cert=cert,
                )
            )
        except OAuthError as exc:
            return self._refused(tenant, body, exc, started)
        state.metrics.token(GRANT_TYPE, "success", time.perf_counter() - started)
        state.traffic.record(tenant, True)
        if self.nonces and headers.dpop is not None:  # RFC 9449 §8.2: the next nonce
            nonce = state.grant.dpop.nonce()
            if nonce is not None:
                return 200, response, [*OAUTH_HEADERS, (b"dpop-nonce", nonce.encode())]
        return 200, response, OAUTH_HEADERS

    def _refused(self, tenant: str, body: bytes, exc: OAuthError, started: float) -> Result:
        self.state.metrics.token(_grant_type(body), exc.error, time.perf_counter() - started)
        if exc.error == "invalid_client":  # the dashboard's failed authentications
            self.state.traffic.record(tenant, False)
        return exc.status_code, json_bytes(exc.body()), _oauth_headers(exc)

    async def settings(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, self._settings, _jsend_server_error)

    async def _settings(self, scope: Scope, receive: Receive, headers: RequestHead) -> Result:
        try:
            caller = await self.state.bearer.authenticate(headers.authorization, scope)
        except (TokenError, MissingToken) as exc:
            response = challenge_response(exc)
            raw = [(k, v) for k, v in response.raw_headers if k != b"content-length"]
            return response.status_code, bytes(response.body), raw
        if self.nonces and headers.dpop is not None:  # RFC 9449 §9: the next nonce
            nonce = self.state.bearer.dpop.nonce()
            if nonce is not None:
                return (
                    200,
                    self.settings_bodies.get(caller.realm),
                    [JSON, (b"dpop-nonce", nonce.encode())],
                )
        return 200, self.settings_bodies.get(caller.realm), [JSON]


def _grant_type(body: bytes) -> str | None:
    """The ``grant_type`` of a refused request, for the metrics (None when unreadable)."""
    try:
        return parse_form(body).get("grant_type")
    except OAuthError:
        return None


def _oauth_headers(exc: OAuthError) -> list[tuple[bytes, bytes]]:
    if not exc.headers:
        return OAUTH_HEADERS
    return [
        *OAUTH_HEADERS,
        *((k.lower().encode(), v.encode("latin-1")) for k, v in exc.headers.items()),
    ]


def oauth_server_error() -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return json_bytes(ServerError().body()), OAUTH_HEADERS


def _jsend_server_error() -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return json_bytes(jsend.error("Internal server error")), [JSON]
