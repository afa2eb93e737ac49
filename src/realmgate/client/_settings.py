"""Typed tenant settings and the merge patches that change them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypedDict

from ._errors import ApiResponseError

# Python attribute name -> wire (camelCase) name.
_WIRE: Final = {
    "shortcode": "shortcode",
    "name": "name",
    "locale": "locale",
    "timezone": "timezone",
    "default_transcription_language": "defaultTranscriptionLanguage",
    "transcription_languages": "transcriptionLanguages",
    "duplicate_check": "duplicateCheck",
    "max_active_webhooks_per_user": "maxActiveWebhooksPerUser",
    "access_token_lifespan": "accessTokenLifespan",
    "session_max_lifespan": "sessionMaxLifespan",
    "created_at": "createdAt",
    "updated_at": "updatedAt",
}
READ_ONLY: Final = frozenset(
    {"shortcode", "access_token_lifespan", "session_max_lifespan", "created_at", "updated_at"}
)
_BY_WIRE: Final = {wire: name for name, wire in _WIRE.items()}


class SettingsChanges(TypedDict, total=False):
    """The writable settings, for ``update_settings(**changes)`` (snake_case names)."""

    name: str
    locale: str
    timezone: str
    default_transcription_language: str | None
    transcription_languages: list[str] | tuple[str, ...]
    duplicate_check: bool
    max_active_webhooks_per_user: int


def _bad(name: str, expected: str) -> ApiResponseError:
    return ApiResponseError(
        f"settings field {name!r} is missing or not {expected}", status_code=None
    )


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise _bad(name, "a string")
    return value


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, "an integer")
    return value


def _datetime(data: Mapping[str, Any], name: str) -> datetime:
    try:
        return datetime.fromisoformat(_str(data, name))
    except ValueError:
        raise _bad(name, "an ISO 8601 date-time") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantSettings:
    """The settings of the current tenant (``GET /v2/tenants/current/settings``).

    Unknown fields sent by newer servers are kept, untyped, in :attr:`extra`.
    ``shortcode``, ``access_token_lifespan``, ``session_max_lifespan``, ``created_at`` and
    ``updated_at`` are read-only.
    """

    shortcode: str
    name: str
    locale: str
    timezone: str
    default_transcription_language: str | None
    transcription_languages: tuple[str, ...]
    duplicate_check: bool
    max_active_webhooks_per_user: int
    access_token_lifespan: int
    session_max_lifespan: int
    created_at: datetime
    updated_at: datetime
    extra: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False, repr=False
    )

    @classmethod
    def from_json(cls, data: object) -> TenantSettings:
        """Parse the JSend ``data`` object (camelCase keys)."""
        if not isinstance(data, Mapping):
            raise ApiResponseError("settings data is not a JSON object", status_code=None)
        default_language = data.get("defaultTranscriptionLanguage")
        if default_language is not None and not isinstance(default_language, str):
            raise _bad("defaultTranscriptionLanguage", "a string or null")
        languages = data.get("transcriptionLanguages")
        if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
            raise _bad("transcriptionLanguages", "a list of strings")
        duplicate_check = data.get("duplicateCheck")
        if not isinstance(duplicate_check, bool):
            raise _bad("duplicateCheck", "a boolean")
        known = set(_WIRE.values())
        return cls(
            shortcode=_str(data, "shortcode"),
            name=_str(data, "name"),
            locale=_str(data, "locale"),
            timezone=_str(data, "timezone"),
            default_transcription_language=default_language,
            transcription_languages=tuple(languages),
            duplicate_check=duplicate_check,
            max_active_webhooks_per_user=_int(data, "maxActiveWebhooksPerUser"),
            access_token_lifespan=_int(data, "accessTokenLifespan"),
            session_max_lifespan=_int(data, "sessionMaxLifespan"),
            created_at=_datetime(data, "createdAt"),
            updated_at=_datetime(data, "updatedAt"),
            extra=MappingProxyType({k: v for k, v in data.items() if k not in known}),
        )


def merge_patch(changes: Mapping[str, object]) -> dict[str, object]:
    """Translate changes (snake_case or camelCase names) into a JSON merge patch body.

    ``None`` sets a nullable field to null. Raises :class:`ValueError` for read-only or
    unknown fields, and :class:`TypeError` for values of the wrong type.
    """
    patch: dict[str, object] = {}
    for key, value in changes.items():
        name = key if key in _WIRE else _BY_WIRE.get(key)
        if name is None:
            raise ValueError(f"unknown tenant setting {key!r}")
        if name in READ_ONLY:
            raise ValueError(f"tenant setting {key!r} is read-only")
        patch[_WIRE[name]] = _check(name, value)
    return patch


def _check(name: str, value: object) -> object:
    if name == "transcription_languages":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise TypeError("transcription_languages must be a list of strings")
        if not all(isinstance(x, str) for x in value):
            raise TypeError("transcription_languages must be a list of strings")
        return list(value)
    if name == "duplicate_check":
        if not isinstance(value, bool):
            raise TypeError("duplicate_check must be a bool")
        return value
    if name == "max_active_webhooks_per_user":
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("max_active_webhooks_per_user must be an int")
        return value
    if name == "default_transcription_language" and value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str")
    return value
