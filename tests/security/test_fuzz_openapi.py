"""Property-based fuzzing of the running server from its OpenAPI document (schemathesis):
token endpoint, introspection, revocation, JWKS, discovery, the tenant API and the admin API
(with the master admin's token). Whatever is
sent, the server never answers 5xx, and every answer has a status and content type the
document declares. Examples are bounded so that CI stays fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from realmgate.server.http.openapi import document
from tests.servers import Server

OPERATIONS = [r.ok() for r in schemathesis.openapi.from_dict(document()).get_all_operations()]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("fuzz"), None)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def bearer(fuzz_server: Server) -> str:
    demo = fuzz_server.demo
    assert demo is not None
    r = httpx.post(
        fuzz_server.token_url(demo.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
        },
    )
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def admin_bearer(fuzz_server: Server) -> str:
    admin = fuzz_server.admin
    assert admin is not None
    r = httpx.post(
        fuzz_server.token_url(admin.tenant),
        data={
            "grant_type": "client_credentials",
            "client_id": admin.client_id,
            "client_secret": admin.client_secret,
        },
    )
    return str(r.json()["access_token"])


def test_the_served_document_is_the_fuzzed_one(fuzz_server: Server) -> None:
    assert httpx.get(f"{fuzz_server.base_url}/openapi.json").json() == document()
    assert len([op for op in OPERATIONS if not op.path.startswith("/admin/")]) == 7


def _exercise(
    operation: Any, base_url: str, headers: dict[str, str] | None, statuses: list[int]
) -> Callable[[], None]:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def exercise(case: Any) -> None:
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)
        statuses.append(response.status_code)

    return exercise  # type: ignore[no-any-return]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_no_input_breaks_the_server(
    operation: Any, fuzz_server: Server, bearer: str, admin_bearer: str
) -> None:
    headers = {"Authorization": f"Bearer {bearer}"} if operation.path.startswith("/v2/") else None
    if operation.path.startswith("/admin/"):
        headers = {"Authorization": f"Bearer {admin_bearer}"}
    statuses: list[int] = []
    _exercise(operation, fuzz_server.base_url, headers, statuses)()
    assert len(statuses) >= 10
    assert max(statuses) < 500
