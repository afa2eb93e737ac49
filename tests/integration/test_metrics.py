"""/metrics in Prometheus format, parsed: token outcomes, latency, cache and throttle counters,
and no per-client or per-tenant labels."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import Server


def scrape(server: Server) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = httpx.get(f"{server.base_url}/metrics")
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
