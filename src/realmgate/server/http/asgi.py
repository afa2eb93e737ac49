"""The application factory that uvicorn worker processes import (``serve --workers N``)."""

from __future__ import annotations

from starlette.applications import Starlette

from realmgate.server.http.app import create_app
from realmgate.server.http.observability import configure_logging
from realmgate.server.http.protocol import configure
from realmgate.server.http.runner import http_limits
from realmgate.server.runtime import open_runtime
from realmgate.server.settings import Settings


def app_from_env() -> Starlette:
    """Build the app from ``REALMGATE_*`` variables; the parent process has migrated already."""
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    configure(http_limits(settings))  # a spawned worker; a forked one has them already
    return create_app(open_runtime(settings, upgrade=False))
