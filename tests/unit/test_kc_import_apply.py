"""The Keycloak importer end to end on a real SQLite runtime (issue 16): a realm imported in one
transaction gives its clients tokens with the file's secrets and Keycloak's claims; dry runs,
blocking drops and ``--if-exists`` write nothing they should not; ``partialImport``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest

from realmgate.server.core.client_auth import ClientAuthenticator
from realmgate.server.core.grants import ClientCredentialsGrant, TokenRequest
from realmgate.server.core.realms import Directory
from realmgate.server.kc_import.partial import ResourceExists, partial_import
from realmgate.server.kc_import.reader import InvalidInput
from realmgate.server.kc_import.runner import (
    EXIT_BLOCKED,
    EXIT_EXISTS,
    EXIT_OK,
    Options,
    run_import,
)
from realmgate.server.runtime import Runtime, open_runtime
from realmgate.server.settings import Settings
from realmgate.wire.forms import parse_form
from tests.unit.test_kc_import import SECRET, realm, sa_client


@dataclass
class Env:
    runtime: Runtime
    tmp: Path

    def write(self, rep: dict[str, Any], name: str = "realm.json") -> Path:
        path = self.tmp / name
        path.write_text(json.dumps(rep))
        return path

    def run(self, rep: dict[str, Any], **options: Any) -> tuple[dict[str, Any], int]:
        rt = self.runtime
        report, code = run_import(
            [self.write(rep)], rt.store, rt.vault, rt.settings, Options(**options)
        )
        return report.to_json(), code

    def claims(self, tenant: str, client_id: str, secret: str) -> dict[str, Any]:
        directory = Directory(self.runtime.store, self.runtime.vault, self.runtime.settings)
        grant = ClientCredentialsGrant(directory, authenticator=ClientAuthenticator(directory))
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        req = TokenRequest(tenant, parse_form(urlencode(form).encode()), None)
        token = anyio.run(grant.handle, req)["access_token"]
        payload = token.split(".")[1]
        return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    runtime = open_runtime(Settings(data_dir=tmp_path / "data"))
    yield Env(runtime, tmp_path)
    runtime.close()


def test_an_imported_client_gets_keycloaks_claims_with_the_files_secret(env: Env) -> None:
    report, code = env.run(realm(), allow_partial=True)
    assert code == EXIT_OK, report
    (one,) = report["realms"]
    assert one["outcome"] == "imported"
    assert [s["clientId"] for s in one["secrets"]] == ["masked"]
    claims = env.claims("CX-Operator", "gateway", SECRET)
    assert claims["iss"].endswith("/realms/CX-Operator")
    assert (claims["sub"], claims["azp"]) == ("sa-gateway", "gateway")
    assert set(claims["realm_access"]["roles"]) == {
        "default-roles-cx-operator",
        "offline_access",
        "writer",
        "reader",
    }
    assert claims["resource_access"] == {"realm-management": {"roles": ["view-clients"]}}
    rep = realm(realm="other", clients=[sa_client("gateway")], roles={})  # role ids are unique
    rep["users"][0]["clientRoles"] = {"realm-management": ["view-clients"], "api": ["post"]}
    assert env.run(rep)[1] == EXIT_OK
    assert env.claims("other", "gateway", SECRET)["resource_access"] == {
        "api": {"roles": ["post"]},
        "realm-management": {"roles": ["view-clients"]},
    }
    assert "telemetry-api" in claims["aud"]
    assert claims["org"] == {"tier": 42}
    assert claims["scope"] == "profile"
    assert claims["exp"] - claims["iat"] == 900
    # the masked secret's replacement works, and the import is audited without secrets
    new = one["secrets"][0]["secret"]
    assert env.claims("CX-Operator", "masked", new)["azp"] == "masked"
    (event, _other) = env.runtime.store.list_audit(action="tenant.imported")
    assert SECRET not in json.dumps(event.details) and new not in json.dumps(event.details)
    tenant = env.runtime.store.get_tenant("CX-Operator")
    assert tenant is not None
    assert (tenant.realm_id, tenant.name, tenant.extra) == (
        "realm-uuid",
        "CX Operator",
        {"defaultLocale": "de"},
    )


def test_blocking_drops_and_dry_runs_write_nothing(env: Env) -> None:
    report, code = env.run(realm())
    assert code == EXIT_BLOCKED
    assert report["realms"][0]["outcome"] == "blocked" and not report["ok"]
    assert env.runtime.store.get_tenant("CX-Operator") is None
    report, code = env.run(realm(), dry_run=True, allow_partial=True)
    assert code == EXIT_OK and report["realms"][0]["outcome"] == "planned"
    assert report["realms"][0]["secrets"] == []
    assert env.runtime.store.get_tenant("CX-Operator") is None


def test_if_exists_fail_skip_overwrite(env: Env) -> None:
    clean = realm(clients=[sa_client("gateway")])
    assert env.run(clean)[1] == EXIT_OK
    report, code = env.run(clean)
    assert code == EXIT_EXISTS and report["realms"][0]["error"] == (
        "Realm CX-Operator already exists"
    )
    report, code = env.run(realm(clients=[sa_client("other")]), if_exists="skip")
    assert code == EXIT_OK and report["realms"][0]["outcome"] == "skipped"
    assert [c.client_id for c in env.runtime.store.list_clients("CX-Operator")] == ["gateway"]
    report, code = env.run(
        realm(clients=[sa_client("other", secret="other-secret")]), if_exists="overwrite"
    )
    assert code == EXIT_OK and report["realms"][0]["outcome"] == "overwritten"
    assert [c.client_id for c in env.runtime.store.list_clients("CX-Operator")] == ["other"]
    assert env.claims("CX-Operator", "other", "other-secret")["azp"] == "other"


def test_invalid_input_writes_nothing(env: Env) -> None:
    rt = env.runtime
    good = env.write(realm(realm="first", clients=[sa_client("a")]), "first.json")
    bad = env.write(realm(realm="second", clients=[sa_client("a"), sa_client("a")]), "bad.json")
    with pytest.raises(InvalidInput) as err:
        run_import([good, bad], rt.store, rt.vault, rt.settings, Options())
    assert (err.value.file, err.value.path) == (str(bad), "$.clients[1].clientId")
    assert rt.store.get_tenant("first") is None


def test_partial_import_fail_skip_overwrite(env: Env) -> None:
    rt = env.runtime
    assert env.run(realm(clients=[sa_client("gateway")]))[1] == EXIT_OK
    tenant = rt.store.get_tenant("CX-Operator")
    assert tenant is not None

    def partial(policy: str, **body: Any) -> dict[str, Any]:
        rep = {"ifResourceExists": policy, **body}
        return partial_import(rep, tenant, rt.store, rt.vault, rt.settings, actor="t", now=1)

    with pytest.raises(ResourceExists, match=r"^Client id 'gateway' already exists$"):
        partial("FAIL", clients=[sa_client("new"), sa_client("gateway")])
    assert rt.store.get_client("CX-Operator", "new") is None
    result = partial(
        "SKIP",
        clients=[sa_client("new", secret="new-secret"), sa_client("gateway")],
        roles={"realm": [{"name": "auditor"}, {"name": "reader"}]},
        users=[
            {
                "id": "sa-new",
                "username": "service-account-new",
                "serviceAccountClientId": "new",
                "realmRoles": ["auditor"],
            },
            {"username": "alice"},
        ],
    )
    assert (result["added"], result["skipped"], result["overwritten"]) == (3, 3, 0)
    actions = {(r["resourceType"], r["resourceName"]): r["action"] for r in result["results"]}
    assert actions == {
        ("REALM_ROLE", "auditor"): "ADDED",
        ("REALM_ROLE", "reader"): "SKIPPED",
        ("CLIENT", "new"): "ADDED",
        ("CLIENT", "gateway"): "SKIPPED",
        ("USER", "service-account-new"): "ADDED",
        ("USER", "alice"): "SKIPPED",
    }
    claims = env.claims("CX-Operator", "new", "new-secret")
    assert claims["sub"] == "sa-new" and claims["realm_access"]["roles"] == ["auditor"]
    result = partial("OVERWRITE", clients=[sa_client("new", secret="**********")])
    assert result["overwritten"] == 1
    client = rt.store.get_client("CX-Operator", "new")
    assert client is not None and client.reveal_enc is not None  # a new, revealable secret
    with pytest.raises(InvalidInput, match="FAIL, SKIP or OVERWRITE"):
        partial("MERGE")
