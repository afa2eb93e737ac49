"""The character sets of identifiers that appear in URLs and forms.

- tenant shortcode (a Keycloak realm name, kept exactly as Keycloak's URLs carry it): 1 to 63
  characters, ASCII letters of both cases, digits, ``.``, ``_`` and ``-``, starting with a letter
  or digit (so never ``.`` or ``..``): an unreserved path segment (RFC 3986) that needs no
  encoding in paths, issuer URLs and log lines. Lookups are exact: ``CX-Operator`` and
  ``cx-operator`` are two realms, as in Keycloak;
- client id: 1 to 128 characters, ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a
  letter or digit (safe unencoded in form bodies, as the seed's curl sends it).
"""

from __future__ import annotations

import re

SHORTCODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ROLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def is_shortcode(value: str) -> bool:
    return SHORTCODE_RE.fullmatch(value) is not None


def is_client_id(value: str) -> bool:
    return CLIENT_ID_RE.fullmatch(value) is not None


def is_role(value: str) -> bool:
    return ROLE_RE.fullmatch(value) is not None
