"""Prometheus metrics. Labels are bounded: outcome and error code, never tenant or client.

``/metrics`` is served only when ``metrics_token`` is set, and only to a request that carries
it (``Authorization: Bearer <token>``, compared in constant time): the counters tell how the
server is used, which is nobody's business but the operator's. Each worker process keeps and
answers its own counters (a scrape reaches one worker).
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import math
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from realmgate.server.http.responses import jsend_fail

TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per app, so several apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.tokens = _TokenMetrics()
        self.registry.register(self.tokens)
        self.jwks_served = Counter(
            "realmgate_jwks_served",
            "JWKS documents served (certs endpoint).",
            registry=self.registry,
        )

    def observe(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        """Export a counter that the core keeps as a plain integer (read at scrape time)."""
        self.registry.register(_ReadCounter(name, documentation, read))

    def token(self, grant_type: str | None, outcome: str, seconds: float) -> None:
        self.tokens.record(grant_type, outcome, seconds)


class _TokenMetrics(Collector):
    """The token endpoint's counter and latency histogram, kept as plain numbers.

    The token path runs on the event loop's thread only, so it needs none of the locks
    prometheus-client's ``Counter.inc`` and ``Histogram.observe`` take on every call (a few
    microseconds per token); the families are built when Prometheus scrapes."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets = [0] * (len(TOKEN_BUCKETS) + 1)  # the last one is +Inf
        self.total_seconds = 0.0

    def record(self, grant_type: str | None, outcome: str, seconds: float) -> None:
        key = ("client_credentials" if grant_type == "client_credentials" else "other", outcome)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.buckets[bisect.bisect_left(TOKEN_BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "realmgate_token_requests",
            "Token endpoint requests by outcome (success or the OAuth error code).",
            labels=["grant_type", "outcome"],
        )
        for labels, count in sorted(self.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        cumulative, counts = 0, []
        for bound, count in zip([*TOKEN_BUCKETS, math.inf], self.buckets, strict=True):
            cumulative += count
            counts.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
        yield HistogramMetricFamily(
            "realmgate_token_request_seconds",
            "Token endpoint latency in seconds.",
            buckets=counts,
            sum_value=self.total_seconds,
        )


class _ReadCounter(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], int]):
        self._name, self._doc, self._read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._doc, value=self._read())


METRICS_REALM = "metrics"


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def metrics_routes(token: SecretStr | None) -> list[Route]:
    """The ``/metrics`` route guarded by ``token``; none without a token (404, like any
    unknown path)."""
    if token is None or not token.get_secret_value():
        return []
    expected = _digest(token.get_secret_value())

    async def metrics_endpoint(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return jsend_fail(
                401,
                {"authorization": "A bearer token is required"},
                "Authentication required",
                {"WWW-Authenticate": f'Bearer realm="{METRICS_REALM}"'},
            )
        # Digests of equal length: the comparison tells nothing, not even the token's length.
        if not hmac.compare_digest(_digest(given.strip()), expected):
            return jsend_fail(
                401,
                {"authorization": "The token is not the metrics token"},
                "Invalid token",
                {"WWW-Authenticate": f'Bearer realm="{METRICS_REALM}", error="invalid_token"'},
            )
        metrics: Metrics = request.app.state.metrics
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", metrics_endpoint, methods=["GET"])]
