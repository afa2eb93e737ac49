"""The one check of ``exp``/``nbf``/``iat`` (access tokens and client assertions alike):
finite JSON numbers only, a claim that is present must be well-formed, and the leeway bounds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from realmgate.verifier import DEFAULT_LEEWAY, TimeClaimError, TimeClaims, check_time_claims

NOW = 1_800_000_000
# Python's json turns these literals into NaN, infinities and integers beyond any float.
NOT_A_TIME: list[Any] = [
    json.loads("NaN"),
    json.loads("Infinity"),
    json.loads("-Infinity"),
    json.loads("1e400"),
    json.loads("1" + "0" * 400),
    str(NOW),
    "",
    True,
    False,
    None,
    [NOW],
    {"at": NOW},
]


def valid(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"exp": NOW + 300, "iat": NOW, "nbf": NOW}
    claims.update(changes)
    return claims


@pytest.mark.parametrize("value", NOT_A_TIME, ids=repr)
@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_a_value_that_is_no_time_is_malformed(claim: str, value: Any) -> None:
    with pytest.raises(TimeClaimError) as caught:
        check_time_claims(valid(**{claim: value}), NOW)
    assert (caught.value.claim, caught.value.problem) == (claim, "malformed")


def test_exp_is_required_nbf_and_iat_are_not() -> None:
    with pytest.raises(TimeClaimError) as caught:
        check_time_claims({"iat": NOW}, NOW)
    assert (caught.value.claim, caught.value.problem) == ("exp", "missing")
    assert check_time_claims({"exp": NOW + 1}, NOW) == TimeClaims(NOW + 1, None, None)
    assert check_time_claims(valid(exp=NOW + 0.5), NOW).expires_at == NOW + 0.5


@pytest.mark.parametrize(
    ("claims", "taken"),
    [
        (valid(exp=NOW - DEFAULT_LEEWAY + 1), True),
        (valid(exp=NOW - DEFAULT_LEEWAY), False),
        (valid(nbf=NOW + DEFAULT_LEEWAY), True),
        (valid(nbf=NOW + DEFAULT_LEEWAY + 1), False),
        (valid(iat=NOW + DEFAULT_LEEWAY), True),
        (valid(iat=NOW + DEFAULT_LEEWAY + 1), False),
    ],
)
def test_the_leeway_bounds(claims: dict[str, Any], taken: bool) -> None:
    try:
        check_time_claims(claims, NOW)
    except TimeClaimError:
        assert not taken
    else:
        assert taken


def test_lifetime_and_age_bounds_of_client_assertions() -> None:
    bounds = {"leeway": 30, "max_lifetime": 3600, "max_age": 300}
    check_time_claims(valid(exp=NOW + 3630, iat=NOW - 330), NOW, **bounds)
    with pytest.raises(TimeClaimError, match="exp too far ahead"):
        check_time_claims(valid(exp=NOW + 3631), NOW, **bounds)
    with pytest.raises(TimeClaimError, match="iat too old"):
        check_time_claims(valid(iat=NOW - 331), NOW, **bounds)
