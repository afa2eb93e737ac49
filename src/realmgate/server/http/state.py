"""What the routes share: settings, store, directory and the grant."""

from __future__ import annotations

from dataclasses import dataclass

from realmgate.server.api.auth import BearerAuth
from realmgate.server.core.grants import ClientCredentialsGrant
from realmgate.server.core.introspection import TokenIntrospection
from realmgate.server.core.realms import Directory
from realmgate.server.http.metrics import Metrics
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import Store


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    store: Store
    directory: Directory
    grant: ClientCredentialsGrant
    introspection: TokenIntrospection
    metrics: Metrics
    bearer: BearerAuth
