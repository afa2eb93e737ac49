"""``realmgate token`` and ``realmgate api settings get|set``: the client SDK from a shell.

These commands are an integrator's view of a running server: they authenticate with client
credentials over HTTP (:mod:`realmgate.client`) and never open the server's database.

Credentials come from flags or from the SDK's environment variables (a flag wins):
``--sso-url``/``REALMGATE_SSO_URL``, ``--tenant``/``REALMGATE_TENANT``,
``--client-id``/``REALMGATE_CLIENT_ID``, ``--scope``/``REALMGATE_SCOPE``,
``--api-url``/``REALMGATE_API_URL`` and the secret from ``--client-secret-file``,
``--client-secret`` or ``REALMGATE_CLIENT_SECRET``. Failures are one line on stderr (the OAuth
error code or the failing fields) and a non-zero exit code: 2 for bad usage or configuration,
1 for everything else. The secret never appears in any output.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn

import click
import typer
from rich.table import Table
from rich.text import Text

from realmgate.cli.output import console, emit_json, err_console
from realmgate.client import (
    ENV_API_URL,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_SCOPE,
    ENV_SSO_URL,
    ENV_TENANT,
    AccessToken,
    ApiAuthError,
    ApiFailError,
    ClientConfig,
    ConfigurationError,
    RealmgateClientError,
    Secret,
    TenantApiClient,
    TenantSettings,
    TokenProvider,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2

api_app = typer.Typer(
    help="Call the tenant API with client credentials (no database needed).",
    no_args_is_help=True,
)
settings_app = typer.Typer(
    help="The current tenant's settings (GET/PATCH /v2/tenants/current/settings).",
    no_args_is_help=True,
)
api_app.add_typer(settings_app, name="settings")


class AuthMethodChoice(enum.StrEnum):
    client_secret_post = "client_secret_post"
    client_secret_basic = "client_secret_basic"


SsoUrl = Annotated[
    str | None,
    typer.Option(
        "--sso-url",
        help=f"Base URL of the authorization server (env {ENV_SSO_URL}).",
        show_default=False,
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help=f"Tenant shortcode (env {ENV_TENANT}).", show_default=False),
]
ClientIdOpt = Annotated[
    str | None,
    typer.Option("--client-id", help=f"Client id (env {ENV_CLIENT_ID}).", show_default=False),
]
ClientSecretOpt = Annotated[
    str | None,
    typer.Option(
        "--client-secret",
        help=(
            "Client secret. Flags are visible to other users in `ps` and stay in shell history:"
            f" prefer {ENV_CLIENT_SECRET} or --client-secret-file."
        ),
        show_default=False,
    ),
]
ClientSecretFile = Annotated[
    str | None,
    typer.Option(
        "--client-secret-file",
        help="Read the client secret from this file ('-': standard input); one trailing "
        "newline is ignored.",
        show_default=False,
    ),
]
ScopeOpt = Annotated[
    str | None,
    typer.Option(
        "--scope", help=f"Space-separated scopes to request (env {ENV_SCOPE}).", show_default=False
    ),
]
AuthMethodOpt = Annotated[
    AuthMethodChoice,
    typer.Option("--auth-method", help="How the client authenticates to the token endpoint."),
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url", help=f"Base URL of the tenant API (env {ENV_API_URL}).", show_default=False
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


# --------------------------------------------------------------------------- errors


def _fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """One line on stderr (never wrapped, never interpreted as markup), then exit."""
    line = " ".join(message.split())
    err_console.print(Text.assemble(("error:", "bold red"), " ", line), soft_wrap=True)
    raise typer.Exit(code)


def _describe(exc: RealmgateClientError) -> str:
    if isinstance(exc, ApiFailError) and exc.data:
        fields = "; ".join(f"{name}: {problem}" for name, problem in exc.data.items())
        return f"{exc}: {fields}"
    if isinstance(exc, ApiAuthError) and exc.error and exc.error not in str(exc):
        return f"{exc} ({exc.error})"
    return str(exc)


@contextmanager
def _reported() -> Iterator[None]:
    """Turn every failure into one line on stderr and an exit code, never a traceback.

    The SDK's messages never contain the client secret or an access token.
    """
    try:
        yield
    except (typer.Exit, typer.Abort, click.exceptions.Exit, click.Abort, click.ClickException):
        raise
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)
    except RealmgateClientError as exc:
        _fail(_describe(exc))
    except Exception as exc:
        # Only the type: the message of an unexpected error could quote anything.
        _fail(f"unexpected {type(exc).__name__}; please report it")


# --------------------------------------------------------------------------- configuration


def _pick(flag: str | None, env_name: str) -> str | None:
    if flag is not None and flag.strip():
        return flag.strip()
    return os.environ.get(env_name, "").strip() or None


def _read_secret_file(path: str) -> str:
    try:
        if path == "-":
            raw = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                raw = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the client secret file {path}: {type(exc).__name__}", EXIT_USAGE)
    return raw.removesuffix("\n").removesuffix("\r")


def _secret(flag: str | None, path: str | None) -> str | None:
    if flag is not None and path is not None:
        _fail("give --client-secret or --client-secret-file, not both", EXIT_USAGE)
    if path is not None:
        return _read_secret_file(path)
    if flag:
        return flag
    return os.environ.get(ENV_CLIENT_SECRET) or None


def _config(
    *,
    sso_url: str | None,
    tenant: str | None,
    client_id: str | None,
    client_secret: str | None,
    client_secret_file: str | None,
    scope: str | None,
    auth_method: AuthMethodChoice,
    api_url: str | None = None,
    need_api: bool = False,
) -> ClientConfig:
    values = {
        "--sso-url": (_pick(sso_url, ENV_SSO_URL), ENV_SSO_URL),
        "--tenant": (_pick(tenant, ENV_TENANT), ENV_TENANT),
        "--client-id": (_pick(client_id, ENV_CLIENT_ID), ENV_CLIENT_ID),
        "--client-secret-file": (_secret(client_secret, client_secret_file), ENV_CLIENT_SECRET),
    }
    if need_api:
        values["--api-url"] = (_pick(api_url, ENV_API_URL), ENV_API_URL)
    missing = [f"{flag} (or {env})" for flag, (value, env) in values.items() if value is None]
    if missing:
        _fail("missing " + ", ".join(missing), EXIT_USAGE)
    secret = values["--client-secret-file"][0]
    assert secret is not None
    try:
        return ClientConfig(
            sso_base_url=str(values["--sso-url"][0]),
            tenant=str(values["--tenant"][0]),
            client_id=str(values["--client-id"][0]),
            client_secret=Secret(secret),
            scope=_pick(scope, ENV_SCOPE),
            auth_method=auth_method.value,
            api_base_url=values["--api-url"][0] if need_api else None,
        )
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)


# --------------------------------------------------------------------------- realmgate token


def _token_json(token: AccessToken) -> dict[str, Any]:
    lifetime = token.lifetime
    data: dict[str, Any] = {
        "access_token": token.value,
        "token_type": token.token_type,
        "expires_in": int(lifetime) if lifetime.is_integer() else lifetime,
    }
    if token.scope is not None:
        data["scope"] = token.scope
    return data


def token(
    sso_url: SsoUrl = None,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    client_secret: ClientSecretOpt = None,
    client_secret_file: ClientSecretFile = None,
    scope: ScopeOpt = None,
    auth_method: AuthMethodOpt = AuthMethodChoice.client_secret_post,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the token response (access_token, token_type, expires_in, scope).",
        ),
    ] = False,
) -> None:
    """Print an access token (client credentials grant) and nothing else.

    For scripts: curl -H "Authorization: Bearer $(realmgate token)" ...
    """
    config = _config(
        sso_url=sso_url,
        tenant=tenant,
        client_id=client_id,
        client_secret=client_secret,
        client_secret_file=client_secret_file,
        scope=scope,
        auth_method=auth_method,
    )
    with _reported(), TokenProvider.from_config(config) as provider:
        access_token = provider.get_token()
    if as_json:
        emit_json(_token_json(access_token))
    else:
        sys.stdout.write(access_token.value + "\n")


# --------------------------------------------------------------------------- realmgate api settings


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _iso(value: datetime) -> str:
    text = value.isoformat()
    if value.utcoffset() == timedelta(0):
        text = text.replace("+00:00", "Z")
    return text


def settings_json(settings: TenantSettings) -> dict[str, Any]:
    """The settings as the API spells them (camelCase keys), unknown fields included."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, tuple):
            value = list(value)
        data[_camel(f.name)] = value
    data.update(settings.extra)
    return data


