"""The protocol core: client authentication, the grant, tokens, settings, admin services.

It knows no HTTP: the HTTP layer parses a request into plain values, calls the core and
renders its result or its :class:`~realmgate.wire.errors.OAuthError`.
"""
