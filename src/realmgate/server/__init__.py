"""The realmgate server: authorization server, tenant API, storage and admin services.

Needs the ``server`` extra (``pip install 'realmgate[server]'``).
"""
