"""Validation of sender-constraint input (client_config): bindings, RFC 4514 subject DNs, the
subject alternative names of RFC 8705 §2.1.2, what each authentication method needs, and a
whole client's change checked at once."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realmgate.server.core.client_config import (
    BINDINGS,
    ConfigError,
    binding_name,
    changed_client,
    check_binding,
    check_client_auth,
    check_subject_dn,
    check_tls_san,
    is_regex_dn,
)
from realmgate.server.storage.records import ClientRecord

JWKS = {"keys": [{"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}]}


def record(**kw: object) -> ClientRecord:
    base: dict[str, object] = {
        "tenant": "t",
        "client_id": "c",
        "sub": "s",
        "enabled": True,
        "roles": (),
        "secret_hash": b"\x01" * 32,
        "created_at": 1,
        "updated_at": 1,
    }
    base.update(kw)
    return ClientRecord(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(BINDINGS))
def test_binding_names_round_trip(name: str) -> None:
    assert binding_name(*check_binding(name)) == name


@pytest.mark.parametrize("name", ["", "DPoP", "mtls", "cert+dpop", "both"])
def test_unknown_binding_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="the binding must be one of"):
        check_binding(name)


@pytest.mark.parametrize(
    "dn",
    [
        "CN=svc",
        "CN=svc.example.com,O=Example Corp,C=DE",
        "CN=a\\,b,OU=x+CN=y",
        "UID=42,DC=ex",
        "CN=svc, OU=x, O=y",  # as Keycloak users write DNs: the matching reads it too
        "cn=svc,o=y",
        "2.5.4.3=svc",
    ],
)
def test_rfc4514_dns_accepted_as_given(dn: str) -> None:
    assert check_subject_dn(dn) == dn


@pytest.mark.parametrize("dn", ["", "   ", "svc", "CN", "=x", "C" * 1025])
def test_bad_dns_refused(dn: str) -> None:
    with pytest.raises(ConfigError):
        check_subject_dn(dn)


@pytest.mark.parametrize(
    ("san", "stored"),
    [
        ("dns:svc.example.com", "dns:svc.example.com"),
        ("DNS:svc.example.com", "dns:svc.example.com"),
        ("uri:spiffe://example.org/ns/orders", "uri:spiffe://example.org/ns/orders"),
        ("ip:10.0.0.1", "ip:10.0.0.1"),
        ("ip:2001:DB8::1", "ip:2001:db8::1"),
        ("email:ops@example.com", "email:ops@example.com"),
    ],
)
def test_sans_accepted_in_their_stored_form(san: str, stored: str) -> None:
    assert check_tls_san(san) == stored


@pytest.mark.parametrize(
    "san",
    [
        "svc.example.com",
        "dns:",
        "dns:-bad.example",
        "dns:a_b.example",
        "dns:*.example.com",
        "uri:not a uri",
        "uri:relative/path",
        "ip:10.0.0.256",
        "email:nobody",
        "email:@example.com",
        "x400:whatever",
    ],
)
def test_bad_sans_refused(san: str) -> None:
    with pytest.raises(ConfigError):
        check_tls_san(san)


@given(st.text(max_size=80))
def test_san_check_never_fails_otherwise(text: str) -> None:
    with contextlib.suppress(ConfigError):
        assert check_tls_san(text).split(":", 1)[0] in ("dns", "uri", "ip", "email")


@given(st.text(max_size=80))
def test_dn_check_never_fails_otherwise(text: str) -> None:
    with contextlib.suppress(ConfigError):
        check_subject_dn(text)


def test_what_each_method_needs() -> None:
    none: dict[str, object] = {"jwks": None, "jwks_uri": None, "tls_subject_dn": None}
    check_client_auth("tls_client_auth", **none, tls_san="dns:a.example")  # type: ignore[arg-type]
    check_client_auth("self_signed_tls_client_auth", jwks=JWKS, jwks_uri=None,
                      tls_subject_dn=None, tls_san=None)  # fmt: skip
    with pytest.raises(ConfigError, match="exactly one of a subject DN"):
        check_client_auth("tls_client_auth", **none, tls_san=None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="needs a JWKS"):
        check_client_auth("self_signed_tls_client_auth", jwks=None, jwks_uri="https://x/j",
                          tls_subject_dn=None, tls_san=None)  # fmt: skip
    with pytest.raises(ConfigError, match="for tls_client_auth clients only"):
        check_client_auth("client_secret", jwks=None, jwks_uri=None, tls_subject_dn="CN=a",
                          tls_san=None)  # fmt: skip


def test_a_change_is_checked_as_a_whole() -> None:
    tls = record(auth_method="tls_client_auth", tls_subject_dn="CN=a", cert_bound=True)
    moved = changed_client(tls, {"auth_method": "client_secret"})
    assert (moved.tls_subject_dn, moved.cert_bound) == (None, True)
    with pytest.raises(ConfigError, match="exactly one"):
        changed_client(tls, {"tls_san": "dns:a.example"})
    swapped = changed_client(tls, {"tls_subject_dn": None, "tls_san": "dns:a.example"})
    assert swapped.tls_san == "dns:a.example"
    with pytest.raises(ConfigError, match="client_secret_jwt only from its creation"):
        changed_client(record(), {"auth_method": "client_secret_jwt"})


@pytest.mark.parametrize(
    ("dn", "regex"),
    [("CN=svc.example.com,O=Example", False), ("CN=(.*),O=x", True), ("CN=a|CN=b", True)],
)
def test_keycloak_regex_dns_told_apart(dn: str, regex: bool) -> None:
    assert is_regex_dn(dn) is regex
