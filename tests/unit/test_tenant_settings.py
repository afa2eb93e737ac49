"""Tenant settings validation: field by field, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realmgate.server.core.admin import DEFAULT_SETTINGS
from realmgate.server.core.tenant_settings import SettingsInvalid, apply_patch, represent
from realmgate.server.storage.records import TenantRecord

TENANT = TenantRecord(
    shortcode="acme",
    name="ACME",
    signing_alg="RS256",
    settings=dict(DEFAULT_SETTINGS),
    access_token_lifespan=7200,
    session_max_lifespan=57600,
    not_before=0,
    created_at=0,
    updated_at=0,
)


def errors_of(patch: Any) -> dict[str, str]:
    with pytest.raises(SettingsInvalid) as exc:
        apply_patch(TENANT, patch, 10)
    return exc.value.errors


def test_representation_has_exactly_the_documented_fields() -> None:
    assert set(represent(TENANT)) == {
        "shortcode",
        "name",
        "locale",
        "timezone",
        "defaultTranscriptionLanguage",
        "transcriptionLanguages",
        "duplicateCheck",
        "maxActiveWebhooksPerUser",
        "accessTokenLifespan",
        "sessionMaxLifespan",
        "createdAt",
        "updatedAt",
    }
    assert represent(TENANT)["createdAt"] == "1970-01-01T00:00:00Z"


def test_valid_patch_applies_and_touches_updated_at() -> None:
    new = apply_patch(
        TENANT,
        {
            "name": " New name ",
            "locale": "de-AT",
            "timezone": "Europe/Vienna",
            "transcriptionLanguages": ["de", "en"],
            "defaultTranscriptionLanguage": "de",
            "duplicateCheck": True,
            "maxActiveWebhooksPerUser": 0,
        },
        42,
    )
    assert new.name == "New name"
    assert new.settings["locale"] == "de-AT"
    assert new.settings["transcriptionLanguages"] == ["de", "en"]
    assert new.updated_at == 42
    assert TENANT.settings["locale"] == "en-US"  # the original is untouched


def test_default_language_may_be_removed_with_null() -> None:
    assert (
        apply_patch(TENANT, {"defaultTranscriptionLanguage": None}, 1).settings[
            "defaultTranscriptionLanguage"
        ]
        is None
    )


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"bogus": 1}, "bogus"),
        ({"shortcode": "x"}, "shortcode"),
        ({"accessTokenLifespan": 60}, "accessTokenLifespan"),
        ({"sessionMaxLifespan": 60}, "sessionMaxLifespan"),
        ({"createdAt": "x"}, "createdAt"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": 5}, "name"),
        ({"locale": "not a tag"}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"duplicateCheck": "yes"}, "duplicateCheck"),
        ({"duplicateCheck": 1}, "duplicateCheck"),
        ({"maxActiveWebhooksPerUser": "5"}, "maxActiveWebhooksPerUser"),
        ({"maxActiveWebhooksPerUser": True}, "maxActiveWebhooksPerUser"),
        ({"maxActiveWebhooksPerUser": 100000}, "maxActiveWebhooksPerUser"),
        ({"maxActiveWebhooksPerUser": -1}, "maxActiveWebhooksPerUser"),
        ({"maxActiveWebhooksPerUser": 1.5}, "maxActiveWebhooksPerUser"),
        ({"transcriptionLanguages": "en"}, "transcriptionLanguages"),
        ({"transcriptionLanguages": ["en", "en"]}, "transcriptionLanguages"),
        ({"transcriptionLanguages": ["en", 3]}, "transcriptionLanguages"),
        ({"defaultTranscriptionLanguage": "fr"}, "defaultTranscriptionLanguage"),
    ],
)
def test_each_bad_field_is_named(patch: dict[str, Any], field: str) -> None:
    assert set(errors_of(patch)) == {field}


def test_all_problems_are_reported_and_nothing_applies() -> None:
    errors = errors_of({"locale": "de-AT", "bogus": 1, "duplicateCheck": "no"})
    assert set(errors) == {"bogus", "duplicateCheck"}


@pytest.mark.parametrize("body", [[], "x", 3, None, True])
def test_non_object_bodies_fail(body: Any) -> None:
    assert set(errors_of(body)) == {"body"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*represent(TENANT), "x"]), json_values, max_size=5))
def test_any_json_patch_applies_or_fails_cleanly(patch: dict[str, Any]) -> None:
    try:
        new = apply_patch(TENANT, patch, 1)
    except SettingsInvalid as exc:
        assert exc.errors
        assert set(exc.errors) <= set(patch)
    else:
        represent(new)
