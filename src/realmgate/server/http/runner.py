"""Running the app on uvicorn: one process or several workers, plain HTTP or TLS 1.2+.

Exposure rules: binding a non-loopback address needs TLS (``--tls-cert``/``--tls-key``), or a
trusted TLS-terminating reverse proxy (``--forwarded-allow-ips``), or an explicit
``--insecure-http``; and the public issuer URL must then be configured, because issuer URLs
never come from request headers.
"""

from __future__ import annotations

import gc
import importlib
import ipaddress
import logging
import resource
import ssl
from typing import TYPE_CHECKING, Any

import uvicorn

from realmgate.server.http.direct import PROTOCOL
from realmgate.server.http.protocol import HttpLimits, check_uvicorn, configure
from realmgate.server.http.workers import (
    WorkerSupervisor,
    bind_worker_sockets,
    fork_available,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from realmgate.server.settings import Settings

FACTORY = "realmgate.server.http.asgi:app_from_env"
log = logging.getLogger("realmgate.http")
SPARE_FILES = 128  # descriptors a worker needs besides its connections (database, logs, ...)


class ExposureError(Exception):
    """The server would be reachable from other hosts without TLS or a public issuer URL."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ExposureError("TLS needs both --tls-cert and --tls-key")
    if settings.client_cert_header and not settings.client_cert_proxies:
        raise ExposureError(
            "client_cert_header needs client_cert_proxies: the proxies whose header is believed"
        )
    if is_loopback(settings.host):
        return
    if (
        settings.tls_cert is None
        and not settings.forwarded_allow_ips
        and not settings.insecure_http
    ):
        raise ExposureError(
            f"refusing to serve plain HTTP on {settings.host}: pass --tls-cert and --tls-key, "
            "or --forwarded-allow-ips for a TLS-terminating reverse proxy, or --insecure-http"
        )
    if settings.issuer_base_url is None:
        raise ExposureError(
            f"serving on {settings.host} needs the public URL: pass --issuer-base-url "
            "(and --api-base-url if the API has its own host)"
        )


class TlsConfig(uvicorn.Config):
    """uvicorn's config with TLS 1.2 as the lowest protocol version."""

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            self.ssl.minimum_version = ssl.TLSVersion.TLSv1_2


def http_limits(settings: Settings) -> HttpLimits:
    """The connection bounds of ``settings``, with at most as many connections per worker as
    this process may open files (the soft limit is raised to the hard one when lower)."""
    wanted = settings.http_max_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        except (ValueError, OSError):
            pass
    connections = settings.http_max_connections
    if soft != resource.RLIM_INFINITY and soft < wanted:
        connections = max(16, soft - SPARE_FILES)
        log.warning(
            "http_max_connections lowered to %d: this process may open only %d files",
            connections,
            soft,
        )
    return HttpLimits(
        read_timeout=settings.http_read_timeout,
        max_head_bytes=settings.http_max_head_bytes,
        max_headers=settings.http_max_headers,
        max_connections=connections,
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for ``settings`` (and the connection bounds of this process)."""
    check_uvicorn()
    configure(http_limits(settings))
    options: dict[str, Any] = {
        "http": PROTOCOL,
        "ws": "none",
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": settings.http_keep_alive_timeout,
    }
    if settings.tls_cert is not None:
        options.update(ssl_certfile=str(settings.tls_cert), ssl_keyfile=str(settings.tls_key))
        if settings.tls_client_ca is not None:
            # Mutual TLS (RFC 8705): a certificate is asked for, optional, and verified
            # against these CAs by the handshake (one that does not chain is refused there).
            options.update(
                ssl_ca_certs=str(settings.tls_client_ca), ssl_cert_reqs=ssl.CERT_OPTIONAL
            )
    if settings.forwarded_allow_ips:
        options.update(proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
    else:
        options.update(proxy_headers=False)
    return options


def run(settings: Settings, app: Starlette | None) -> None:
    """Serve ``app`` in this process, or (``app`` None) the factory in ``settings.workers``."""
    if app is not None:
        uvicorn.Server(TlsConfig(app, **uvicorn_options(settings))).run()
        return
    run_workers(
        uvicorn_options(settings),
        settings.workers,
        settings.pinned_cpus(),
        reuse_port=settings.per_worker_sockets(),
        fork=fork_available(),
    )


def run_workers(
    options: dict[str, Any],
    workers: int,
    cpus: list[int] | None = None,
    *,
    reuse_port: bool = False,
    fork: bool = False,
) -> None:
    """Supervise ``workers`` processes that serve the app factory (settings from the env),
    pinned to ``cpus`` when given (see ``Settings.worker_cpu_affinity``), each on a socket of
    its own when ``reuse_port``, forked from this process when ``fork`` (see
    :mod:`realmgate.server.http.workers`)."""
    config = TlsConfig(FACTORY, factory=True, workers=workers, **options)
    if fork:
        importlib.import_module(FACTORY.partition(":")[0])  # once, for every worker
        # What is loaded now stays out of the workers' garbage collections, and its memory
        # pages stay shared with them (no copy on write from reference counting by the GC).
        gc.collect()
        gc.freeze()
    sockets = bind_worker_sockets(config, workers) if reuse_port else [config.bind_socket()]
    WorkerSupervisor(config, sockets, cpus, per_worker=reuse_port, fork=fork).run()
