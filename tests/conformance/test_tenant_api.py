"""The tenant API's settings resource: representation, JSON merge patch (RFC 7396), and JSend
``fail`` answers that name the offending fields and change nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.integration.helpers import (
    access_token,
    assert_jsend_fail,
    bearer,
    get_settings,
    patch_settings,
    settings_url,
    unique_shortcode,
)
from tests.servers import Credentials, Server

FIELDS = {
    "shortcode",
    "name",
    "locale",
    "timezone",
    "defaultTranscriptionLanguage",
    "transcriptionLanguages",
    "duplicateCheck",
    "maxActiveWebhooksPerUser",
    "accessTokenLifespan",
    "sessionMaxLifespan",
    "createdAt",
    "updatedAt",
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    return server.create_tenant(unique_shortcode("api"), "--name", "API Test")


@pytest.fixture(scope="module")
def token(server: Server, tenant: Credentials) -> str:
    return access_token(server, tenant)


def current(server: Server, token: str) -> dict[str, Any]:
    r = get_settings(server, token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success"
    return dict(body["data"])


def test_get_representation(server: Server, tenant: Credentials, token: str) -> None:
    r = httpx.get(
        settings_url(server), headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"status", "data"}
    assert body["status"] == "success"
    data = body["data"]
    assert set(data) == FIELDS
    assert data["shortcode"] == tenant.tenant
    assert isinstance(data["name"], str)
    assert isinstance(data["locale"], str)
    assert isinstance(data["timezone"], str)
    assert isinstance(data["transcriptionLanguages"], list)
    assert isinstance(data["duplicateCheck"], bool)
    assert isinstance(data["maxActiveWebhooksPerUser"], int)
    assert data["accessTokenLifespan"] == 7200
    assert data["sessionMaxLifespan"] == 57600
    assert ISO_UTC.fullmatch(data["createdAt"])
    assert ISO_UTC.fullmatch(data["updatedAt"])


@pytest.mark.parametrize("content_type", ["application/merge-patch+json", "application/json"])
def test_patch_persists(server: Server, token: str, content_type: str) -> None:
    before = current(server, token)
    patch = {
        "name": f"Renamed via {content_type}",
        "locale": "de-AT",
        "timezone": "Europe/Vienna",
        "transcriptionLanguages": ["de", "en"],
        "defaultTranscriptionLanguage": "de",
        "duplicateCheck": not before["duplicateCheck"],
        "maxActiveWebhooksPerUser": 0 if before["maxActiveWebhooksPerUser"] else 1000,
    }
    r = patch_settings(server, token, patch, content_type)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "success"
    data = r.json()["data"]
    assert {k: data[k] for k in patch} == patch
    after = current(server, token)
    assert after == data
    unchanged = FIELDS - set(patch) - {"updatedAt"}
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["updatedAt"] >= before["updatedAt"]


def test_merge_patch_leaves_unmentioned_fields_and_accepts_null_where_allowed(
    server: Server, token: str
) -> None:
    before = current(server, token)
    r = patch_settings(server, token, {"defaultTranscriptionLanguage": None})
    assert r.status_code == 200, r.text
    after = current(server, token)
    assert after["defaultTranscriptionLanguage"] is None
    untouched = FIELDS - {"defaultTranscriptionLanguage", "updatedAt"}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    # An empty patch changes nothing but is a success.
    empty = patch_settings(server, token, {})
    assert empty.status_code == 200
    assert {k: v for k, v in empty.json()["data"].items() if k != "updatedAt"} == {
        k: v for k, v in after.items() if k != "updatedAt"
    }


@pytest.mark.parametrize(
    ("patch", "offending"),
    [
        ({"favouriteColour": "blue"}, {"favouriteColour"}),
        ({"duplicateCheck": "yes"}, {"duplicateCheck"}),
        ({"duplicateCheck": 1}, {"duplicateCheck"}),
        ({"maxActiveWebhooksPerUser": "5"}, {"maxActiveWebhooksPerUser"}),
        ({"maxActiveWebhooksPerUser": True}, {"maxActiveWebhooksPerUser"}),
        ({"maxActiveWebhooksPerUser": 5.5}, {"maxActiveWebhooksPerUser"}),
        ({"maxActiveWebhooksPerUser": 100000}, {"maxActiveWebhooksPerUser"}),
        ({"maxActiveWebhooksPerUser": -1}, {"maxActiveWebhooksPerUser"}),
        ({"shortcode": "other"}, {"shortcode"}),
        ({"accessTokenLifespan": 60}, {"accessTokenLifespan"}),
        ({"sessionMaxLifespan": 60}, {"sessionMaxLifespan"}),
        ({"createdAt": "2020-01-01T00:00:00Z"}, {"createdAt"}),
        ({"timezone": "Mars/Olympus_Mons"}, {"timezone"}),
        ({"timezone": 1}, {"timezone"}),
        ({"locale": "not a locale"}, {"locale"}),
        ({"name": None}, {"name"}),
        ({"name": ""}, {"name"}),
        ({"name": "bad\u0000name"}, {"name"}),
        ({"name": 42}, {"name"}),
        ({"transcriptionLanguages": "en"}, {"transcriptionLanguages"}),
        ({"transcriptionLanguages": ["en", "en"]}, {"transcriptionLanguages"}),
        ({"defaultTranscriptionLanguage": "fr"}, {"defaultTranscriptionLanguage"}),
        ({"name": "Valid Name", "maxActiveWebhooksPerUser": 100000}, {"maxActiveWebhooksPerUser"}),
        (
            {"timezone": "Europe/Paris", "duplicateCheck": "no", "unknown": 1},
            {"duplicateCheck", "unknown"},
        ),
        ({"shortcode": "x", "name": None, "locale": 7}, {"shortcode", "name", "locale"}),
    ],
)
def test_invalid_patch_names_the_fields_and_changes_nothing(
    server: Server, token: str, patch: dict[str, Any], offending: set[str]
) -> None:
    before = current(server, token)
    r = patch_settings(server, token, patch)
    data = assert_jsend_fail(r, 422)
    assert set(data) == offending
    assert all(isinstance(v, str) and v for v in data.values())
    assert current(server, token) == before


def test_malformed_json(server: Server, token: str) -> None:
    before = current(server, token)
    for raw in (b"{", b'{"name": }', b"", b"\xff\xfe{}", b'{"name": "x"} trailing'):
        r = patch_settings(server, token, raw)
        data = assert_jsend_fail(r, 400)
        assert set(data) == {"body"}
    assert current(server, token) == before


@pytest.mark.parametrize("body", [[], "x", 1, None, True, [{"name": "x"}]])
def test_non_object_body(server: Server, token: str, body: Any) -> None:
    before = current(server, token)
    r = patch_settings(server, token, json.dumps(body).encode())
    data = assert_jsend_fail(r, 422)
    assert set(data) == {"body"}
    assert current(server, token) == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_wrong_content_type(server: Server, token: str, content_type: str) -> None:
    before = current(server, token)
    r = patch_settings(server, token, {"name": "never stored"}, content_type)
    data = assert_jsend_fail(r, 415)
    assert set(data) == {"content-type"}
    assert current(server, token) == before


def test_missing_content_type(server: Server, token: str) -> None:
    r = httpx.patch(settings_url(server), content=b'{"name": "x"}', headers=bearer(token))
    assert_jsend_fail(r, 415)


@pytest.mark.parametrize(
    "path", ["/v2/nothing", "/v2/tenants/current", "/v2/tenants/other/settings", "/v2/"]
)
def test_unknown_path_under_v2(server: Server, token: str, path: str) -> None:
    r = httpx.get(f"{server.base_url}{path}", headers=bearer(token))
    assert_jsend_fail(r, 404)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "POST"])
def test_other_methods_on_settings(server: Server, token: str, method: str) -> None:
    before = current(server, token)
    r = httpx.request(
        method,
        settings_url(server),
        content=b"{}",
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    data = assert_jsend_fail(r, 405)
    assert set(data) == {"method"}
    assert current(server, token) == before


def test_body_too_large(server: Server, token: str) -> None:
    big = json.dumps({"name": "x" * (70 * 1024)}).encode()
    assert_jsend_fail(patch_settings(server, token, big), 413)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"maxActiveWebhooksPerUser": NaN}', 422),
        (b'{"maxActiveWebhooksPerUser": Infinity}', 422),
        (b'{"maxActiveWebhooksPerUser": 1e400}', 422),
        (b'{"maxActiveWebhooksPerUser": 99999999999999999999999999999999}', 422),
        (b'{"name": "\\ud800"}', 422),
        (b'{"locale": "\\ud800"}', 422),
        (b'{"\\ud800": 1}', 422),
        (b'{"name": {"nested": [1, 2, {"deep": null}]}}', 422),
        (b"[" * 30000 + b"]" * 30000, 400),
        (b'{"name": "' + b"\\u0041" * 5000 + b'"}', 422),
        (b'{"transcriptionLanguages": [' + b'"en",' * 200 + b'"de"]}', 422),
    ],
)
def test_odd_bodies_never_cause_a_server_error(
    server: Server, token: str, raw: bytes, status: int
) -> None:
    before = current(server, token)
    r = patch_settings(server, token, raw, "application/json")
    data = assert_jsend_fail(r, status)
    assert len(data) == 1
    assert current(server, token) == before


def test_no_token_and_bad_tokens_never_cause_a_server_error(server: Server) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
        {"Authorization": "Bearer ...."},
        {"Authorization": "Bearer e30.e30.e30"},
        {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln"},
    ):
        for method in ("GET", "PATCH"):
            r = httpx.request(method, settings_url(server), headers=headers)
            assert r.status_code == 401, (headers, method, r.text)
            assert_jsend_fail(r, 401)
            assert r.headers["www-authenticate"].startswith('Bearer realm="realmgate"')
