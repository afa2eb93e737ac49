"""/metrics in Prometheus format, parsed: token outcomes, latency, cache and throttle counters,
and no per-client or per-tenant labels. Served only to the bearer of ``metrics_token`` (the
test servers have one, ``tests.servers.METRICS_TOKEN``), not at all without one; its cache
counters move alike for a known client id with a wrong secret and an unknown id."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import poll
from tests.servers import METRICS_TOKEN, Server


def scrape(server: Server) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = server.metrics()
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


def test_metrics_count_what_happened(server: Server) -> None:
    tenant = f"m{uuid.uuid4().hex[:10]}"
    creds = server.create_tenant(tenant)
    before = scrape(server)
    url = server.token_url(tenant)
    form = {"grant_type": "client_credentials", "client_id": creds.client_id}
    for _ in range(3):
        assert (
            httpx.post(url, data={**form, "client_secret": creds.client_secret}).status_code == 200
        )
    assert httpx.post(url, data={**form, "client_secret": "wrong"}).status_code == 401
    after = scrape(server)
    ok = {"grant_type": "client_credentials", "outcome": "success"}
    bad = {"grant_type": "client_credentials", "outcome": "invalid_client"}
    assert (
        value(after, "realmgate_token_requests_total", **ok)
        - value(before, "realmgate_token_requests_total", **ok)
        == 3
    )
    assert (
        value(after, "realmgate_token_requests_total", **bad)
        - value(before, "realmgate_token_requests_total", **bad)
        == 1
    )
    assert (
        value(after, "realmgate_token_request_seconds_count")
        - value(before, "realmgate_token_request_seconds_count")
        == 4
    )
    assert value(after, "realmgate_cache_hits_total") > value(before, "realmgate_cache_hits_total")
    assert "realmgate_throttle_refused_total" in after
    assert "realmgate_client_jwks_fetches_total" in after
    httpx.get(f"{server.base_url}/realms/{tenant}/protocol/openid-connect/certs")
    assert (
        value(scrape(server), "realmgate_jwks_served_total")
        == value(after, "realmgate_jwks_served_total") + 1
    )
    assert "realmgate_cache_loads_total" in after


def test_labels_are_bounded(server: Server) -> None:
    samples = scrape(server)
    for name, entries in samples.items():
        if not name.startswith("realmgate_"):
            continue
        for labels, _ in entries:
            assert set(labels) <= {"grant_type", "outcome", "le"}, (name, labels)
    outcomes = {lab.get("grant_type") for lab, _ in samples["realmgate_token_requests_total"]}
    assert outcomes <= {"client_credentials", "other"}


def test_metrics_need_the_token(server: Server) -> None:
    url = f"{server.base_url}/metrics"
    token = server.env["REALMGATE_METRICS_TOKEN"]
    refused = [
        httpx.get(url),
        httpx.get(url, headers={"Authorization": "Bearer"}),
        httpx.get(url, headers={"Authorization": f"Bearer {token}x"}),
        httpx.get(url, headers={"Authorization": f"Bearer {token[:-1]}"}),
        httpx.get(url, headers={"Authorization": f"Basic {token}"}),
        httpx.get(url, params={"access_token": token}),
        server.metrics("wrong-token"),
    ]
    for r in refused:
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"].startswith('Bearer realm="metrics"')
        assert r.json()["status"] == "fail"
        assert "realmgate_" not in r.text
    assert 'error="invalid_token"' in refused[2].headers["www-authenticate"]
    ok = httpx.get(url, headers={"Authorization": f"bearer {token}"})  # the scheme is any case
    assert ok.status_code == 200
    assert "realmgate_token_requests" in ok.text


def test_no_metrics_without_a_token(fresh_server: Server) -> None:
    fresh_server.env.pop("REALMGATE_METRICS_TOKEN")
    fresh_server.start()
    unknown = httpx.get(f"{fresh_server.base_url}/no-such-path")
    answers = [
        httpx.get(f"{fresh_server.base_url}/metrics"),
        fresh_server.metrics("anything"),
        fresh_server.metrics(METRICS_TOKEN),
    ]
    for r in answers:
        assert r.status_code == 404
        assert r.content == unknown.content
        assert r.headers["content-type"] == unknown.headers["content-type"]


def test_cache_counters_do_not_tell_known_from_unknown_client_ids(server: Server) -> None:
    """A known client id with a wrong secret (its client in the cache) and a fresh unknown id
    move the cache counters alike: each failure is one read (a stamp or a miss), never a hit."""
    tenant = f"m{uuid.uuid4().hex[:10]}"
    creds = server.create_tenant(tenant)
    url = server.token_url(tenant)

    def fail(client_id: str) -> None:
        form = {"grant_type": "client_credentials", "client_id": client_id}
        assert httpx.post(url, data={**form, "client_secret": "wrong"}).status_code == 401

    def moved(client_id: str) -> tuple[float, float]:
        before = scrape(server)
        fail(client_id)
        after = scrape(server)
        hits, loads = "realmgate_cache_hits_total", "realmgate_cache_loads_total"
        return (
            value(after, hits) - value(before, hits),
            value(after, loads) - value(before, loads),
        )

    repeated = f"u{uuid.uuid4().hex}"

    def measure() -> tuple[tuple[float, float], ...]:
        fail(creds.client_id)  # the realm and the client are cached now
        fail(repeated)
        return moved(creds.client_id), moved(f"u{uuid.uuid4().hex}"), moved(repeated)

    # The change feed evicts the new realm once (when it reads the tenant's creation): a
    # measurement it crossed shows a realm load; the next one is clean.
    counts = poll(measure, lambda c: len(set(c)) == 1, timeout=30)
    assert counts == ((1, 1),) * 3  # the realm from memory; one read of the client
