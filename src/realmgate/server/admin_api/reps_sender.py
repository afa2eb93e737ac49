"""Keycloak's client attributes of sender-constrained tokens (RFC 9449 DPoP, RFC 8705 mTLS)
and of ``client-x509``'s subject, to and from a client's own fields.

``dpop.bound.access.tokens`` and ``tls.client.certificate.bound.access.tokens`` are on when
"true" (Keycloak's ``Boolean.parseBoolean``); ``tls.client.auth.subject.dn`` is the subject DN,
which Keycloak reads as a regular expression unless ``x509.allow.regex.pattern.comparison`` is
"false": realmgate compares distinguished names, so a DN that is a pattern is refused. A subject
alternative name (RFC 8705 §2.1.2, which Keycloak lacks) is realmgate's
``realmgate.tls.client.auth.san``.
"""

from __future__ import annotations

from typing import Any

from realmgate.server.admin_api.errors import bad_request
from realmgate.server.core.client_config import is_regex_dn
from realmgate.server.storage.records import ClientRecord

DPOP_ATTR = "dpop.bound.access.tokens"
CERT_ATTR = "tls.client.certificate.bound.access.tokens"
SUBJECT_ATTR = "tls.client.auth.subject.dn"
SAN_ATTR = "realmgate.tls.client.auth.san"
REGEX_ATTR = "x509.allow.regex.pattern.comparison"
# Attributes kept in the client's own fields: never in ``extra``, rendered from the record.
SENDER_ATTRS = (DPOP_ATTR, CERT_ATTR, SUBJECT_ATTR, SAN_ATTR)


def _flag(attributes: dict[str, str], name: str) -> bool | None:
    """A boolean attribute as Keycloak reads it (``Boolean.parseBoolean``); None: absent."""
    value = attributes.get(name)
    return None if value is None else value.strip().lower() == "true"


def sender_input(attributes: dict[str, str]) -> dict[str, Any]:
    regex = _flag(attributes, REGEX_ATTR) is not False  # Keycloak: true when absent
    if regex and is_regex_dn(attributes.get(SUBJECT_ATTR, "")):
        raise bad_request(
            "realmgate compares the subject DN as a distinguished name (RFC 4514), not as a "
            f"regular expression ('{REGEX_ATTR}')"
        )
    return {
        "dpop_bound": _flag(attributes, DPOP_ATTR),
        "cert_bound": _flag(attributes, CERT_ATTR),
        "tls_subject_dn": attributes.get(SUBJECT_ATTR),
        "tls_san": attributes.get(SAN_ATTR),
    }


def sender_attributes(client: ClientRecord) -> dict[str, str]:
    """The Keycloak attributes of a client's sender constraints and tls_client_auth subject
    (the flags only when true, as a client Keycloak never configured has none)."""
    attributes: dict[str, str] = {}
    if client.dpop_bound:
        attributes[DPOP_ATTR] = "true"
    if client.cert_bound:
        attributes[CERT_ATTR] = "true"
    if client.tls_subject_dn:
        attributes[SUBJECT_ATTR] = client.tls_subject_dn
        attributes[REGEX_ATTR] = "false"  # compared as a name, by Keycloak too
    if client.tls_san:
        attributes[SAN_ATTR] = client.tls_san
    return attributes


__all__ = ["SENDER_ATTRS", "sender_attributes", "sender_input"]