def _show(settings: TenantSettings, as_json: bool) -> None:
    data = settings_json(settings)
    if as_json:
        emit_json(data)
        return
    t = Table(title=f"Settings of tenant {settings.shortcode}", title_justify="left")
    t.add_column("setting")
    t.add_column("value")
    for key, value in data.items():
        shown = value if isinstance(value, str) else json.dumps(value)
        t.add_row(Text(key), Text(shown))
    console.print(t)


def parse_assignments(assignments: list[str]) -> dict[str, object]:
    """``field=value`` pairs; a value is parsed as JSON when it parses, else taken as a string.

    ``duplicateCheck=true`` gives ``True``, ``maxActiveWebhooksPerUser=5`` gives ``5``,
    ``locale=de-AT`` gives ``"de-AT"`` and ``defaultTranscriptionLanguage=null`` gives ``None``.
    """
    changes: dict[str, object] = {}
    for item in assignments:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            _fail(f"expected FIELD=VALUE, got {item!r}", EXIT_USAGE)
        if name in changes:
            _fail(f"setting {name!r} is given twice", EXIT_USAGE)
        try:
            value: object = json.loads(raw)
        except ValueError:
            value = raw
        changes[name] = value
    return changes


def _api(config: ClientConfig) -> TenantApiClient:
    assert config.api_base_url is not None
    return TenantApiClient(
        config.api_base_url, TokenProvider.from_config(config), close_provider=True
    )


