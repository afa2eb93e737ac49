"""Import of Keycloak realm exports (``kc.sh export``, the admin console's partial export, the
``POST /admin/realms`` and ``partialImport`` bodies) into realmgate.

- :mod:`.reader`: files and directories to realm representations, with size and depth caps and
  errors that name the JSON path;
- :mod:`.plan`: a representation to an :class:`~.plan.ImportPlan` (what becomes what, and the
  migration report's rows) without touching storage;
- :mod:`.apply`: a plan to records, written in one transaction per realm;
- :mod:`.report`: the migration report, as a table and as JSON;
- :mod:`.keys`: Keycloak's key providers to signing keys with Keycloak's ``kid``.
"""
