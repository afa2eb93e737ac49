"""The character sets of identifiers that appear in URLs and forms.

- tenant shortcode: 2 to 63 characters, lowercase ASCII letters, digits and ``-``, starting
  with a letter or digit (a DNS label: safe in paths, hostnames and issuer URLs);
- client id: 1 to 128 characters, ASCII letters, digits, ``.``, ``_`` and ``-``, starting with a
  letter or digit (safe unencoded in form bodies, as the seed's curl sends it).
"""

from __future__ import annotations

import re

SHORTCODE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ROLE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def is_shortcode(value: str) -> bool:
    return SHORTCODE_RE.fullmatch(value) is not None


def is_client_id(value: str) -> bool:
    return CLIENT_ID_RE.fullmatch(value) is not None


def is_role(value: str) -> bool:
    return ROLE_RE.fullmatch(value) is not None