@settings_app.command("get")
def settings_get(
    api_url: ApiUrl = None,
    sso_url: SsoUrl = None,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    client_secret: ClientSecretOpt = None,
    client_secret_file: ClientSecretFile = None,
    scope: ScopeOpt = None,
    auth_method: AuthMethodOpt = AuthMethodChoice.client_secret_post,
    as_json: JsonOut = False,
) -> None:
    """Show the settings of the tenant the client belongs to."""
    config = _config(
        sso_url=sso_url,
        tenant=tenant,
        client_id=client_id,
        client_secret=client_secret,
        client_secret_file=client_secret_file,
        scope=scope,
        auth_method=auth_method,
        api_url=api_url,
        need_api=True,
    )
    with _reported(), _api(config) as api:
        settings = api.get_settings()
    _show(settings, as_json)


@settings_app.command("set")
def settings_set(
    assignments: Annotated[
        list[str],
        typer.Argument(
            metavar="FIELD=VALUE...",
            help="Settings to change, camelCase or snake_case; values are JSON when they "
            "parse as JSON, else strings: duplicateCheck=true maxActiveWebhooksPerUser=5 "
            "locale=de-AT defaultTranscriptionLanguage=null name='\"2024\"'.",
            show_default=False,
        ),
    ],
    api_url: ApiUrl = None,
    sso_url: SsoUrl = None,
    tenant: TenantOpt = None,
    client_id: ClientIdOpt = None,
    client_secret: ClientSecretOpt = None,
    client_secret_file: ClientSecretFile = None,
    scope: ScopeOpt = None,
    auth_method: AuthMethodOpt = AuthMethodChoice.client_secret_post,
    as_json: JsonOut = False,
) -> None:
    """Change settings (one JSON merge patch: all or nothing); shows the result.

    Needs a client with the role tenant-admin.
    """
    changes = parse_assignments(assignments)
    config = _config(
        sso_url=sso_url,
        tenant=tenant,
        client_id=client_id,
        client_secret=client_secret,
        client_secret_file=client_secret_file,
        scope=scope,
        auth_method=auth_method,
        api_url=api_url,
        need_api=True,
    )
    with _reported(), _api(config) as api:
        settings = _update(api, changes)
    _show(settings, as_json)


def _update(api: TenantApiClient, changes: Mapping[str, object]) -> TenantSettings:
    try:
        return api.update_settings(changes)
    except RealmgateClientError:
        raise
    except (ValueError, TypeError) as exc:
        # Unknown, read-only or mistyped fields, refused before any request is made.
        hint = " (a value is JSON when it parses as JSON, else a string)"
        _fail(f"invalid setting: {exc}{hint if isinstance(exc, TypeError) else ''}", EXIT_USAGE)
