"""Storage: the narrow :class:`Store` protocol, its records, and the SQL implementation."""

from realmgate.server.storage.protocols import Store
from realmgate.server.storage.records import Change, ClientRecord, KeyRecord, TenantRecord

__all__ = ["Change", "ClientRecord", "KeyRecord", "Store", "TenantRecord"]
