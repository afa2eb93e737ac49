"""realmgate: a self-hosted OAuth 2.0 client-credentials authorization server.

The base package holds what integrators need without the server: the client SDK
(:mod:`realmgate.client`) and the token verifier (:mod:`realmgate.verifier`).
The server lives in :mod:`realmgate.server` and needs the ``server`` extra.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
