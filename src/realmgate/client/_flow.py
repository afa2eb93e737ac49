"""Sans-I/O token acquisition shared by the sync and the async providers.

A *flow* is a generator that yields :class:`Send` and :class:`Sleep` actions and receives
the outcome of each ``Send`` (an :class:`httpx.Response` or an :class:`httpx.RequestError`).
It returns the parsed result. The flows contain the whole protocol: request building,
discovery, response parsing, error classification and the retry/back-off schedule; the
providers only perform the I/O (:func:`run_sync` and :func:`run_async`).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from urllib.parse import quote_plus, urlsplit

import httpx

from . import _resend as resend
from ._config import TLS_AUTH_METHODS, ClientConfig
from ._dpop import DpopSession
from ._errors import TokenEndpointUnavailableError, TokenRequestError, TokenResponseError
from ._retry import RetryPolicy, is_retryable_status, parse_retry_after
from ._secret import scrub
from ._token import EXPIRY_ROUNDING, AccessToken

logger = logging.getLogger("realmgate.client")

T = TypeVar("T")

DEFAULT_LIFETIME = 300.0
"""Lifetime assumed when a token response has no ``expires_in`` (RFC 6749 makes it optional)."""
_MAX_DESCRIPTION = 300


@dataclass(frozen=True, slots=True)
class Send:
    """Perform this HTTP request (never following redirects, without client-level auth)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    form: Mapping[str, str] | None = field(default=None, repr=False)
    fresh_headers: Callable[[], Mapping[str, str]] | None = field(default=None, repr=False)
    """Headers made anew for every attempt (a DPoP proof is single-use)."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Sleep this many seconds, then resume the flow with ``None``."""

    seconds: float


Action = Send | Sleep
Outcome = httpx.Response | httpx.RequestError | None
Flow = Generator[Action, Outcome, T]


@dataclass(frozen=True, slots=True)
class _Transient:
    reason: str
    status_code: int | None
    retry_after: float | None


