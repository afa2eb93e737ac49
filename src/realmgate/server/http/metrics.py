"""Prometheus metrics. Labels are bounded: outcome and error code, never tenant or client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response


class Metrics:
    """One registry per app, so several apps in one process (tests) never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.token_requests = Counter(
            "realmgate_token_requests",
            "Token endpoint requests by outcome (success or the OAuth error code).",
            ["grant_type", "outcome"],
            registry=self.registry,
        )
        self.token_latency = Histogram(
            "realmgate_token_request_seconds",
            "Token endpoint latency in seconds.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.jwks_served = Counter(
            "realmgate_jwks_served",
            "JWKS documents served (certs endpoint).",
            registry=self.registry,
        )
        self._token_children: dict[tuple[str, str], Counter] = {}

    def observe(self, name: str, documentation: str, read: Callable[[], int]) -> None:
        """Export a counter that the core keeps as a plain integer (read at scrape time)."""
        self.registry.register(_ReadCounter(name, documentation, read))

    def token(self, grant_type: str | None, outcome: str, seconds: float) -> None:
        known = grant_type if grant_type == "client_credentials" else "other"
        child = self._token_children.get((known, outcome))
        if child is None:  # labels() takes a lock and builds a key: look each pair up once
            child = self._token_children[(known, outcome)] = self.token_requests.labels(
                known, outcome
            )
        child.inc()
        self.token_latency.observe(seconds)


class _ReadCounter(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], int]):
        self._name, self._doc, self._read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._doc, value=self._read())


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
