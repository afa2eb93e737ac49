"""The client credentials grant (RFC 6749 §4.4), as one short pipeline of named steps:

realm → grant type → client authentication → scope → issue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realmgate.server.core.client_auth import authenticate, extract_credentials
from realmgate.server.core.realms import Directory
from realmgate.server.core.tokens import issue_token
from realmgate.wire.errors import InvalidRequest, InvalidScope, RealmNotFound, UnsupportedGrantType
from realmgate.wire.forms import Form

GRANT_TYPE = "client_credentials"
DEFAULT_SCOPES: tuple[str, ...] = ("email", "profile")
# Optional scopes a client may ask for. "openid" is granted as Keycloak does: widely used
# Keycloak clients send it on every token request.
OPTIONAL_SCOPES: tuple[str, ...] = ("openid",)
MAX_SCOPE_CHARS = 1024


@dataclass(frozen=True, slots=True)
class TokenRequest:
    tenant: str
    form: Form
    authorization: str | None


def granted_scope(requested: str | None) -> str:
    """RFC 6749 §3.3: space-delimited, case-sensitive; defaults are always granted."""
    if requested is None:
        return " ".join(DEFAULT_SCOPES)
    if len(requested) > MAX_SCOPE_CHARS:
        raise InvalidScope()
    wanted = set(requested.split())
    allowed = set(DEFAULT_SCOPES) | set(OPTIONAL_SCOPES)
    if not wanted <= allowed:
        raise InvalidScope()
    optional = [s for s in OPTIONAL_SCOPES if s in wanted]
    return " ".join([*optional, *DEFAULT_SCOPES])


class ClientCredentialsGrant:
    def __init__(self, directory: Directory, clock: Callable[[], float] = time.time):
        self.directory = directory
        self.clock = clock

    async def handle(self, request: TokenRequest) -> dict[str, Any]:
        realm = await self.directory.realm(request.tenant)
        if realm is None:
            raise RealmNotFound()
        grant_type = request.form.get("grant_type")
        if grant_type is None:
            raise InvalidRequest("Missing parameter: grant_type")
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantType()
        creds = extract_credentials(request.form, request.authorization, realm.shortcode)
        now = int(self.clock())
        client = await authenticate(self.directory, realm, creds, now)
        scope = granted_scope(request.form.get("scope"))
        return issue_token(
            realm, client, scope=scope, audience=self.directory.settings.audience, now=now
        )
