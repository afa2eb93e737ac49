"""What a client may get: scopes (RFC 6749 §3.3), audiences (RFC 8707), custom claims.

Scopes work as Keycloak's client scopes: the realm defines each scope as ``default`` (always
granted) or ``optional`` (granted when requested); a client may narrow both lists. Asking for
anything else is ``invalid_scope``. The granted scope is returned in the token response.

Audiences: a client may get tokens for its allowed audiences (by default only the tenant
API's audience). Without ``resource`` the token's ``aud`` is all of them; each ``resource``
must be one of them (else ``invalid_target``) and narrows ``aud`` to what was asked.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from realmgate.server.storage.records import ClientRecord, TenantRecord
from realmgate.wire.errors import InvalidScope, InvalidTarget

MAX_SCOPE_CHARS = 1024
RESERVED_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "typ",
        "azp",
        "client_id",
        "scope",
        "realm_access",
        "resource_access",  # admin roles: the admin API trusts them
        "roles",
        "tenant",
        "preferred_username",
        "auth_time",
        "acr",
        "amr",
        "cnf",
        "sid",
    }
)


def client_scopes(tenant: TenantRecord, client: ClientRecord) -> tuple[list[str], list[str]]:
    """The client's (default, optional) scopes: its own lists, or the realm's. A scope the
    realm no longer defines is left out of a client's own list (removing a scope from the
    realm takes it from every client, as Keycloak does by refusing to remove a scope in use)."""
    defined = tenant.client_scopes
    defaults = client.default_scopes
    if defaults is None:
        defaults = tuple(n for n, t in defined.items() if t == "default")
    optional = client.optional_scopes
    if optional is None:
        optional = tuple(n for n, t in defined.items() if t == "optional")
    kept = [s for s in defaults if s in defined]
    return kept, [s for s in optional if s in defined and s not in defaults]


def granted_scope(tenant: TenantRecord, client: ClientRecord, requested: str | None) -> str:
    defaults, optional = client_scopes(tenant, client)
    if requested is None:
        return " ".join(defaults)
    if len(requested) > MAX_SCOPE_CHARS:
        raise InvalidScope()
    wanted = set(requested.split())
    if not wanted <= set(defaults) | set(optional):
        raise InvalidScope()
    return " ".join([*(s for s in optional if s in wanted), *defaults])


def _absolute_uri(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and not parts.fragment and len(value) <= 2048


def audience(client: ClientRecord, default: str, resources: list[str]) -> str | list[str]:
    allowed = list(client.audiences) if client.audiences else [default]
    if not resources:
        return allowed[0] if len(allowed) == 1 else allowed
    for resource in resources:
        if not _absolute_uri(resource):
            raise InvalidTarget("The resource must be an absolute URI without a fragment.")
        if resource not in allowed:
            raise InvalidTarget()
    chosen = list(dict.fromkeys(resources))
    return chosen[0] if len(chosen) == 1 else chosen


def custom_claims(client: ClientRecord) -> dict[str, Any]:
    return {k: v for k, v in client.claims.items() if k not in RESERVED_CLAIMS}
