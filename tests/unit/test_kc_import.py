"""The Keycloak importer's reading and planning (issue 16): hostile files refused with the JSON
path, the mapping of realms, roles, clients, service accounts and protocol mappers, and the
migration report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from realmgate.server.kc_import.plan import ImportPlan, plan_import
from realmgate.server.kc_import.reader import (
    MAX_DEPTH,
    InvalidInput,
    Source,
    parse,
    read_dir,
    read_paths,
)
from realmgate.server.kc_import.report import Report, render
from realmgate.wire.names import is_shortcode

SECRET = "s3cr3t-from-keycloak"


def sa_client(client_id: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"id-{client_id}",
        "clientId": client_id,
        "enabled": True,
        "clientAuthenticatorType": "client-secret",
        "secret": SECRET,
        "publicClient": False,
        "bearerOnly": False,
        "serviceAccountsEnabled": True,
        "protocol": "openid-connect",
        "attributes": {},
        **kw,
    }


def realm(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "realm-uuid",
        "realm": "CX-Operator",
        "displayName": "CX Operator",
        "enabled": True,
        "accessTokenLifespan": 600,
        "notBefore": 0,
        "defaultLocale": "de",
        "roles": {
            "realm": [
                {
                    "id": "r-default",
                    "name": "default-roles-cx-operator",
                    "composite": True,
                    "composites": {
                        "realm": ["offline_access"],
                        "client": {"account": ["view-profile"]},
                    },
                },
                {"id": "r-offline", "name": "offline_access"},
                {
                    "id": "r-writer",
                    "name": "writer",
                    "composite": True,
                    "composites": {"realm": ["reader"]},
                },
                {"id": "r-reader", "name": "reader", "composites": {"realm": ["writer"]}},
            ],
            "client": {
                "realm-management": [{"name": "view-clients"}, {"name": "impersonation"}],
                "account": [{"name": "view-profile"}],
            },
        },
        "clientScopes": [
            {"name": "profile", "protocol": "openid-connect", "attributes": {}},
            {
                "name": "roles",
                "protocol": "openid-connect",
                "attributes": {"include.in.token.scope": "false"},
                "protocolMappers": [
                    {
                        "name": "realm roles",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-usermodel-realm-role-mapper",
                        "config": {"claim.name": "realm_access.roles"},
                    }
                ],
            },
            {"name": "billing:read", "protocol": "openid-connect"},
        ],
        "defaultDefaultClientScopes": ["profile", "roles"],
        "defaultOptionalClientScopes": ["billing:read"],
        "clients": [
            sa_client(
                "gateway",
                attributes={"access.token.lifespan": "900", "post.logout.redirect.uris": "+"},
                protocolMappers=[
                    {
                        "name": "aud",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-audience-mapper",
                        "config": {
                            "included.client.audience": "telemetry-api",
                            "access.token.claim": "true",
                        },
                    },
                    {
                        "name": "tier",
                        "protocol": "openid-connect",
                        "protocolMapper": "oidc-hardcoded-claim-mapper",
                        "config": {
                            "claim.name": "org.tier",
                            "claim.value": "42",
                            "jsonType.label": "int",
                        },
                    },
                ],
            ),
            sa_client("masked", secret="**********"),
            sa_client("account"),
            {"clientId": "web", "publicClient": True},
        ],
        "users": [
            {
                "id": "sa-gateway",
                "username": "service-account-gateway",
                "serviceAccountClientId": "gateway",
                "realmRoles": ["default-roles-cx-operator", "writer"],
                "clientRoles": {"realm-management": ["view-clients", "impersonation"]},
            },
            {"id": "u-1", "username": "alice", "credentials": [{"type": "password"}]},
        ],
        "identityProviders": [{"alias": "github"}],
        "smtpServer": {"host": "smtp.example"},
        "bruteForceProtected": True,
    }
    base.update(kw)
    return base


def plan_of(rep: dict[str, Any]) -> ImportPlan:
    return plan_import(Source(rep, "test.json"))


def rows(plan: ImportPlan) -> dict[str, tuple[str, bool]]:
    return {r.item: (r.outcome, r.blocking) for r in plan.report.rows}


# reading -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('{"realm": "a", "clients": [{"clientId": "x"', "$.clients[0].clientId", "truncated"),
        ('{"realm": "a", "clients": [{"id": 1}, {"clientId": "x"}', "$.clients[1]", "truncated"),
        ('{"realm": "a", "clients": [1, {"clientId": }]}', "$.clients[1].clientId", "invalid"),
        ('{"a": NaN}', "$", "not JSON"),
        (b"\xff\xfe{}", "$", "UTF-8"),
    ],
)
def test_broken_json_names_where(text: str | bytes, path: str, message: str) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(InvalidInput) as err:
        parse(data)
    assert err.value.path == path
    assert message in err.value.message


def test_deep_nesting_is_refused_with_its_path() -> None:
    deep = '{"realm": "a", "attributes": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}"
    with pytest.raises(InvalidInput) as err:
        parse(deep.encode())
    assert err.value.path.startswith("$.attributes.x[0][0]")
    assert f"deeper than {MAX_DEPTH}" in err.value.message
    shallow_but_too_deep = '{"a": ' + "[" * 100 + "]" * 100 + "}"
    with pytest.raises(InvalidInput, match="deeper"):
        parse(shallow_but_too_deep.encode())


def test_huge_files_are_refused_before_reading(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr("realmgate.server.kc_import.reader.MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"realm": "a", "pad": "x" * 2000}))
    with pytest.raises(InvalidInput) as err:
        read_paths([big])
    assert (err.value.file, err.value.path) == (str(big), "$")
    assert "larger than" in str(err.value)


def test_directory_export_merges_users_files(tmp_path: Path) -> None:
    rep = realm(users=[])
    (tmp_path / "CX-Operator-realm.json").write_text(json.dumps(rep))
    (tmp_path / "CX-Operator-users-1.json").write_text(
        json.dumps({"realm": "CX-Operator", "users": [{"username": "bob"}]})
    )
    (tmp_path / "CX-Operator-users-0.json").write_text(
        json.dumps({"realm": "CX-Operator", "users": realm()["users"]})
    )
    (sources,) = [read_dir(tmp_path)]
    assert len(sources) == 1
    names = [u["username"] for u in sources[0].realm["users"]]
    assert names == ["service-account-gateway", "alice", "bob"]
    plan = plan_of(sources[0].realm)
    assert plan.clients[0].roles  # the service account's mappings came from users-0


def test_an_array_of_realms_and_a_missing_file(tmp_path: Path) -> None:
    both = tmp_path / "all.json"
    both.write_text(json.dumps([realm(), realm(realm="other")]))
    assert [s.realm["realm"] for s in read_paths([both])] == ["CX-Operator", "other"]
    with pytest.raises(InvalidInput, match="cannot be read"):
        read_paths([tmp_path / "nope.json"])


# hostile representations -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"realm": "bad/name"}, "$.realm", "cannot be a realmgate realm name"),
        ({"realm": ".."}, "$.realm", "cannot be a realmgate realm name"),
        ({"realm": 7}, "$.realm", "must be a string"),
        ({"realm": None}, "$.realm", "required"),
        ({"enabled": "yes"}, "$.enabled", "must be a boolean"),
        ({"accessTokenLifespan": "300"}, "$.accessTokenLifespan", "must be an integer"),
        ({"clients": {"clientId": "x"}}, "$.clients", "must be an array"),
        ({"clients": [sa_client("a"), 3]}, "$.clients[1]", "must be an object"),
        (
            {"clients": [sa_client("a"), sa_client("b"), sa_client("a")]},
            "$.clients[2].clientId",
            "duplicate clientId 'a' (also at $.clients[0])",
        ),
        ({"clients": [sa_client("a", enabled="no")]}, "$.clients[0].enabled", "boolean"),
        ({"clients": [sa_client("a", attributes=[])]}, "$.clients[0].attributes", "object"),
        ({"users": [{"username": "x", "realmRoles": "admin"}]}, None, None),
        (
            {"roles": {"realm": [{"name": "a"}, {"name": "a"}]}},
            "$.roles.realm[1].name",
            "duplicate realm role",
        ),
    ],
)
def test_wrong_types_name_the_json_path(
    change: dict[str, Any], path: str | None, message: str | None
) -> None:
    if path is None:  # a human user's fields are not read
        plan_of(realm(**change))
        return
    with pytest.raises(InvalidInput) as err:
        plan_of(realm(**change))
    assert err.value.path == path
    assert message is not None and message in err.value.message
    assert err.value.file == "test.json"


def test_unknown_fields_are_tolerated_and_reported() -> None:
    plan = plan_of(realm(someFutureField={"x": 1}))
    (row,) = [r for r in plan.report.rows if r.kind == "field"]
    assert "someFutureField" in row.reason and "bruteForceProtected" in row.reason
    assert not row.blocking


# mapping -----------------------------------------------------------------------------------
def test_realm_fields_carry_over() -> None:
    plan = plan_of(realm())
    assert (plan.realm, plan.display_name, plan.enabled) == ("CX-Operator", "CX Operator", True)
    assert (plan.access_token_lifespan, plan.realm_id) == (600, "realm-uuid")
    assert plan.extra == {"defaultLocale": "de"}
    assert plan.client_scopes == {
        "profile": "default",
        "billing:read": "optional",
        "openid": "optional",
    }
    assert [name for name, _, _ in plan.roles] == [
        "default-roles-cx-operator",
        "offline_access",
        "writer",
        "reader",
    ]
    assert plan_of(realm(enabled=None)).enabled is False  # as Keycloak's importer


def test_a_service_account_client_with_roles_composites_and_mappers() -> None:
    plan = plan_of(realm())
    (gateway, masked) = plan.clients
    assert gateway.client_id == "gateway" and gateway.secret == SECRET
    assert (gateway.internal_id, gateway.sub) == ("id-gateway", "sa-gateway")
    assert gateway.access_token_lifespan == 900
    # composites resolved, cycles harmless
    assert set(gateway.roles) == {"default-roles-cx-operator", "offline_access", "writer", "reader"}
    assert gateway.admin_roles == ("view-clients",)
    assert gateway.audiences == ("telemetry-api",)
    assert gateway.claims == {"org": {"tier": 42}}
    assert gateway.extra["attributes"] == {"post.logout.redirect.uris": "+"}
    report = rows(plan)
    assert report["clientRole:gateway/impersonation"] == ("dropped", False)
    assert report["clientRole:gateway/account"] == ("dropped", False)
    assert report["mapper:roles/realm roles"] == ("imported", False)
    assert report["mapper:gateway/tier"] == ("imported", False)
    assert report["client:account"] == ("skipped", False)
    assert report["client:web"] == ("dropped", False)
    assert report["user:alice"] == ("skipped", False)
    assert report["identityProvider:github"] == ("dropped", False)
    assert report["smtp:smtpServer"] == ("dropped", False)
    # a masked secret: a new one, and the import blocks without --allow-partial
    assert masked.secret is None
    assert report["secret:masked"] == ("changed", True)
    assert report["user:service-account-masked"] == ("skipped", False)


@pytest.mark.parametrize(
    ("mapper", "blocking", "effect"),
    [
        ({"protocolMapper": "oidc-role-name-mapper", "config": {}}, True, None),
        ({"protocolMapper": "script-mapper", "config": {}}, True, None),
        (
            {"protocolMapper": "script-mapper", "config": {"access.token.claim": "false"}},
            False,
            None,
        ),
        (
            {
                "protocolMapper": "oidc-hardcoded-claim-mapper",
                "config": {"claim.name": "azp", "claim.value": "x"},
            },
            True,
            None,
        ),
        (
            {"protocolMapper": "oidc-hardcoded-role-mapper", "config": {"role": "reader"}},
            False,
            ("roles", "reader"),
        ),
        (
            {
                "protocolMapper": "oidc-hardcoded-role-mapper",
                "config": {"role": "realm-management.view-clients"},
            },
            False,
            ("admin_roles", "view-clients"),
        ),
        (
            {"protocolMapper": "oidc-hardcoded-role-mapper", "config": {"role": "api.post"}},
            True,
            None,
        ),
        (
            {
                "protocolMapper": "oidc-usersessionmodel-note-mapper",
                "config": {"user.session.note": "clientHost", "claim.name": "clientHost"},
            },
            False,
            None,
        ),
        (
            {
                "protocolMapper": "oidc-usersessionmodel-note-mapper",
                "config": {"user.session.note": "clientId", "claim.name": "clientId"},
            },
            False,
            ("claims", "clientId"),
        ),
        (
            {
                "protocolMapper": "oidc-hardcoded-claim-mapper",
                "config": {
                    "claim.name": "flags",
                    "claim.value": '{"a": [1]}',
                    "jsonType.label": "JSON",
                },
            },
            False,
            ("claims", "flags"),
        ),
    ],
)
def test_protocol_mappers(mapper: dict[str, Any], blocking: bool, effect: Any) -> None:
    mapper = {"name": "m", "protocol": "openid-connect", **mapper}
    rep = realm(clients=[sa_client("gateway", protocolMappers=[mapper])])
    plan = plan_of(rep)
    (row,) = [r for r in plan.report.rows if r.item == "mapper:gateway/m"]
    assert row.blocking is blocking, row
    if effect is not None:
        field, value = effect
        assert value in getattr(plan.clients[0], field)


def test_a_bad_hardcoded_value_names_its_path() -> None:
    mapper = {
        "name": "m",
        "protocolMapper": "oidc-hardcoded-claim-mapper",
        "config": {"claim.name": "n", "claim.value": "x", "jsonType.label": "long"},
    }
    with pytest.raises(InvalidInput) as err:
        plan_of(realm(clients=[sa_client("a", protocolMappers=[mapper])]))
    assert err.value.path == '$.clients[0].protocolMappers[0].config["claim.value"]'


def test_client_jwt_and_secret_jwt_clients() -> None:
    jwks = {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }
        ]
    }
    clients = [
        sa_client(
            "by-url",
            clientAuthenticatorType="client-jwt",
            attributes={"use.jwks.url": "true", "jwks.url": "https://keys.example/jwks"},
        ),
        sa_client(
            "by-string",
            clientAuthenticatorType="client-jwt",
            attributes={"use.jwks.string": "true", "jwks.string": json.dumps(jwks)},
        ),
        sa_client("no-key", clientAuthenticatorType="client-jwt"),
        sa_client("hmac", clientAuthenticatorType="client-secret-jwt"),
        sa_client("x509", clientAuthenticatorType="client-x509"),
    ]
    plan = plan_of(realm(clients=clients))
    got = {c.client_id: c for c in plan.clients}
    assert got["by-url"].jwks_uri == "https://keys.example/jwks"
    assert got["by-string"].jwks == jwks
    assert got["hmac"].auth_method == "client_secret_jwt" and got["hmac"].secret == SECRET
    assert set(got) == {"by-url", "by-string", "hmac"}
    report = rows(plan)
    assert report["client:no-key"] == ("dropped", True)
    assert report["client:x509"] == ("dropped", True)


def test_full_scope_off_keeps_the_scope_mapped_roles_only() -> None:
    rep = realm(
        clients=[sa_client("gateway", fullScopeAllowed=False)],
        scopeMappings=[{"client": "gateway", "roles": ["reader"]}],
    )
    assert plan_of(rep).clients[0].roles == ("reader",)


def test_client_roles_of_other_clients_reach_resource_access() -> None:
    rep = realm()
    rep["users"][0]["clientRoles"] = {"telemetry-api": ["ingest"], "realm-management": []}
    rep["clientScopes"][1]["protocolMappers"].append(
        {"name": "resolve", "protocolMapper": "oidc-audience-resolve-mapper", "config": {}}
    )
    plan = plan_of(rep)
    gateway = plan.clients[0]
    assert gateway.claims["resource_access"] == {"telemetry-api": {"roles": ["ingest"]}}
    assert gateway.audiences == ("telemetry-api",)  # the audience mapper's and resolved: once
    assert rows(plan)["clientRole:gateway/telemetry-api"] == ("imported", False)


# the report --------------------------------------------------------------------------------
def test_report_json_and_table_never_show_file_secrets() -> None:
    from rich.console import Console

    plan = plan_of(realm())
    plan.report.secrets = {"masked": "new-secret"}
    report = Report(dry_run=True, realms=[plan.report])
    data = report.to_json()
    assert data["dryRun"] is True and data["ok"] is True
    (one,) = data["realms"]
    assert one["realm"] == "CX-Operator" and one["blocking"] == 1
    assert one["secrets"] == [{"clientId": "masked", "secret": "new-secret"}]
    assert {"item", "kind", "outcome", "reason", "blocking"} == set(one["rows"][0])
    assert SECRET not in json.dumps(data)
    console = Console(record=True, width=200)
    render(report, console)
    text = console.export_text()
    assert "secret:masked" in text and SECRET not in text
    assert "new secret of client masked: new-secret" in text


def test_shortcodes_take_keycloak_realm_names() -> None:
    for name in ("CX-Operator", "a", "my_realm.v2", "x" * 63, "demo"):
        assert is_shortcode(name), name
    for name in ("", ".", "..", "-x", "_x", ".x", "x" * 64, "a b", "a/b", "café", "a%2F"):
        assert not is_shortcode(name), name


def _mutations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path of a representation (containers and leaves)."""
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _mutations(v, (*path, k))
    elif isinstance(value, list):
        for n, v in enumerate(value):
            out += _mutations(v, (*path, n))
    return out


HOSTILE: list[Any] = [None, 7, -1, 2**70, True, "x", "", "**********", [], {}, [1, "a"], {"a": 1}]


def test_any_wrong_value_anywhere_is_a_clean_error_or_a_report() -> None:
    """Seeded sweep: every field of a representation replaced by values of every other type
    gives a plan or InvalidInput naming a path, never another exception."""
    import copy
    import random

    rng = random.Random(16)
    base = realm()
    paths = _mutations(base)[1:]
    for path in paths:
        for value in rng.sample(HOSTILE, 4):
            rep = copy.deepcopy(base)
            node: Any = rep
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            try:
                plan = plan_of(rep)
            except InvalidInput as exc:
                assert exc.path.startswith("$"), (path, value)
                continue
            Report(realms=[plan.report]).to_json()
