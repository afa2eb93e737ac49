"""Tenant settings: the public representation and JSON merge patch (RFC 7396) validation.

Every field is checked on its own and every problem is reported by field name; a patch with
any problem changes nothing.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

from realmgate.server.storage.records import TenantRecord

LANG_RE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,4}")
READ_ONLY = frozenset(
    {"shortcode", "accessTokenLifespan", "sessionMaxLifespan", "createdAt", "updatedAt"}
)
MAX_LANGUAGES = 100
MAX_WEBHOOKS = 1000


class SettingsInvalid(Exception):
    """A patch failed validation; ``errors`` maps each offending field to a message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("Invalid settings: " + ", ".join(sorted(errors)))
        self.errors = errors


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def represent(tenant: TenantRecord) -> dict[str, Any]:
    s = tenant.settings
    return {
        "shortcode": tenant.shortcode,
        "name": tenant.name,
        "locale": s.get("locale"),
        "timezone": s.get("timezone"),
        "defaultTranscriptionLanguage": s.get("defaultTranscriptionLanguage"),
        "transcriptionLanguages": list(s.get("transcriptionLanguages", [])),
        "duplicateCheck": s.get("duplicateCheck"),
        "maxActiveWebhooksPerUser": s.get("maxActiveWebhooksPerUser"),
        "accessTokenLifespan": tenant.access_token_lifespan,
        "sessionMaxLifespan": tenant.session_max_lifespan,
        "createdAt": _iso(tenant.created_at),
        "updatedAt": _iso(tenant.updated_at),
    }


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def name_problem(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be a string"
    if not v.strip() or len(v) > 200:
        return "must be 1 to 200 characters"
    if any(not ch.isprintable() for ch in v):
        return "must not contain control characters"
    return None


def _locale(v: Any) -> str | None:
    if not isinstance(v, str) or LANG_RE.fullmatch(v) is None:
        return "must be a BCP 47 language tag such as 'en-US'"
    return None


def _timezone(v: Any) -> str | None:
    if not isinstance(v, str) or v not in _timezones():
        return "must be an IANA time zone name such as 'Europe/Vienna'"
    return None


def _language_or_null(v: Any) -> str | None:
    return None if v is None else _locale(v)


def _languages(v: Any) -> str | None:
    if not isinstance(v, list):
        return "must be an array of language tags"
    if len(v) > MAX_LANGUAGES:
        return f"must hold at most {MAX_LANGUAGES} languages"
    if any(_locale(x) for x in v):
        return "must hold only BCP 47 language tags"
    if len(set(v)) != len(v):
        return "must not repeat a language"
    return None


def _boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _webhooks(v: Any) -> str | None:
    if not isinstance(v, int) or isinstance(v, bool):
        return "must be an integer"
    if not 0 <= v <= MAX_WEBHOOKS:
        return f"must be between 0 and {MAX_WEBHOOKS}"
    return None


VALIDATORS = {
    "locale": _locale,
    "timezone": _timezone,
    "defaultTranscriptionLanguage": _language_or_null,
    "transcriptionLanguages": _languages,
    "duplicateCheck": _boolean,
    "maxActiveWebhooksPerUser": _webhooks,
}
NULLABLE = frozenset({"defaultTranscriptionLanguage"})


def apply_patch(tenant: TenantRecord, patch: Any, now: int) -> TenantRecord:
    """Apply a merge patch to the tenant's settings, or raise :class:`SettingsInvalid`."""
    if not isinstance(patch, dict):
        raise SettingsInvalid({"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    settings = dict(tenant.settings)
    name = tenant.name
    for field_name, value in patch.items():
        key = str(field_name)[:64]
        if field_name in READ_ONLY:
            errors[key] = "is read-only"
        elif value is None and field_name not in NULLABLE:
            errors[key] = "cannot be null"
        elif field_name == "name":
            problem = name_problem(value)
            if problem:
                errors[key] = problem
            else:
                name = value.strip()
        elif field_name in VALIDATORS:
            problem = VALIDATORS[field_name](value)
            if problem:
                errors[key] = problem
            else:
                settings[field_name] = value
        else:
            errors[key] = "is not a known setting"
    default = settings.get("defaultTranscriptionLanguage")
    languages = settings.get("transcriptionLanguages") or []
    if not errors and default is not None and languages and default not in languages:
        errors["defaultTranscriptionLanguage"] = "must be one of transcriptionLanguages"
    if errors:
        raise SettingsInvalid(errors)
    return replace(tenant, name=name, settings=settings, updated_at=now)
