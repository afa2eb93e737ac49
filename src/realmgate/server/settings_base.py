"""What :class:`~realmgate.server.settings.Settings` does beyond holding the options: loading
(flags over environment over config file), handing them over to forked workers, and the values
derived from them. The options themselves, documented once, are in ``settings.py``.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from realmgate.verifier._certs import TrustedProxyCerts, parse_networks

_HANDED_OVER = "REALMGATE_SETTINGS_HANDED_OVER"
_handed_over: dict[str, Any] = {}  # "settings": see SettingsBase.hand_over


class SettingsBase(BaseSettings):
    """The behaviour of the settings; no options (``Settings`` declares them)."""

    if TYPE_CHECKING:  # options read here, declared by Settings
        data_dir: Path
        database_url: str | None
        master_key_file: Path | None
        host: str
        port: int
        tls_cert: Path | None
        client_cert_header: str | None
        client_cert_proxies: str | None
        tls_client_ca: Path | None
        workers: int
        worker_cpu_affinity: Literal["auto", "on", "off"]
        reuse_port: bool
        issuer_base_url: str | None
        api_base_url: str | None
        api_audience: str | None

    # Field validators (not a model one): an error then shows its own field's value only.
    @field_validator("tls_client_ca", check_fields=False)
    @classmethod
    def _check_tls_client_ca(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if (
            value is not None
            and info.data.get("tls_cert") is None
            and not info.data.get("client_cert_header")
        ):
            raise ValueError(
                "tls_client_ca (mutual TLS) needs tls_cert and tls_key (realmgate's own TLS "
                "listener) or client_cert_header (a TLS-terminating proxy)"
            )
        return value

    @field_validator("client_cert_header", check_fields=False)
    @classmethod
    def _check_cert_header(cls, value: str | None) -> str | None:
        if value:
            TrustedProxyCerts(value)  # ValueError: not a header name
        return value or None

    @field_validator("client_cert_proxies", check_fields=False)
    @classmethod
    def _check_cert_proxies(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value:
            if not info.data.get("client_cert_header"):
                raise ValueError("client_cert_proxies needs client_cert_header")
            parse_networks(value)  # ValueError naming the entry
        return value or None

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Flags (``overrides``) over environment variables over the config file
        (``config_file``, else ``REALMGATE_CONFIG_FILE``; dotenv syntax)."""
        if config_file is None and not overrides and os.environ.get(_HANDED_OVER) == "1":
            if "settings" not in _handed_over:
                raise RuntimeError(
                    "this process was not forked from `realmgate serve`, which handed its "
                    "settings over to the processes it forks only"
                )
            handed: Self = _handed_over["settings"]
            return handed
        path = config_file or os.environ.get("REALMGATE_CONFIG_FILE")
        if path is not None and not Path(path).is_file():
            raise ValueError(f"the config file {path} does not exist")
        return cls(_env_file=path, **overrides)

    def hand_over(self) -> None:
        """Make these the settings that every process forked from this one gets from
        :meth:`load` (called without arguments), as ``serve`` does for its workers: the master
        key and the database URL (with its password) stay out of the environment, where
        every process the workers start would inherit them."""
        _handed_over["settings"] = self
        os.environ.pop("REALMGATE_CONFIG_FILE", None)
        os.environ[_HANDED_OVER] = "1"  # a process not forked from here must not guess

    def to_env(self) -> dict[str, str]:
        """These settings as ``REALMGATE_*`` variables, for worker processes that are not
        forked (where :meth:`hand_over` cannot reach them)."""
        env = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
            elif isinstance(value, bool):
                text = str(value).lower()
            else:
                text = str(value)
            env[f"REALMGATE_{name.upper()}"] = text
        return env

    def __repr__(self) -> str:  # the database URL may hold a password
        return f"Settings(data_dir={str(self.data_dir)!r}, port={self.port})"

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'realmgate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.database.startswith("sqlite")

    @property
    def key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def sso_base(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        base = self.issuer_base_url or f"{scheme}://{self.host}:{self.port}"
        return base.rstrip("/")

    @property
    def api_base(self) -> str:
        return (self.api_base_url or self.sso_base).rstrip("/")

    @property
    def audience(self) -> str:
        return self.api_audience or self.api_base

    def pinned_cpus(self) -> list[int]:
        """The CPUs to pin workers to, in order; empty: no pinning."""
        try:
            cpus = sorted(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not Linux
            return []
        if self.workers < 2 or self.worker_cpu_affinity == "off":
            return []
        if self.worker_cpu_affinity == "auto" and self.workers != len(cpus):
            return []
        return cpus

    def per_worker_sockets(self) -> bool:
        """Whether each worker gets its own socket (Linux's SO_REUSEPORT balances them; the
        BSDs' and macOS's option of that name does not)."""
        return (
            self.reuse_port
            and self.workers > 1
            and sys.platform.startswith("linux")
            and hasattr(socket, "SO_REUSEPORT")
        )

    def issuer(self, tenant: str) -> str:
        return f"{self.sso_base}/realms/{tenant}"
