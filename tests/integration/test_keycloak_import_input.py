"""Issue 16, safe to run: hostile and broken realm files fail with an error naming the JSON path
and write nothing; ``--if-exists``; the export/import round trip; the same import through the
Admin API (``POST /admin/realms``, ``partialImport``).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.admin_api_support import Api, master, token_of
from tests.integration.helpers import access_token, jwt_parts, poll, unique_shortcode
from tests.servers import Server

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keycloak"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text())
KC21 = FIXTURES / EXPECTED["kc21"]["path"]


def certs(server: Server, realm: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/realms/{realm}/protocol/openid-connect/certs", timeout=10)


def run_import(server: Server, *args: str) -> tuple[subprocess.CompletedProcess[str], Any]:
    result = server.cli("import", "keycloak", *args, "--json", check=False)
    assert "Traceback" not in result.stdout + result.stderr
    return result, json.loads(result.stdout)


def fresh_ids(value: Any) -> Any:
    """``value`` with new UUIDs for its ``id`` fields: internal ids are unique server-wide (as in
    Keycloak), so a file imported under another realm name needs ids of its own."""
    if isinstance(value, dict):
        return {k: str(uuid.uuid4()) if k == "id" else fresh_ids(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fresh_ids(v) for v in value]
    return value


def kc21_as(realm: str) -> dict[str, Any]:
    """The Keycloak 21 fixture under another realm name (each test its own realm and ids)."""
    rep: dict[str, Any] = fresh_ids(json.loads(KC21.read_text(encoding="utf-8")))
    rep["realm"] = realm
    return rep


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "realm-export.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def assert_refused(server: Server, path: Path, realm: str, json_path: str, words: str) -> None:
    result, error = run_import(server, str(path), "--allow-partial")
    assert result.returncode == 2, result.stdout
    assert error["path"] == json_path or error["path"].startswith(json_path), error
    assert words in error["error"], error
    assert error["file"].endswith(path.name)
    text = server.cli("import", "keycloak", str(path), check=False).stderr
    assert text.startswith("error:") and json_path in text, text
    assert certs(server, realm).status_code == 404  # nothing written


def truncated(realm: str) -> str:
    text = json.dumps(kc21_as(realm), indent=2)
    return text[: len(text) // 2]


def duplicate_client(realm: str) -> dict[str, Any]:
    rep = kc21_as(realm)
    rep["clients"].append(dict(rep["clients"][7]))
    return rep


def wrong_type(realm: str) -> dict[str, Any]:
    rep = kc21_as(realm)
    rep["clients"][7]["enabled"] = "yes"
    return rep


def nested(realm: str) -> str:
    return json.dumps({"realm": realm, "enabled": True})[:-1] + (
        ', "attributes": {"deep": ' + "[" * 10_000 + "]" * 10_000 + "}}"
    )


@pytest.mark.parametrize(
    ("make", "json_path", "words"),
    [
        (truncated, "$", "JSON at line"),
        (duplicate_client, "$.clients[10].clientId", "duplicate clientId"),
        (wrong_type, "$.clients[7].enabled", "must be a boolean"),
        (nested, "$.attributes.deep[0]", "nested deeper than"),
    ],
    ids=["truncated", "duplicate-clientId", "wrong-type", "nested-10000"],
)
def test_broken_files_are_refused_naming_the_json_path(
    server: Server, tmp_path: Path, make: Any, json_path: str, words: str
) -> None:
    realm = unique_shortcode("kcbad")
    assert_refused(server, write(tmp_path, make(realm)), realm, json_path, words)


def test_a_100_mb_file_is_refused_unread(server: Server, tmp_path: Path) -> None:
    realm = unique_shortcode("kcbig")
    path = tmp_path / "big.json"
    with path.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"realm": realm, "enabled": True})[:-1] + ', "padding": "')
        chunk = "x" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write('"}')
    result, error = run_import(server, str(path))
    assert result.returncode == 2
    assert error["path"] == "$"
    assert "MB" in error["error"] or "large" in error["error"], error
    assert certs(server, realm).status_code == 404


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", ".", "..", "", "x" * 64, "with space", "%2e", "ünï", "-lead"]
)
def test_realm_names_that_are_no_safe_path_segment_are_refused(
    server: Server, tmp_path: Path, name: str
) -> None:
    result, error = run_import(server, str(write(tmp_path, kc21_as(name))), "--allow-partial")
    assert result.returncode == 2, result.stdout
    assert error["path"] == "$.realm", error


def test_unknown_fields_are_tolerated_and_reported(server: Server, tmp_path: Path) -> None:
    realm = unique_shortcode("kcunk")
    rep = kc21_as(realm)
    rep["frobnicate"] = {"level": 3}
    result, report = run_import(server, str(write(tmp_path, rep)), "--dry-run", "--allow-partial")
    assert result.returncode == 0, result.stderr
    (plan,) = report["realms"]
    assert plan["outcome"] == "planned"
    assert any("frobnicate" in row["reason"] for row in plan["rows"] if row["kind"] == "field")
    assert certs(server, realm).status_code == 404


def test_if_exists_fail_skip_overwrite(server: Server, tmp_path: Path) -> None:
    realm = unique_shortcode("kcdup")
    rep = kc21_as(realm)
    path = write(tmp_path, rep)
    result, _ = run_import(server, str(path), "--allow-partial")
    assert result.returncode == 0, result.stderr
    kids = {
        k["kid"] for k in poll(lambda: certs(server, realm), lambda r: r.is_success).json()["keys"]
    }
    result, _ = run_import(server, str(path), "--allow-partial")
    assert result.returncode == 3
    result, report = run_import(server, str(path), "--allow-partial", "--if-exists", "skip")
    assert result.returncode == 0
    assert report["realms"][0]["outcome"] == "skipped"
    rep["clients"] = [c for c in rep["clients"] if c["clientId"] != "ledger-sync"]
    result, report = run_import(
        server, str(write(tmp_path, rep)), "--allow-partial", "--if-exists", "overwrite"
    )
    assert result.returncode == 0, result.stderr
    assert report["realms"][0]["outcome"] == "overwritten"
    listed = json.loads(server.cli("client", "list", realm, "--json").stdout)
    ids = {c["clientId"] for c in listed}
    assert "billing-service" in ids and "ledger-sync" not in ids
    assert {k["kid"] for k in certs(server, realm).json()["keys"]} >= kids


def without_timestamps(rep: dict[str, Any]) -> dict[str, Any]:
    """An export without ``createdTimestamp``: the import creates its rows anew."""
    for user in rep["users"]:
        user.pop("createdTimestamp")
    return rep


def test_export_then_import_gives_the_same_realm(server: Server, tmp_path: Path) -> None:
    source = unique_shortcode("kcrt")
    admin = server.create_tenant(source, "--algorithm", "ES256")
    api_audience = jwt_parts(access_token(server, admin))[1]["aud"]
    server.cli("client", "create", source, "svc-orders", "--role", "orders:read")
    server.cli(
        "client", "set", source, "svc-orders",
        "--audience", api_audience, "--audience", "https://api.example.com/orders",
        "--claim", "tier=\"gold\"", "--lifespan", "120",
    )  # fmt: skip
    out = tmp_path / "export.json"
    server.cli("export", "keycloak", source, "--out", str(out), "--include-private-keys")
    exported = without_timestamps(json.loads(out.read_text()))
    kids = {k["kid"] for k in certs(server, source).json()["keys"]}
    # the realm's own export, imported over it, gives the same realm (secrets aside)
    result, report = run_import(server, str(out), "--allow-partial", "--if-exists", "overwrite")
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["realms"][0]["outcome"] == "overwritten"
    secrets = {s["clientId"]: s["secret"] for s in report["realms"][0]["secrets"]}
    assert set(secrets) == {c["clientId"] for c in exported["clients"]}  # secrets are new
    again = tmp_path / "again.json"
    server.cli("export", "keycloak", source, "--out", str(again), "--include-private-keys")
    second = without_timestamps(json.loads(again.read_text()))
    assert second["clients"] == exported["clients"]
    assert second["users"] == exported["users"]
    assert second["roles"] == exported["roles"]
    assert second == exported
    target = source
    published = poll(
        lambda: certs(server, source).json()["keys"], lambda keys: {k["kid"] for k in keys} == kids
    )
    assert {k["kid"] for k in published} == kids
    r = httpx.post(
        f"{server.base_url}/realms/{target}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "svc-orders",
              "client_secret": secrets["svc-orders"]},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    claims = jwt_parts(r.json()["access_token"])[1]
    assert claims["tier"] == "gold"
    assert "orders:read" in claims["realm_access"]["roles"]
    assert claims["exp"] - claims["iat"] == 120


@pytest.fixture(scope="module")
def api(server: Server) -> Api:
    return Api(server, token_of(server, master(server)))


def test_post_admin_realms_imports_a_full_representation(server: Server, api: Api) -> None:
    realm = unique_shortcode("kcapi")
    rep = kc21_as(realm)
    assert api.created("", rep) == realm
    fixture = EXPECTED["kc21"]
    client = fixture["clients"][0]
    r = httpx.post(
        f"{server.base_url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client["clientId"],
              "client_secret": client["secret"]},
        timeout=10,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    kids = {k["kid"] for k in certs(server, realm).json()["keys"]}
    assert {k["kid"] for k in fixture["keys"]} <= kids
    conflict = api("POST", "", rep)
    assert conflict.status_code == 409


def test_partial_import_fail_skip_overwrite(api: Api) -> None:
    realm = unique_shortcode("kcpi")
    assert api.created("", {"realm": realm, "enabled": True}) == realm
    rep = kc21_as(realm)
    billing = next(c for c in rep["clients"] if c["clientId"] == "billing-service")
    body = {
        "ifResourceExists": "FAIL",
        "clients": [billing],
        "roles": {"realm": [r for r in rep["roles"]["realm"] if r["name"].startswith("billing")]},
    }
    result = api.json("POST", f"/{realm}/partialImport", body)
    assert result["added"] >= 3 and result["skipped"] == 0 and result["overwritten"] == 0
    kinds = {(r["resourceType"], r["resourceName"]) for r in result["results"]}
    assert ("CLIENT", "billing-service") in kinds
    assert ("REALM_ROLE", "billing-reader") in kinds
    assert all(r["action"] == "ADDED" for r in result["results"])
    assert api("POST", f"/{realm}/partialImport", body).status_code == 409
    skipped = api.json("POST", f"/{realm}/partialImport", body | {"ifResourceExists": "SKIP"})
    assert skipped["added"] == 0 and skipped["skipped"] == len(result["results"])
    over = api.json("POST", f"/{realm}/partialImport", body | {"ifResourceExists": "OVERWRITE"})
    assert over["overwritten"] >= 1
    assert {r["action"] for r in over["results"]} <= {"OVERWRITTEN", "ADDED", "SKIPPED"}
