"""The admin API: Keycloak's Admin REST API under ``/admin/realms`` (what python-keycloak and
``@keycloak/keycloak-admin-client`` drive) and realmgate's extensions under
``/admin/realmgate``, with one auth model (:mod:`.auth`) and Keycloak's error bodies
(:mod:`.errors`). Every change goes through the core's :class:`~realmgate.server.core.admin.Admin`,
as the CLI's do.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from realmgate.server.admin_api import clients, realm_import, realms, roles, users

# The Keycloak-compatible routes; app.py adds the /admin/realmgate extensions beside them.
keycloak_routes: list[BaseRoute] = [
    *realms.routes,
    *realm_import.routes,
    *clients.routes,
    *roles.routes,
    *users.routes,
]

__all__ = ["keycloak_routes"]