class TokenFetcher:
    """Builds token requests and interprets their responses; performs no I/O.

    Not thread-safe: the providers run at most one flow at a time.
    """

    def __init__(
        self,
        config: ClientConfig,
        retry: RetryPolicy,
        clock: Callable[[], float],
        dpop: DpopSession | None = None,
    ):
        self._config = config
        self._dpop = dpop
        self._retry = retry
        self._clock = clock
        self._endpoint: str | None = config.token_endpoint or (
            None if config.discovery else config.default_token_endpoint
        )

    @property
    def token_endpoint(self) -> str | None:
        """The token endpoint, or ``None`` until discovery has found it."""
        return self._endpoint

    def fetch(self, *, retries: bool = True) -> Flow[AccessToken]:
        """Obtain a new token; with ``retries=False`` make a single request per step."""
        attempts = self._retry.max_attempts if retries else 1
        endpoint = self._endpoint
        if endpoint is None:
            send = Send("GET", self._config.discovery_url, {"Accept": "application/json"})
            endpoint = yield from self._exchange(send, self._parse_discovery, attempts)
            self._endpoint = endpoint
            logger.debug("discovered token endpoint %s", endpoint)
        token = yield from self._exchange(
            self._token_request(endpoint), self._parse_token, attempts, dpop=True
        )
        logger.debug(
            "obtained access token for client %s of tenant %s (expires in %.0fs)",
            self._config.client_id,
            self._config.tenant,
            token.lifetime,
        )
        return token

    # ------------------------------------------------------------------ requests

    def _token_request(self, endpoint: str) -> Send:
        config = self._config
        headers = {"Accept": "application/json"}
        form = {"grant_type": "client_credentials"}
        if config.auth_method in TLS_AUTH_METHODS:
            form["client_id"] = config.client_id  # RFC 8705 §2: the certificate authenticates
        elif config.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: form-urlencode both parts before Base64.
            pair = f"{quote_plus(config.client_id)}:{quote_plus(config.client_secret.reveal())}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        else:
            form["client_id"] = config.client_id
            form["client_secret"] = config.client_secret.reveal()
        if config.scope:
            form["scope"] = config.scope
        fresh = None
        dpop = self._dpop
        if dpop is not None:

            def fresh() -> Mapping[str, str]:
                return {"DPoP": dpop.proof("POST", endpoint)}

        return Send("POST", endpoint, headers, form, fresh)

    # ------------------------------------------------------------------ retry loop

    def _exchange(
        self,
        send: Send,
        parse: Callable[[httpx.Response, float], T],
        attempts: int,
        *,
        dpop: bool = False,
    ) -> Flow[T]:
        last: _Transient | None = None
        nonce_retry = dpop and self._dpop is not None
        attempt = -1
        while attempt + 1 < attempts:
            attempt += 1
            if last is not None:
                delay = self._retry.delay(attempt - 1, last.retry_after)
                logger.info(
                    "%s %s failed (%s); retry %d of %d in %.2fs",
                    send.method,
                    send.url,
                    last.reason,
                    attempt,
                    attempts - 1,
                    delay,
                )
                yield Sleep(delay)
            started = self._clock()
            outcome = yield send
            if isinstance(outcome, httpx.RequestError):
                detail = scrub(str(outcome), self._config.client_secret)[:_MAX_DESCRIPTION]
                last = _Transient(f"{type(outcome).__name__}: {detail}", None, None)
                continue
            if not isinstance(outcome, httpx.Response):
                raise TypeError("a Send action must be answered with a response or an error")
            if dpop and self._dpop is not None:
                self._dpop.remember(send.url, outcome.headers)
                if nonce_retry and self._asks_for_nonce(outcome):
                    # RFC 9449 §8: the server wants its nonce in the proof; one more request
                    # with it (no back-off, and it costs no retry of the RetryPolicy).
                    nonce_retry = False
                    attempt -= 1
                    last = None
                    logger.debug("%s %s: sending again with the DPoP nonce", send.method, send.url)
                    continue
            if is_retryable_status(outcome.status_code):
                retry_after = parse_retry_after(outcome)
                last = _Transient(f"HTTP {outcome.status_code}", outcome.status_code, retry_after)
                continue
            return parse(outcome, started)
        assert last is not None
        raise TokenEndpointUnavailableError(
            f"{send.method} {send.url}: {last.reason}",
            status_code=last.status_code,
            retry_after=last.retry_after,
            attempts=attempts,
        ) from None  # the transport error's frames hold the request body: do not chain it

    # ------------------------------------------------------------------ parsing

    def _json_object(self, response: httpx.Response) -> dict[str, Any] | None:
        try:
            body = response.json()
        except ValueError:
            return None
        return cast(dict[str, Any], body) if isinstance(body, dict) else None

    def _asks_for_nonce(self, response: httpx.Response) -> bool:
        if response.status_code != 400 or "dpop-nonce" not in response.headers:
            return False
        body = self._json_object(response)
        return body is not None and body.get("error") == "use_dpop_nonce"

    def _refusal(self, response: httpx.Response, what: str) -> Exception:
        status = response.status_code
        if not 400 <= status <= 499:
            return TokenResponseError(
                f"unexpected HTTP {status} from the {what}", status_code=status
            )
        body = self._json_object(response) or {}
        error = body.get("error")
        description = body.get("error_description")
        if isinstance(description, str):
            description = scrub(description, self._config.client_secret)[:_MAX_DESCRIPTION]
        else:
            description = None
        return TokenRequestError(
            error=scrub(error, self._config.client_secret)[:100]
            if isinstance(error, str)
            else "http_error",
            error_description=description,
            status_code=status,
        )

    def _parse_token(self, response: httpx.Response, started: float) -> AccessToken:
        what = "token endpoint"
        if not response.is_success:
            raise self._refusal(response, what)
        body = self._json_object(response)
        if body is None:
            raise TokenResponseError(
                f"the {what} did not return a JSON object", status_code=response.status_code
            )
        value = body.get("access_token")
        token_type = body.get("token_type")
        expires_in = body.get("expires_in", DEFAULT_LIFETIME)
        scope = body.get("scope")
        if not isinstance(value, str) or not value:
            raise TokenResponseError(f"the {what} response has no access_token")
        kind = token_type.lower() if isinstance(token_type, str) else None
        if kind == "dpop" and self._dpop is not None:
            token_type = "DPoP"
        elif kind == "bearer":
            # RFC 9449 §5: a server may ignore the proof and issue a bearer token.
            token_type = "Bearer"
        else:
            raise TokenResponseError(f"the {what} returned an unsupported token_type")
        if isinstance(expires_in, str):
            try:
                expires_in = float(expires_in)
            except ValueError:
                expires_in = None
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int | float)
            or not expires_in > 0
        ):
            raise TokenResponseError(f"the {what} returned an invalid expires_in")
        return AccessToken(
            value=value,
            token_type=token_type,
            lifetime=float(expires_in),
            obtained_at=started - EXPIRY_ROUNDING,  # exp is whole seconds: see EXPIRY_ROUNDING
            scope=scope if isinstance(scope, str) else None,
        )

    def _parse_discovery(self, response: httpx.Response, started: float) -> str:
        what = "discovery endpoint"
        if not response.is_success:
            raise self._refusal(response, what)
        body = self._json_object(response)
        endpoint = body.get("token_endpoint") if body is not None else None
        if not isinstance(endpoint, str):
            raise TokenResponseError("the discovery document has no token_endpoint")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TokenResponseError("the discovered token_endpoint is not an absolute URL")
        if parts.scheme == "http" and self._config.sso_base_url.startswith("https:"):
            raise TokenResponseError("the discovered token_endpoint downgrades https to http")
        return endpoint


