"""Fixtures: a tenant of its own per test module on the session's real server."""

from __future__ import annotations

import pytest

from tests.sdk_integration.support import unique_shortcode
from tests.servers import Credentials, Server


@pytest.fixture(scope="module")
def tenant(server: Server) -> Credentials:
    """A fresh tenant and its onboarding client (role ``tenant-admin``)."""
    return server.create_tenant(unique_shortcode())
