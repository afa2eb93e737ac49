"""The ``realmgate`` command line: serve, tenant, client, keys (and the SDK's token/api)."""