def _drive_result(stop: StopIteration) -> Any:
    return stop.value


def run_sync(flow: Flow[T], client: httpx.Client, sleep: Callable[[float], object]) -> T:
    """Drive ``flow`` with a blocking :class:`httpx.Client`.

    A request that met a reused connection the server had just closed is sent once more
    before the flow sees an outcome (:mod:`._resend`: both discovery and token requests are
    safe to resend); it costs no retry of the flow's :class:`RetryPolicy`.
    """
    outcome: Outcome = None
    try:
        while True:
            action = flow.send(outcome)
            if isinstance(action, Sleep):
                sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = resend.request(
                    client,
                    action.method,
                    action.url,
                    resend=True,  # discovery GET and token POST: see _resend
                    headers=dict(action.headers),
                    fresh_headers=action.fresh_headers,
                    data=dict(action.form) if action.form is not None else None,
                    auth=None,
                    follow_redirects=False,
                )
            except httpx.RequestError as exc:
                outcome = exc
    except StopIteration as stop:
        return cast(T, _drive_result(stop))
    finally:
        flow.close()


async def run_async(
    flow: Flow[T], client: httpx.AsyncClient, sleep: Callable[[float], Awaitable[object]]
) -> T:
    """Drive ``flow`` with an :class:`httpx.AsyncClient`."""
    outcome: Outcome = None
    try:
        while True:
            action = flow.send(outcome)
            if isinstance(action, Sleep):
                await sleep(action.seconds)
                outcome = None
                continue
            try:
                outcome = await resend.arequest(
                    client,
                    action.method,
                    action.url,
                    resend=True,
                    headers=dict(action.headers),
                    fresh_headers=action.fresh_headers,
                    data=dict(action.form) if action.form is not None else None,
                    auth=None,
                    follow_redirects=False,
                )
            except httpx.RequestError as exc:
                outcome = exc
    except StopIteration as stop:
        return cast(T, _drive_result(stop))
    finally:
        flow.close()
