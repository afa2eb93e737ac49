"""A wrapper that keeps credentials out of ``repr()``, ``str()``, logs and tracebacks."""

from __future__ import annotations

import hmac
from typing import Final, NoReturn, final

MASK: Final = "**********"


@final
class Secret:
    """An opaque secret string (client secret, access token).

    ``repr()`` is ``Secret('**********')`` and ``str()``/``format()`` give ``**********``, so a
    secret can travel through dataclasses, f-strings and log arguments without leaking.
    Call :meth:`reveal` at the single place where the value is put on the wire.
    Pickling is refused so that secrets do not end up in caches or multiprocessing queues.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret value must be a str")
        self._value = value

    def reveal(self) -> str:
        """Return the plain value. Only call this where it goes on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret objects cannot be pickled")


def scrub(text: str, *secrets: Secret | str | None) -> str:
    """Replace any occurrence of the given secrets in ``text`` by the mask."""
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4 and value in text:
            text = text.replace(value, MASK)
    return text
