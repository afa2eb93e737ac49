"""Where the remote admin commands go and as whom: ``--server``, the CA bundle and the admin
client's credentials, from the options, the environment or a 0600 profile file (see
:mod:`realmgate.cli.remote`). Never from a command-line flag, which ``ps`` shows."""

from __future__ import annotations

import os
import ssl
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
ENV_ID, ENV_SECRET, ENV_REALM = (
    "REALMGATE_ADMIN_CLIENT_ID",
    "REALMGATE_ADMIN_CLIENT_SECRET",
    "REALMGATE_ADMIN_REALM",
)
ENV_PROFILE_FILE = "REALMGATE_ADMIN_PROFILE_FILE"


class RemoteError(Exception):
    """The server refused, or could not be reached; the message is for the operator."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Connection:
    server: str
    realm: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_file: Path | None = None


def profile_path() -> Path:
    explicit = os.environ.get(ENV_PROFILE_FILE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "realmgate" / "admin.toml"


def read_profile(name: str | None) -> dict[str, Any]:
    """The profile ``name`` (None: ``default``, if the file has it); {} without a file."""
    path = profile_path()
    try:
        st = path.stat()
    except FileNotFoundError:
        if name is not None:
            raise RemoteError(f"no profile file at {path} (profile {name!r})", 2) from None
        return {}
    if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.getuid():
        raise RemoteError(
            f"{path} holds secrets: it must be yours and readable by you only (chmod 600)", 2
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RemoteError(f"cannot read {path}: {type(exc).__name__}", 2) from None
    section = data.get(name or "default")
    if section is None and name is None:
        return {}
    if not isinstance(section, dict):
        raise RemoteError(f"{path} has no profile [{name}]", 2)
    return section


def resolve(server: str | None, ca_file: Path | None, profile: str | None) -> Connection:
    """Where and as whom: options and environment first, then the profile."""
    section = read_profile(profile)
    server = server or section.get("server")
    if not isinstance(server, str) or not server:
        raise RemoteError("no server: give --server URL (or REALMGATE_SERVER, or a profile)", 2)
    parts = urlsplit(server.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RemoteError("--server must be an https:// URL", 2)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise RemoteError("--server must be https:// (plain http only on loopback)", 2)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise RemoteError("--server must be a plain base URL (no credentials or query)", 2)
    env_id, env_secret = os.environ.get(ENV_ID), os.environ.get(ENV_SECRET)
    if bool(env_id) != bool(env_secret):
        raise RemoteError(f"set both {ENV_ID} and {ENV_SECRET}, or neither", 2)
    client_id = env_id or section.get("client_id")
    secret = env_secret or section.get("client_secret")
    if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
        raise RemoteError(
            f"no admin credentials: set {ENV_ID} and {ENV_SECRET}, or use a profile file", 2
        )
    realm = os.environ.get(ENV_REALM) or section.get("realm") or "master"
    ca = ca_file or (Path(section["ca_file"]) if isinstance(section.get("ca_file"), str) else None)
    return Connection(server.strip().rstrip("/"), str(realm), client_id, secret, ca)


def verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise RemoteError(f"cannot use the CA file {ca_file}: {type(exc).__name__}", 2) from None


__all__ = ["Connection", "RemoteError", "profile_path", "read_profile", "resolve", "verify"]
