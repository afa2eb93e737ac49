"""Reading admin requests: JSON bodies, query parameters and Keycloak representation fields.

Keycloak reads bodies with Jackson. We do what it answers:

- a body that is not JSON (or not UTF-8) -> 400 ``{"error": "unknown_error"}`` (Jackson's
  ``JsonProcessingException``, keycloak/keycloak#19492); the same for a value of the wrong type
  (``MismatchedInputException``). We add an ``error_description`` naming the field;
- a field the representation does not have -> 400 ``{"error": "Unrecognized field \"x\" (class
  org.keycloak.representations.idm.XRepresentation), not marked as ignorable"}``
  (``KcUnrecognizedPropertyExceptionHandler``);
- Jackson's scalar coercions are kept: ``"true"`` for a boolean, ``"300"`` for an integer, a
  number for a string; ``null`` is "not given";
- a body with a ``Content-Type`` other than JSON -> 415 (``@Consumes(APPLICATION_JSON)``);
- a body over ``admin_max_body_bytes`` -> 413.

Query parameters: ``first``/``max`` as Keycloak pages (negative: no effect), booleans as JAX-RS
reads them (``true`` in any case is true, anything else false).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from starlette.requests import Request

from realmgate.server.admin_api.auth import context
from realmgate.server.admin_api.errors import ApiError, error
from realmgate.server.http.request_head import head_of, read_body

T = TypeVar("T")
JSON_TYPES = frozenset({b"application/json", b""})
MAX_DEPTH = 64


def malformed(description: str) -> ApiError:
    """400 as Keycloak answers a body Jackson cannot read."""
    return ApiError(400, {"error": "unknown_error", "error_description": description})


def unrecognized(name: str, representation: str) -> ApiError:
    """400 for a field the representation lacks, in Jackson's words (without its long list
    of the known properties)."""
    return error(
        400,
        f'Unrecognized field "{name[:100]}" (class org.keycloak.representations.idm.'
        f"{representation}), not marked as ignorable",
    )


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json(request: Request) -> Any:
    """The request's JSON body; None when the body is empty."""
    head = head_of(request.scope)
    limit = context(request).settings.admin_max_body_bytes
    body = await read_body(request.receive, head.content_length, limit)
    if not body.strip():
        return None
    if head.media_type not in JSON_TYPES and not head.media_type.endswith(b"+json"):
        raise error(415, "HTTP 415 Unsupported Media Type")
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise malformed("The request body is not valid JSON (UTF-8).") from None
    if _depth(value) > MAX_DEPTH:
        raise malformed("The request body is nested too deeply.")
    return value


async def read_object(request: Request, representation: str) -> dict[str, Any]:
    """A JSON object body (an empty body is ``{}``)."""
    value = await read_json(request)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"Expected a JSON object ({representation}).")
    return value


async def read_list(request: Request, representation: str) -> list[dict[str, Any]]:
    """A JSON array of objects (an empty body is ``[]``)."""
    return as_list(await read_json(request), representation)


def as_list(value: Any, representation: str) -> list[dict[str, Any]]:
    """A parsed body that must be an array of objects (None: ``[]``)."""
    if value is None:
        return []
    # Jackson's ACCEPT_SINGLE_VALUE_AS_ARRAY is off: a lone object is refused.
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise malformed(f"Expected a JSON array of {representation}.")
    return value


def check_fields(rep: Mapping[str, Any], known: Collection[str], representation: str) -> None:
    """400 for the first field ``representation`` does not have."""
    for name in rep:
        if name not in known:
            raise unrecognized(name, representation)


# Jackson's scalar coercions --------------------------------------------------------------


def _wrong(name: str, expected: str) -> ApiError:
    return malformed(f"Cannot deserialize the value of '{name[:100]}': expected {expected}.")


def opt_bool(rep: Mapping[str, Any], name: str) -> bool | None:
    value = rep.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _wrong(name, "a boolean")


def opt_int(
    rep: Mapping[str, Any], name: str, *, low: int = -(2**31), high: int = 2**31 - 1
) -> int | None:
    value = rep.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _wrong(name, "an integer")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise _wrong(name, "an integer") from None
    if not isinstance(value, int) or not low <= value <= high:
        raise _wrong(name, "an integer")
    return value


def opt_str(rep: Mapping[str, Any], name: str) -> str | None:
    value = rep.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise _wrong(name, "a string")


def opt_str_list(rep: Mapping[str, Any], name: str) -> list[str] | None:
    value = rep.get(name)
    if value is None:
        return None
    if isinstance(value, str):  # Jackson: a lone scalar is not an array
        raise _wrong(name, "an array of strings")
    if not isinstance(value, list):
        raise _wrong(name, "an array of strings")
    items = []
    for item in value:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise _wrong(name, "an array of strings")
        items.append(item if isinstance(item, str) else json.dumps(item))
    return items


def opt_str_map(rep: Mapping[str, Any], name: str) -> dict[str, str] | None:
    """A ``Map<String, String>`` (Keycloak's ``attributes``): scalar values become strings."""
    value = rep.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong(name, "an object of strings")
    out: dict[str, str] = {}
    for key in value:
        item = opt_str(value, key)
        if item is not None:
            out[key] = item
    return out


def opt_object(rep: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = rep.get(name)
    if value is None or isinstance(value, dict):
        return value
    raise _wrong(name, "an object")


def opt_list(rep: Mapping[str, Any], name: str) -> list[Any] | None:
    value = rep.get(name)
    if value is None or isinstance(value, list):
        return value
    raise _wrong(name, "an array")


# query parameters --------------------------------------------------------------------------


def query_bool(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    return value.lower() == "true"


def query_int(request: Request, name: str) -> int | None:
    """An integer query parameter; a value that is not one is 400 naming it."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value, 10)
    except ValueError:
        raise malformed(f"The query parameter '{name}' must be an integer.") from None


def page(request: Request, items: list[T], default_max: int | None = None) -> list[T]:
    """``first``/``max`` as Keycloak's ``paginatedStream``: negative values have no effect."""
    first = query_int(request, "first")
    size = query_int(request, "max")
    if size is None:
        size = default_max
    if first is not None and first > 0:
        items = items[first:]
    if size is not None and size >= 0:
        items = items[:size]
    return items


__all__ = [
    "as_list",
    "check_fields",
    "malformed",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_object",
    "opt_str",
    "opt_str_list",
    "opt_str_map",
    "page",
    "query_bool",
    "query_int",
    "read_json",
    "read_list",
    "read_object",
    "unrecognized",
]
