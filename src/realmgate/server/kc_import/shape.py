"""Typed reads of a representation's fields: a value of the wrong type is an
:class:`~.reader.InvalidInput` naming its JSON path (``$.clients[3].enabled: must be a
boolean``). Missing fields and ``null`` read as the default, as Keycloak's Jackson does."""

from __future__ import annotations

from typing import Any

from realmgate.server.kc_import.reader import InvalidInput, child

MAX_TEXT = 65_536


def obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(path, "must be an object")
    return value


def opt_obj(rep: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = rep.get(key)
    return {} if value is None else obj(value, child(path, key))


def opt_list(rep: dict[str, Any], key: str, path: str) -> list[Any]:
    value = rep.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(child(path, key), "must be an array")
    return value


def opt_str(rep: dict[str, Any], key: str, path: str) -> str | None:
    value = rep.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(child(path, key), "must be a string")
    if len(value) > MAX_TEXT:
        raise InvalidInput(child(path, key), f"longer than {MAX_TEXT} characters")
    return value


def req_str(rep: dict[str, Any], key: str, path: str) -> str:
    value = opt_str(rep, key, path)
    if value is None:
        raise InvalidInput(child(path, key), "is required")
    return value


def opt_bool(rep: dict[str, Any], key: str, path: str) -> bool | None:
    value = rep.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidInput(child(path, key), "must be a boolean")
    return value


def opt_int(rep: dict[str, Any], key: str, path: str) -> int | None:
    value = rep.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(child(path, key), "must be an integer")
    if not -(2**63) <= value < 2**63:
        raise InvalidInput(child(path, key), "out of range")
    return value


def str_list(rep: dict[str, Any], key: str, path: str) -> list[str]:
    items = opt_list(rep, key, path)
    for n, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidInput(child(child(path, key), n), "must be a string")
    return items


def str_map(rep: dict[str, Any], key: str, path: str) -> dict[str, str]:
    """Keycloak's ``attributes``: string values (numbers and booleans are read as text, as
    Jackson coerces them)."""
    value = opt_obj(rep, key, path)
    out: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif isinstance(item, (str, int)):
            out[name] = str(item)
        elif item is not None:
            raise InvalidInput(child(child(path, key), name), "must be a string")
    return out


def list_map(rep: dict[str, Any], key: str, path: str) -> dict[str, list[str]]:
    """``{"name": ["value", ...]}`` (client role lists, component config)."""
    value = opt_obj(rep, key, path)
    out: dict[str, list[str]] = {}
    for name in value:
        out[name] = str_list(value, name, child(path, key))
    return out


def objects(rep: dict[str, Any], key: str, path: str) -> list[tuple[dict[str, Any], str]]:
    """An array of objects with each one's path."""
    out = []
    for n, item in enumerate(opt_list(rep, key, path)):
        item_path = child(child(path, key), n)
        out.append((obj(item, item_path), item_path))
    return out


__all__ = [
    "list_map",
    "obj",
    "objects",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_obj",
    "opt_str",
    "req_str",
    "str_list",
    "str_map",
]
