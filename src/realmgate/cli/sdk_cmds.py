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
import json
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from realmgate.cli.output import console, emit_json
from realmgate.cli.sdk_options import (
    EXIT_USAGE,
    ApiUrl,
    AuthMethodChoice,
    AuthMethodOpt,
    CaFileOpt,
    CertOpt,
    ClientIdOpt,
    ClientSecretFile,
    ClientSecretOpt,
    DpopKeyOpt,
    JsonOut,
    KeyOpt,
    ScopeOpt,
    SsoUrl,
    TenantOpt,
    _config,
    _fail,
    _reported,
    dpop_key,
    http_client,
)
from realmgate.client import (
    AccessToken,
    ClientConfig,
    DpopKey,
    RealmgateClientError,
    TenantApiClient,
    TenantSettings,
    TokenProvider,
)

api_app = typer.Typer(
    help="Call the tenant API with client credentials (no database needed).",
    no_args_is_help=True,
)
settings_app = typer.Typer(
    help="The current tenant's settings (GET/PATCH /v2/tenants/current/settings).",
    no_args_is_help=True,
)
api_app.add_typer(settings_app, name="settings")


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
    dpop_key_file: DpopKeyOpt = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    ca_file: CaFileOpt = None,
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

    With --dpop-key: a DPoP-bound token (its token_type on stderr), usable with that key only.
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
    key_pair = dpop_key(dpop_key_file)
    with _reported(), _provider(config, key_pair, cert, key, ca_file) as (provider, _):
        access_token = provider.get_token()
    if as_json:
        emit_json(_token_json(access_token))
        return
    sys.stdout.write(access_token.value + "\n")
    if key_pair is not None:
        # stderr: stdout stays the token alone, for $(realmgate token ...).
        kind = access_token.token_type
        bound = f", bound to the key with thumbprint {key_pair.jkt}" if access_token.is_dpop else ""
        sys.stderr.write(f"token_type: {kind}{bound}\n")


@contextmanager
def _provider(
    config: ClientConfig,
    key_pair: DpopKey | None,
    cert: str | None,
    key: str | None,
    ca_file: str | None,
) -> Iterator[tuple[TokenProvider, httpx.Client | None]]:
    """A provider with the DPoP key, and the HTTP client with the TLS options if any (both
    closed after use)."""
    with ExitStack() as stack:
        client = http_client(cert, key, ca_file)
        if client is not None:
            stack.enter_context(client)
        provider = TokenProvider.from_config(config, http_client=client, dpop_key=key_pair)
        yield stack.enter_context(provider), client


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


@contextmanager
def _api(
    config: ClientConfig,
    key_file: str | None,
    cert: str | None,
    key: str | None,
    ca_file: str | None,
) -> Iterator[TenantApiClient]:
    assert config.api_base_url is not None
    with (
        _provider(config, dpop_key(key_file), cert, key, ca_file) as (provider, client),
        TenantApiClient(config.api_base_url, provider, http_client=client) as api,
    ):
        yield api


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
    dpop_key_file: DpopKeyOpt = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    ca_file: CaFileOpt = None,
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
    with _reported(), _api(config, dpop_key_file, cert, key, ca_file) as api:
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
    dpop_key_file: DpopKeyOpt = None,
    cert: CertOpt = None,
    key: KeyOpt = None,
    ca_file: CaFileOpt = None,
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
    with _reported(), _api(config, dpop_key_file, cert, key, ca_file) as api:
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
