"""Options and credential handling shared by the SDK commands (``realmgate token``, ``api``)."""

from __future__ import annotations

import enum
import os
import ssl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import click
import httpx
import typer
from rich.text import Text

from realmgate.cli.output import err_console
from realmgate.client import (
    ENV_API_URL,
    ENV_CLIENT_ID,
    ENV_CLIENT_SECRET,
    ENV_SCOPE,
    ENV_SSO_URL,
    ENV_TENANT,
    ApiAuthError,
    ApiFailError,
    ClientConfig,
    ConfigurationError,
    DpopKey,
    RealmgateClientError,
    Secret,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


class AuthMethodChoice(enum.StrEnum):
    client_secret_post = "client_secret_post"
    client_secret_basic = "client_secret_basic"
    tls_client_auth = "tls_client_auth"
    self_signed_tls_client_auth = "self_signed_tls_client_auth"


TLS_METHODS = (AuthMethodChoice.tls_client_auth, AuthMethodChoice.self_signed_tls_client_auth)
HTTP_TIMEOUT = 10.0


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
DpopKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--dpop-key",
        help="Get a DPoP-bound token (RFC 9449) with the private key in this PEM file; a new "
        "ES256 key is created there (mode 0600) if the file does not exist.",
        show_default=False,
    ),
]
CertOpt = Annotated[
    str | None,
    typer.Option(
        "--cert",
        help="TLS client certificate (PEM) for mutual TLS (RFC 8705): --auth-method "
        "tls_client_auth, or a certificate-bound token.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key", help="Private key (PEM) of --cert, if not in the same file.", show_default=False
    ),
]
CaFileOpt = Annotated[
    str | None,
    typer.Option(
        "--ca-file",
        help="CA certificates (PEM) to verify the server with, instead of the system's.",
        show_default=False,
    ),
]


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
    tls = auth_method in TLS_METHODS
    values = {
        "--sso-url": (_pick(sso_url, ENV_SSO_URL), ENV_SSO_URL),
        "--tenant": (_pick(tenant, ENV_TENANT), ENV_TENANT),
        "--client-id": (_pick(client_id, ENV_CLIENT_ID), ENV_CLIENT_ID),
        # The mutual TLS methods authenticate with the certificate: no secret is read.
        "--client-secret-file": (
            "" if tls else _secret(client_secret, client_secret_file),
            ENV_CLIENT_SECRET,
        ),
    }
    if tls and (client_secret is not None or client_secret_file is not None):
        _fail(f"{auth_method.value} takes no client secret", EXIT_USAGE)
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


def dpop_key(path: str | None) -> DpopKey | None:
    """The key of ``--dpop-key`` (created as a new ES256 key if the file does not exist)."""
    if path is None:
        return None
    try:
        return DpopKey.load_or_create(path)
    except ConfigurationError as exc:
        _fail(str(exc), EXIT_USAGE)


def http_client(cert: str | None, key: str | None, ca_file: str | None) -> httpx.Client | None:
    """An HTTP client presenting ``--cert``/``--key`` and trusting ``--ca-file``; ``None``
    when neither is given (the SDK's own client then)."""
    if cert is None and key is None and ca_file is None:
        return None
    if key is not None and cert is None:
        _fail("--key needs --cert", EXIT_USAGE)
    try:
        context = (
            ssl.create_default_context(cafile=ca_file)
            if ca_file is not None
            else httpx.create_ssl_context()
        )
        if cert is not None:
            context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"cannot load the TLS files: {type(exc).__name__}", EXIT_USAGE)
    return httpx.Client(verify=context, timeout=HTTP_TIMEOUT)
