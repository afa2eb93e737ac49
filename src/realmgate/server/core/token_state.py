"""Whether a signature-checked access token is still in force at realmgate.

Beyond what any resource server can check from the token alone, realmgate knows: the token's
``jti`` was revoked (RFC 7009), it was issued before the tenant's or the client's not-before
time, its tenant is disabled, or its client was deleted or disabled. Introspection and the
tenant API both ask here.
"""

from __future__ import annotations

from realmgate.server.core.realms import Directory, Realm
from realmgate.verifier import AccessTokenClaims


async def inactive_reason(
    directory: Directory, realm: Realm, claims: AccessTokenClaims
) -> str | None:
    """None when the token is in force, else why not (for logs; never shown in detail)."""
    if not realm.tenant.enabled:
        return "tenant disabled"
    if claims.token_id is not None and await directory.revoked(realm.shortcode, claims.token_id):
        return "revoked"
    issued = claims.issued_at if claims.issued_at is not None else 0
    if issued < realm.tenant.not_before:
        return "issued before the tenant's not-before time"
    if claims.client_id is None:
        return "no client_id"
    client = await directory.client(realm.shortcode, claims.client_id)
    if client is None or not client.enabled:
        return "client deleted or disabled"
    if issued < client.not_before:
        return "issued before the client's not-before time"
    return None
