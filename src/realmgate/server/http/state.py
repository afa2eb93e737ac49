"""What the routes share: settings, store, directory and the grant."""

from __future__ import annotations

from dataclasses import dataclass, field

from realmgate.server.api.auth import BearerAuth
from realmgate.server.core.grants import ClientCredentialsGrant
from realmgate.server.core.introspection import TokenIntrospection
from realmgate.server.core.realms import Directory
from realmgate.server.core.throttle import Throttle
from realmgate.server.core.traffic import TrafficRecorder
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
    # Tokens and failed client authentications per tenant and minute (the console's chart);
    # app.py flushes it to the database with ``flush_traffic``.
    traffic: TrafficRecorder = field(default_factory=TrafficRecorder)
    # The client-authentication throttle, also used for console sign-ins (tenant ``#console``).
    # None only where no throttle was built (app.py passes the app's).
    throttle: Throttle | None = None
