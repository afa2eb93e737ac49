"""The client credentials grant (RFC 6749 §4.4), as one short pipeline of named steps:

realm → grant type → client authentication → scope → audience → issue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realmgate.server.core.client_auth import ClientAuthenticator, extract_credentials
from realmgate.server.core.policy import audience, granted_scope
from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import RateLimiter
from realmgate.server.core.tokens import issue_token
from realmgate.wire.errors import (
    InvalidRequest,
    RealmNotFound,
    TooManyRequests,
    UnsupportedGrantType,
)
from realmgate.wire.forms import Form

GRANT_TYPE = "client_credentials"
# Audit lines of issued tokens (raise this logger's level to silence them).
token_log = logging.getLogger("realmgate.audit.tokens")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    tenant: str
    form: Form
    authorization: str | None
    source: str | None = None  # the peer address, for throttling


class ClientCredentialsGrant:
    def __init__(
        self,
        directory: Directory,
        clock: Callable[[], float] = time.time,
        authenticator: ClientAuthenticator | None = None,
    ):
        self.directory = directory
        self.clock = clock
        self.authenticator = authenticator or ClientAuthenticator(directory)
        settings = directory.settings
        self.rate_limiter = RateLimiter(settings.token_rate_limit, settings.token_rate_burst)

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
        client = await self.authenticator.authenticate(realm, creds, now, request.source)
        wait = self.rate_limiter.take(f"{realm.shortcode}:{client.client_id}")
        if wait is not None:
            raise TooManyRequests(wait, "Token rate limit exceeded; retry later.")
        scope = granted_scope(realm.tenant, client, request.form.get("scope"))
        aud = audience(client, self.directory.settings.audience, request.form.get_all("resource"))
        response = issue_token(realm, client, scope=scope, audience=aud, now=now)
        if token_log.isEnabledFor(logging.INFO):
            token_log.info(
                "token issued",
                extra={
                    "event": "token.issued",
                    "tenant": realm.shortcode,
                    "client_id": client.client_id,
                    "expires_in": response["expires_in"],
                },
            )
        return response
