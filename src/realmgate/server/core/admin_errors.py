"""The admin services' errors and the credentials they hand out (shared by every admin module)."""

from __future__ import annotations

from dataclasses import dataclass, field

# How long the previous secret keeps working after a rotation, unless the caller says.
DEFAULT_SECRET_GRACE = 24 * 3600


class AdminError(Exception):
    """A bad admin request: unknown tenant or client, invalid name, duplicate. The message is
    shown to the caller (the admin API answers it as Keycloak's ``errorMessage``/``error``)."""


class NotFound(AdminError):
    """What the request names does not exist (the admin API: 404)."""


class Conflict(AdminError):
    """A duplicate, or a change that lost to a concurrent one (the admin API: 409)."""


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """A client's credentials as handed out once. The secret never shows in a repr."""

    tenant: str
    client_id: str
    client_secret: str = field(repr=False)
    internal_id: str = ""  # Keycloak's client id
    sub: str = ""  # the service account's id
