"""One resend of a request whose reused keep-alive connection the server had just closed.

A server closes a keep-alive connection it holds idle; a client that sends its next request
on that connection at the same moment gets no answer: httpx raises
:class:`httpx.RemoteProtocolError` ("Server disconnected without sending a response") or
:class:`httpx.ReadError` (connection reset). Every HTTP client meets this race, whatever the
two idle timeouts are; RFC 9110 §9.2.2 lets a client retry an idempotent request then.

The SDK sends such a request once more, on a new connection, when all of these hold:

* the request is safe to send twice: a ``GET`` (discovery, tenant settings), or the token
  request. A token ``POST`` with client credentials is idempotent in effect: a repeat issues
  another token to the same client with the same claims; the first one, if it was issued at
  all, was never delivered and expires unused (it counts once more against the client's
  issuance rate limit). The SDK sends no client assertion, whose ``jti`` the server would
  refuse to see twice. A ``PATCH`` of the settings is never resent: the server may have
  applied it before the connection broke, and a repeat could overwrite a change made since;
* the connection was reused: httpx reported no new connection for this request (a new
  connection that breaks is not this race but a server that failed the request);
* no complete response head had arrived (httpx reports an incomplete head as no answer;
  after a complete head the server answered, and the error is the caller's to see);
* the error is one of the three above (read, write, or protocol error on the connection).

What happened on the connection is observed through httpx's documented ``trace`` request
extension. A transport that reports no trace events (e.g. :class:`httpx.MockTransport`)
gets no resend. Retries on server errors are a separate, later layer
(:class:`~realmgate.client.RetryPolicy` for token requests); a resend uses none of them.
httpx closes the broken connection itself before raising; the resend opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

logger = logging.getLogger("realmgate.client")

STALE_CONNECTION_ERRORS: Final = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
_OPENED: Final = (".connect_tcp.started", ".connect_unix_socket.started")
_ANSWERED: Final = ".receive_response_headers.complete"


class ConnectionTrace:
    """What httpx reported about the connection one request used."""

    __slots__ = ("answered", "events", "opened")

    def __init__(self) -> None:
        self.events = 0
        self.opened = False
        self.answered = False

    def record(self, name: str, info: object) -> None:
        """The ``trace`` callback for :class:`httpx.Client`."""
        self.events += 1
        if name.endswith(_OPENED):
            self.opened = True
        elif name.endswith(_ANSWERED):
            self.answered = True

    async def arecord(self, name: str, info: object) -> None:
        """The ``trace`` callback for :class:`httpx.AsyncClient`."""
        self.record(name, info)

    def closed_before_answer(self, error: httpx.RequestError) -> bool:
        """Whether ``error`` is a reused connection closed before any response head."""
        return (
            self.events > 0
            and not self.opened
            and not self.answered
            and isinstance(error, STALE_CONNECTION_ERRORS)
        )


def _resending(method: str, url: str, error: httpx.RequestError) -> None:
    logger.info(
        "%s %s: the server closed the reused connection before answering (%s); "
        "resending once on a new connection",
        method,
        url,
        type(error).__name__,
    )


Fresh = Callable[[], Mapping[str, str]] | None


def _with_fresh(kwargs: dict[str, Any], fresh: Fresh) -> dict[str, Any]:
    """``kwargs`` with the headers made anew for this attempt (a DPoP proof is single-use,
    so a resend carries a new one)."""
    if fresh is None:
        return kwargs
    headers = dict(kwargs.get("headers") or {})
    headers.update(fresh())
    return {**kwargs, "headers": headers}


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    resend: bool,
    fresh_headers: Fresh = None,
    **kwargs: Any,
) -> httpx.Response:
    """``client.request(method, url, **kwargs)``, sent once more if ``resend`` allows it and
    the first attempt met a reused connection closed before the answer."""
    trace = ConnectionTrace()
    try:
        return client.request(
            method, url, extensions={"trace": trace.record}, **_with_fresh(kwargs, fresh_headers)
        )
    except httpx.RequestError as error:
        if not (resend and trace.closed_before_answer(error)):
            raise
        _resending(method, url, error)
    return client.request(method, url, **_with_fresh(kwargs, fresh_headers))


async def arequest(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    resend: bool,
    fresh_headers: Fresh = None,
    **kwargs: Any,
) -> httpx.Response:
    """The :class:`httpx.AsyncClient` counterpart of :func:`request`."""
    trace = ConnectionTrace()
    try:
        return await client.request(
            method, url, extensions={"trace": trace.arecord}, **_with_fresh(kwargs, fresh_headers)
        )
    except httpx.RequestError as error:
        if not (resend and trace.closed_before_answer(error)):
            raise
        _resending(method, url, error)
    return await client.request(method, url, **_with_fresh(kwargs, fresh_headers))
