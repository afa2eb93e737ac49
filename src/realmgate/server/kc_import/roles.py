"""Keycloak's realm and client roles with their composites, resolved the way Keycloak expands
them into a token (cycles are harmless: each role is visited once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from realmgate.server.kc_import.reader import InvalidInput, child
from realmgate.server.kc_import.report import RealmReport
from realmgate.server.kc_import.shape import list_map, objects, opt_obj, opt_str, str_list
from realmgate.server.kc_import.uuids import keycloak_id
from realmgate.wire.names import is_role

REALM_MANAGEMENT = "realm-management"
MAX_DESCRIPTION = 255


@dataclass
class RoleDef:
    id: str | None
    description: str | None
    realm_composites: list[str] = field(default_factory=list)
    client_composites: dict[str, list[str]] = field(default_factory=dict)


def _role_def(role: dict[str, Any], path: str) -> tuple[str, RoleDef]:
    name = opt_str(role, "name", path)
    if not name:
        raise InvalidInput(child(path, "name"), "is required")
    composites = opt_obj(role, "composites", path)
    comp_path = child(path, "composites")
    description = opt_str(role, "description", path)
    return name, RoleDef(
        id=keycloak_id(opt_str(role, "id", path)),
        description=description[:MAX_DESCRIPTION] if description else None,
        realm_composites=str_list(composites, "realm", comp_path),
        client_composites=list_map(composites, "client", comp_path),
    )


@dataclass
class RoleGraph:
    realm: dict[str, RoleDef] = field(default_factory=dict)
    client: dict[str, dict[str, RoleDef]] = field(default_factory=dict)
    report: RealmReport | None = None

    @classmethod
    def read(cls, rep: dict[str, Any], report: RealmReport) -> RoleGraph:
        graph = cls(report=report)
        roles = opt_obj(rep, "roles", "$")
        for role, path in objects(roles, "realm", "$.roles"):
            name, definition = _role_def(role, path)
            if name in graph.realm:
                raise InvalidInput(child(path, "name"), f"duplicate realm role {name[:70]!r}")
            graph.realm[name] = definition
            if is_role(name):
                report.add("role", name, "imported")
            else:
                report.add("role", name[:80], "dropped", "not a valid realmgate role name")
        for client_id in opt_obj(roles, "client", "$.roles"):
            defs: dict[str, RoleDef] = {}
            for role, path in objects(roles["client"], client_id, "$.roles.client"):
                name, definition = _role_def(role, path)
                defs[name] = definition
            graph.client[client_id] = defs
            if defs and client_id != REALM_MANAGEMENT:
                report.add(
                    "clientRole",
                    f"{client_id[:60]} ({len(defs)})",
                    "skipped",
                    "kept only where a service account holds them (see its client)",
                )
        return graph

    def realm_role_rows(self) -> list[tuple[str, str | None, str | None]]:
        """(name, id, description) of the realm roles realmgate can hold."""
        return [(n, d.id, d.description) for n, d in self.realm.items() if is_role(n)]

    def expand(
        self, realm_names: list[str], client_roles: dict[str, list[str]]
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Effective realm roles and (clientId, role) pairs, composites included, in a
        stable order (first reached first)."""
        realm_out: dict[str, None] = {}
        client_out: dict[tuple[str, str], None] = {}
        todo: list[tuple[str | None, str]] = [(None, n) for n in realm_names]
        todo += [(c, n) for c, names in client_roles.items() for n in names]
        todo.reverse()
        while todo:
            owner, name = todo.pop()
            if owner is None:
                if name in realm_out:
                    continue
                realm_out[name] = None
                definition = self.realm.get(name)
            else:
                if (owner, name) in client_out:
                    continue
                client_out[(owner, name)] = None
                definition = self.client.get(owner, {}).get(name)
            if definition is None:
                continue
            nxt: list[tuple[str | None, str]] = [(None, n) for n in definition.realm_composites]
            nxt += [(c, n) for c, ns in definition.client_composites.items() for n in ns]
            todo.extend(reversed(nxt))
        return list(realm_out), list(client_out)

    def role_of(self, name: str) -> tuple[str | None, str]:
        """A hardcoded role mapper's ``role``: a realm role, else ``clientId.role`` split at
        any dot (Keycloak's KeycloakModelUtils.getRoleFromString)."""
        if name in self.realm:
            return "realm", name
        for i, ch in enumerate(name):
            if ch == ".":
                owner, role = name[:i], name[i + 1 :]
                if role in self.client.get(owner, {}):
                    return ("admin" if owner == REALM_MANAGEMENT else None), role
        return None, name


__all__ = ["REALM_MANAGEMENT", "RoleDef", "RoleGraph"]
