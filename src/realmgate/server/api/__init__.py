"""The tenant API under ``/v2``: JSend bodies; bearer tokens checked by the verifier."""
