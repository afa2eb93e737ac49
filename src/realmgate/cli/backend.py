"""Where the admin commands act: on the database (local) or on a server over HTTPS (remote).

Every ``realmgate tenant|client|keys|audit`` command takes the same options (added by
:func:`targeted`): ``--data-dir``/``--database-url`` for the database the server uses, or
``--server URL`` (``REALMGATE_SERVER``) or ``--admin-profile NAME`` for a server's
``/admin/realmgate`` API with admin client credentials (:mod:`realmgate.cli.remote`).
Both backends return the same JSON documents (:mod:`realmgate.server.core.admin_views`), so
a command prints the same output and ``--json`` either way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer

from realmgate.cli.context import DatabaseUrl, DataDir, make_settings, runtime, user
from realmgate.cli.output import fail
from realmgate.server.core.admin import Admin, AdminError
from realmgate.server.core.admin_ops import AdminOps
from realmgate.server.core.admin_views import (
    audit_view,
    client_view,
    credentials_view,
    key_view,
    not_before_view,
    tenant_config_view,
    tenant_summary,
    tenant_view,
)
from realmgate.server.core.client_config import ConfigError, check_binding
from realmgate.server.core.throttle import FailureCounters
from realmgate.server.runtime import Runtime
from realmgate.server.storage.records import AuthMethod, TokenProfile

R = TypeVar("R")
Json = dict[str, Any]

ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="REALMGATE_SERVER",
        help="Act on this server over HTTPS (env REALMGATE_SERVER) with admin client "
        "credentials from REALMGATE_ADMIN_CLIENT_ID / REALMGATE_ADMIN_CLIENT_SECRET "
        "(REALMGATE_ADMIN_REALM, default master) or the profile file.",
        show_default=False,
    ),
]
CaFile = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        envvar="REALMGATE_CA_FILE",
        help="CA bundle (PEM) that signed the server's certificate (env REALMGATE_CA_FILE).",
        show_default=False,
    ),
]
AdminProfile = Annotated[
    str | None,
    typer.Option(
        "--admin-profile",
        envvar="REALMGATE_ADMIN_PROFILE",
        help="Server and admin credentials from this section of the profile file "
        "(~/.config/realmgate/admin.toml or REALMGATE_ADMIN_PROFILE_FILE; mode 0600).",
        show_default=False,
    ),
]


@dataclass(frozen=True, slots=True)
class Target:
    """The options that say where a command acts."""

    data_dir: Path | None = None
    database_url: str | None = None
    server: str | None = None
    ca_file: Path | None = None
    admin_profile: str | None = None

    @property
    def remote(self) -> bool:
        return self.server is not None or self.admin_profile is not None


_TARGET_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)
    for name, annotation in (
        ("data_dir", DataDir),
        ("database_url", DatabaseUrl),
        ("server", ServerUrl),
        ("ca_file", CaFile),
        ("admin_profile", AdminProfile),
    )
]


def targeted(fn: Callable[..., R]) -> Callable[..., R]:
    """Give a command the options of :class:`Target`: the command declares a last parameter
    ``target: Target`` and receives them in it."""
    sig = inspect.signature(fn, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "target"]

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> R:
        target = Target(**{p.name: kwargs.pop(p.name, None) for p in _TARGET_PARAMS})
        return fn(*args, target=target, **kwargs)

    command.__signature__ = sig.replace(parameters=params + _TARGET_PARAMS)  # type: ignore[attr-defined]
    return command


class Backend(Protocol):
    """The admin operations, answering the JSON documents of ``--json``."""

    def create_tenant(
        self, shortcode: str, *, name: str | None, algorithm: str | None, client_id: str | None
    ) -> Json: ...
    def list_tenants(self) -> list[Json]: ...
    def show_tenant(self, tenant: str) -> Json: ...
    def configure_tenant(
        self,
        tenant: str,
        *,
        lifespan: int | None,
        max_lifespan: int | None,
        scopes: dict[str, str],
        remove_scopes: tuple[str, ...],
        dpop_required: bool | None = None,
    ) -> Json: ...
    def revoke_tenant_tokens(self, tenant: str) -> Json: ...
    def delete_tenant(self, tenant: str) -> None: ...
    def tenant_settings(self, tenant: str, patch: Json | None) -> Json: ...
    def throttle_state(self, tenant: str) -> Json: ...
    def unblock(self, tenant: str, *, client_id: str | None, source: str | None) -> Json: ...
    def list_keys(self, tenant: str) -> list[Json]: ...
    def rotate_key(self, tenant: str, *, algorithm: str | None, emergency: bool) -> Json: ...
    def key_policy(self, tenant: str) -> Json: ...
    def set_key_policy(self, tenant: str, period: int | None) -> Json: ...
    def create_client(
        self,
        tenant: str,
        client_id: str,
        *,
        roles: tuple[str, ...],
        auth_method: str,
        jwks: Json | None,
        jwks_uri: str | None,
        binding: str | None = None,
        tls_subject_dn: str | None = None,
        tls_san: str | None = None,
    ) -> Json: ...
    def list_clients(self, tenant: str) -> list[Json]: ...
    def show_client(self, tenant: str, client_id: str) -> Json: ...
    def configure_client(self, tenant: str, client_id: str, **options: Any) -> Json:
        """``options``: the keyword arguments of ``Admin.configure_client``."""
        ...

    def set_client_enabled(self, tenant: str, client_id: str, enabled: bool) -> Json: ...
    def delete_client(self, tenant: str, client_id: str) -> None: ...
    def rotate_secret(self, tenant: str, client_id: str, grace: int) -> Json: ...
    def end_previous_secret(self, tenant: str, client_id: str) -> Json: ...
    def revoke_client_tokens(self, tenant: str, client_id: str) -> Json: ...
    def list_audit(
        self,
        *,
        tenant: str | None,
        limit: int,
        first: int,
        actor: str | None,
        action: str | None,
        since: int | None,
        until: int | None,
    ) -> list[Json]: ...


class LocalBackend:
    """The admin services straight on the database (the operator's own shell)."""

    def __init__(self, admin: Admin, counters: FailureCounters):
        self.admin = admin
        self.ops = AdminOps(admin, counters)

    def create_tenant(
        self, shortcode: str, *, name: str | None, algorithm: str | None, client_id: str | None
    ) -> Json:
        creds = self.admin.create_tenant(
            shortcode, name=name, signing_alg=algorithm, client_id=client_id
        )
        return credentials_view(creds)

    def list_tenants(self) -> list[Json]:
        return [tenant_summary(t) for t in self.admin.list_tenants()]

    def show_tenant(self, tenant: str) -> Json:
        record = self.admin.get_tenant(tenant)
        return tenant_view(record, self.admin.list_clients(tenant))

    def configure_tenant(
        self,
        tenant: str,
        *,
        lifespan: int | None,
        max_lifespan: int | None,
        scopes: dict[str, str],
        remove_scopes: tuple[str, ...],
        dpop_required: bool | None = None,
    ) -> Json:
        record = self.admin.configure_tenant(
            tenant,
            access_token_lifespan=lifespan,
            session_max_lifespan=max_lifespan,
            scopes=scopes,
            remove_scopes=remove_scopes,
            dpop_required=dpop_required,
        )
        return tenant_config_view(record)

    def revoke_tenant_tokens(self, tenant: str) -> Json:
        return not_before_view(tenant, self.admin.revoke_tenant_tokens(tenant))

    def delete_tenant(self, tenant: str) -> None:
        self.admin.delete_tenant(tenant)

    def tenant_settings(self, tenant: str, patch: Json | None) -> Json:
        if patch is None:
            return self.ops.settings(tenant)
        return self.ops.patch_settings(tenant, patch)

    def throttle_state(self, tenant: str) -> Json:
        return self.ops.throttle_state(tenant)

    def unblock(self, tenant: str, *, client_id: str | None, source: str | None) -> Json:
        # The operator with the database is an admin of every realm.
        return self.ops.unblock(tenant, client_id=client_id, source=source, any_source=True)

    def list_keys(self, tenant: str) -> list[Json]:
        return [key_view(k) for k in self.admin.list_keys(tenant)]

    def rotate_key(self, tenant: str, *, algorithm: str | None, emergency: bool) -> Json:
        return key_view(self.admin.rotate_key(tenant, signing_alg=algorithm, emergency=emergency))

    def key_policy(self, tenant: str) -> Json:
        return self.ops.key_policy(tenant)

    def set_key_policy(self, tenant: str, period: int | None) -> Json:
        return self.ops.set_key_policy(tenant, period)

    def create_client(
        self,
        tenant: str,
        client_id: str,
        *,
        roles: tuple[str, ...],
        auth_method: str,
        jwks: Json | None,
        jwks_uri: str | None,
        binding: str | None = None,
        tls_subject_dn: str | None = None,
        tls_san: str | None = None,
    ) -> Json:
        method: AuthMethod = auth_method  # type: ignore[assignment]  # checked by the service
        bound = _binding(binding)
        creds = self.admin.create_client(
            tenant,
            client_id,
            roles=roles,
            auth_method=method,
            jwks=jwks,
            jwks_uri=jwks_uri,
            tls_subject_dn=tls_subject_dn,
            tls_san=tls_san,
            dpop_bound=bound.get("dpop_bound", False),
            cert_bound=bound.get("cert_bound", False),
        )
        return credentials_view(creds)

    def list_clients(self, tenant: str) -> list[Json]:
        return [client_view(c) for c in self.admin.list_clients(tenant)]

    def show_client(self, tenant: str, client_id: str) -> Json:
        return client_view(self.admin.get_client(tenant, client_id))

    def configure_client(self, tenant: str, client_id: str, **options: Any) -> Json:
        profile: TokenProfile | None = options.pop("token_profile", None)
        options.update(_binding(options.pop("binding", None)))
        record = self.admin.configure_client(tenant, client_id, token_profile=profile, **options)
        return client_view(record)

    def set_client_enabled(self, tenant: str, client_id: str, enabled: bool) -> Json:
        return client_view(self.admin.set_client_enabled(tenant, client_id, enabled))

    def delete_client(self, tenant: str, client_id: str) -> None:
        self.admin.delete_client(tenant, client_id)

    def rotate_secret(self, tenant: str, client_id: str, grace: int) -> Json:
        return credentials_view(self.admin.rotate_secret(tenant, client_id, grace=grace))

    def end_previous_secret(self, tenant: str, client_id: str) -> Json:
        return client_view(self.admin.end_previous_secret(tenant, client_id))

    def revoke_client_tokens(self, tenant: str, client_id: str) -> Json:
        at = self.admin.revoke_client_tokens(tenant, client_id)
        return not_before_view(tenant, at, client_id)

    def list_audit(
        self,
        *,
        tenant: str | None,
        limit: int,
        first: int,
        actor: str | None,
        action: str | None,
        since: int | None,
        until: int | None,
    ) -> list[Json]:
        events = self.ops.audit(
            tenant=tenant,
            limit=limit,
            first=first,
            actor=actor,
            action=action,
            since=since,
            until=until,
        )
        return [audit_view(e) for e in events]


def _binding(name: str | None) -> dict[str, bool]:
    """``--binding`` as the admin services' ``dpop_bound``/``cert_bound`` (none: unchanged)."""
    if name is None:
        return {}
    try:
        dpop_bound, cert_bound = check_binding(name)
    except ConfigError as exc:
        raise AdminError(str(exc)) from None
    return {"dpop_bound": dpop_bound, "cert_bound": cert_bound}


def _counters(rt: Runtime) -> FailureCounters:
    if rt.settings.redis_url:
        from realmgate.server.redis_counters import RedisCounters

        return RedisCounters(rt.settings.redis_url)
    return rt.store


@contextmanager
def open_backend(target: Target) -> Iterator[Backend]:
    """The backend ``target`` names; its errors end the command with ``error: ...``."""
    if target.remote:
        if target.data_dir is not None or target.database_url is not None:
            fail("--server/--admin-profile and --data-dir/--database-url exclude each other", 2)
        from realmgate.cli.remote import RemoteBackend, RemoteError

        try:
            with RemoteBackend.open(target.server, target.ca_file, target.admin_profile) as remote:
                yield remote
        except RemoteError as exc:
            fail(str(exc), exc.exit_code)
        return
    settings = make_settings(data_dir=target.data_dir, database_url=target.database_url)
    with runtime(settings) as rt:
        admin = Admin(rt.store, rt.vault, rt.settings, actor=f"cli:{user()}")
        try:
            yield LocalBackend(admin, _counters(rt))
        except AdminError as exc:
            fail(str(exc))


__all__ = ["Backend", "LocalBackend", "Target", "open_backend", "targeted"]
