"""Strict form parsing (RFC 6749 §3.2), with property-based tests: no input makes it crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realmgate.wire.errors import InvalidRequest
from realmgate.wire.forms import MAX_PARAMETERS, _pairs, parse_form


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


def _by_parse_qsl(body: bytes, max_parameters: int = MAX_PARAMETERS) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=max_parameters)


# Bodies with nothing to decode (the split without parse_qsl's work), "&" and "=" anywhere.
_UNESCAPED_BODY = st.text(alphabet="abcxyzABZ0189-._~=&", max_size=200).map(str.encode)


@settings(max_examples=400, deadline=None)
@given(_UNESCAPED_BODY)
def test_bodies_without_escapes_split_as_parse_qsl_splits_them(body: bytes) -> None:
    assert _pairs(body, MAX_PARAMETERS) == _by_parse_qsl(body)


@pytest.mark.parametrize(
    ("body", "pairs"),
    [
        (b"a=b+c&d=%41", [("a", "b c"), ("d", "A")]),  # escapes: parse_qsl decodes them
        (b"&&a&=b&c==d&", [("a", ""), ("", "b"), ("c", "=d")]),
        (b"", []),
    ],
)
def test_the_pairs_of_a_body(body: bytes, pairs: list[tuple[str, str]]) -> None:
    assert _pairs(body, MAX_PARAMETERS) == pairs == _by_parse_qsl(body)


@pytest.mark.parametrize("escaped", [False, True])
def test_the_parameter_limit_is_the_same_with_and_without_escapes(escaped: bool) -> None:
    value = "%41" if escaped else "A"
    at_limit = "&".join(f"p{i}={value}" for i in range(MAX_PARAMETERS)).encode()
    assert len(parse_form(at_limit).get("p0") or "") == 1
    with pytest.raises(InvalidRequest, match="not a valid form"):
        parse_form(at_limit + b"&x=" + value.encode())
