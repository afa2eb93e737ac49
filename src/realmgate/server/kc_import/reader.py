"""Reading Keycloak realm exports: a realm file, a file holding an array of realms (older
``kc.sh export --file``), or a directory export (``<realm>-realm.json`` plus
``<realm>-users-N.json``).

Hostile input is refused before anything is planned, with an error naming the file and the JSON
path: files over :data:`MAX_FILE_BYTES`, nesting deeper than :data:`MAX_DEPTH`, invalid or
truncated JSON (the path where the parser stopped), ``NaN``/``Infinity``, non-UTF-8 text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 64  # Keycloak's exports nest about ten levels (components, subComponents, config)
USERS_FILE_RE = re.compile(r"(?P<realm>.+)-users-(?P<n>\d+)\.json")
REALM_FILE_SUFFIX = "-realm.json"


class InvalidInput(ValueError):
    """A file that cannot be imported: ``path`` is the JSON path of the offending value."""

    def __init__(self, path: str, message: str, file: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.file = file

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path}: {self.message}"


@dataclass
class Source:
    """One realm representation and the file(s) it came from."""

    realm: dict[str, Any]
    file: str
    users_files: list[str] = field(default_factory=list)


def child(path: str, key: str | int) -> str:
    """The JSON path of ``key`` under ``path`` (``$.clients[3].clientId``)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key[:80])}]"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _scan_path(text: str, stop: int | None = None, max_depth: int | None = None) -> str:
    """The JSON path at offset ``stop`` (where a parser failed), or where the nesting first
    exceeds ``max_depth``: a tolerant scan of the text, never recursive."""
    stack: list[list[Any]] = []  # [kind, key-or-index, expecting-key]
    i, end = 0, len(text) if stop is None else min(stop, len(text))
    last_string = ""
    while i < end:
        ch = text[i]
        if ch == '"':
            j = i + 1
            while j < len(text) and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            last_string = text[i + 1 : min(j, i + 81)]
            if stack and stack[-1][0] == "{" and stack[-1][2]:
                stack[-1][1] = last_string
            i = j + 1
            continue
        if ch in "[{":
            stack.append([ch, 0 if ch == "[" else "", ch == "{"])
            if max_depth is not None and len(stack) > max_depth:
                break
        elif ch in "]}":
            if stack:
                stack.pop()
        elif ch == ":" and stack and stack[-1][0] == "{":
            stack[-1][2] = False
        elif ch == "," and stack:
            if stack[-1][0] == "[":
                stack[-1][1] += 1
            else:
                stack[-1][2] = True
        i += 1
    path = "$"
    for kind, key, expecting_key in stack:
        if kind == "{" and (expecting_key or key == ""):
            break
        path = child(path, key)
    return path


def check_depth(value: Any) -> None:
    """Refuse values nested deeper than MAX_DEPTH (iterative walk; the path is built only for
    the offending value)."""
    todo: list[tuple[Any, int, Any]] = [(value, 0, None)]  # (node, depth, (parent link, key))
    while todo:
        node, depth, link = todo.pop()
        if depth > MAX_DEPTH:
            keys: list[str | int] = []
            while link is not None:
                link, key = link
                keys.append(key)
            path = "$"
            for key in reversed(keys):
                path = child(path, key)
            raise InvalidInput(path, f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            todo.extend((v, depth + 1, (link, k)) for k, v in node.items() if type(v) in _NESTED)
        elif isinstance(node, list):
            todo.extend((v, depth + 1, (link, n)) for n, v in enumerate(node) if type(v) in _NESTED)


_NESTED = (dict, list)


def parse(data: bytes) -> Any:
    """JSON text to a value, or InvalidInput naming where it breaks."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput("$", f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("$", f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        path = _scan_path(text, max_depth=MAX_DEPTH)
        raise InvalidInput(path, f"nested deeper than {MAX_DEPTH} levels") from None
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if exc.pos >= len(text.rstrip()) else "invalid JSON"
        raise InvalidInput(
            _scan_path(text, stop=exc.pos),
            f"{what} at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from None
    except ValueError as exc:  # NaN/Infinity, integers too long to convert
        raise InvalidInput("$", f"invalid JSON: {str(exc)[:120]}") from None
    check_depth(value)
    return value


def read_file(path: Path) -> Any:
    """A file's JSON value; InvalidInput carries the file name."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput("$", f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        return parse(data)
    except InvalidInput as exc:
        exc.file = str(path)
        raise
    except OSError as exc:
        raise InvalidInput("$", f"cannot be read: {exc.strerror}", str(path)) from None


def _realms_of(value: Any, file: str) -> list[Source]:
    if isinstance(value, dict):
        return [Source(value, file)]
    if isinstance(value, list):
        for n, item in enumerate(value):
            if not isinstance(item, dict):
                raise InvalidInput(f"$[{n}]", "must be a realm representation (an object)", file)
        return [Source(item, file) for item in value]
    raise InvalidInput("$", "must be a realm representation (an object)", file)


def _merge_users(source: Source, value: Any, file: str) -> None:
    if not isinstance(value, dict):
        raise InvalidInput("$", "a users file must be an object", file)
    users = value.get("users", [])
    if not isinstance(users, list):
        raise InvalidInput("$.users", "must be an array", file)
    realm_users = source.realm.setdefault("users", [])
    if not isinstance(realm_users, list):
        raise InvalidInput("$.users", "must be an array", source.file)
    realm_users.extend(users)
    source.users_files.append(file)


def read_dir(directory: Path) -> list[Source]:
    """A directory export: every ``<realm>-realm.json`` with its ``<realm>-users-N.json``."""
    sources: dict[str, Source] = {}
    for path in sorted(directory.glob(f"*{REALM_FILE_SUFFIX}")):
        for source in _realms_of(read_file(path), str(path)):
            sources[path.name[: -len(REALM_FILE_SUFFIX)]] = source
    if not sources:
        raise InvalidInput("$", f"no *{REALM_FILE_SUFFIX} file in the directory", str(directory))
    users_files = sorted(
        (int(m["n"]), m["realm"], p)
        for p in directory.glob("*-users-*.json")
        if (m := USERS_FILE_RE.fullmatch(p.name))
    )
    for _, realm, path in users_files:
        if realm in sources:
            _merge_users(sources[realm], read_file(path), str(path))
    return list(sources.values())


def read_paths(paths: list[Path]) -> list[Source]:
    """Every realm of the given files and directories, in order."""
    sources: list[Source] = []
    for path in paths:
        if path.is_dir():
            sources.extend(read_dir(path))
        else:
            sources.extend(_realms_of(read_file(path), str(path)))
    return sources


__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "InvalidInput",
    "Source",
    "check_depth",
    "child",
    "parse",
    "read_dir",
    "read_file",
    "read_paths",
]
