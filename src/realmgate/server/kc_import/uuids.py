"""Keycloak ids (UUIDs, or any short id an older import gave) kept as realmgate's ids."""

from __future__ import annotations

from realmgate.server.core.admin_clients import INTERNAL_ID_CHARS


def keycloak_id(value: str | None) -> str | None:
    """``value`` when realmgate can keep it as an id (1-36 letters, digits, '-'), else None."""
    if value and len(value) <= 36 and set(value) <= INTERNAL_ID_CHARS:
        return value
    return None


__all__ = ["keycloak_id"]
