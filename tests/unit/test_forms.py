"""Strict form parsing (RFC 6749 §3.2), with property-based tests: no input makes it crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realmgate.wire.errors import InvalidRequest
from realmgate.wire.forms import MAX_PARAMETERS, parse_form


def test_parses_the_seed_body() -> None:
    form = parse_form(b"grant_type=client_credentials&client_id=app&client_secret=s%2Bx")
    assert form.get("grant_type") == "client_credentials"
    assert form.get("client_secret") == "s+x"
    assert "client_id" in form
    assert "secret" not in repr(form).replace("client_secret", "")


def test_empty_values_count_as_omitted() -> None:
    form = parse_form(b"grant_type=&scope=")
    assert form.get("grant_type") is None
    assert form.get("scope") is None


@pytest.mark.parametrize(
    "body",
    [b"grant_type=a&grant_type=b", b"client_id=&client_id=x", b"scope=a&x=1&scope=a"],
)
def test_duplicate_parameters_are_refused(body: bytes) -> None:
    with pytest.raises(InvalidRequest, match="more than once"):
        parse_form(body)


def test_resource_may_repeat() -> None:
    form = parse_form(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb")
    assert form.get_all("resource") == ["https://a", "https://b"]


def test_non_utf8_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="UTF-8"):
        parse_form(b"client_id=\xff\xfe")
    with pytest.raises(InvalidRequest):
        parse_form(b"client_id=%ff%fe")


def test_too_many_parameters_are_refused() -> None:
    body = "&".join(f"p{i}=1" for i in range(MAX_PARAMETERS + 1)).encode()
    with pytest.raises(InvalidRequest):
        parse_form(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_invalid_request(body: bytes) -> None:
    try:
        form = parse_form(body)
    except InvalidRequest as exc:
        assert exc.status_code == 400
        assert exc.body()["error"] == "invalid_request"
    else:
        repr(form)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=10))
def test_roundtrip_of_encoded_dicts(params: dict[str, str]) -> None:
    from urllib.parse import urlencode

    form = parse_form(urlencode(params).encode())
    for name, value in params.items():
        if name != "resource":
            assert form.get(name) == (value or None)
