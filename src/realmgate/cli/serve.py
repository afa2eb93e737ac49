"""``realmgate serve``: run the server; on an empty database, onboard the tenant ``demo`` and
the administrative realm ``master`` with its admin client."""

from __future__ import annotations

import multiprocessing
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from realmgate.cli.context import DatabaseUrl, DataDir, make_settings, runtime
from realmgate.cli.output import console, fail
from realmgate.server.core.admin import MASTER, Admin, IssuedCredentials
from realmgate.server.core.operators import Operators, bootstrap_operator
from realmgate.server.settings import Settings

DEMO_TENANT = "demo"


def stdout_is_terminal() -> bool:
    try:
        return sys.stdout is not None and sys.stdout.isatty()
    except ValueError:  # closed
        return False


def _withheld(settings: Settings, what: str, command: str) -> bool:
    """Whether a first-start secret stays unprinted (standard output is no terminal and
    ``bootstrap_demo_secret`` does not ask for it); if so, print the command that makes one."""
    if settings.bootstrap_demo_secret == "stdout" or stdout_is_terminal():
        return False
    if settings.database_url is None:
        command += f" --data-dir {shlex.quote(str(settings.data_dir))}"
    else:
        command += " (with this server's REALMGATE_DATABASE_URL)"
    console.print(
        f"Its {what} is shown on a terminal only, never in a log. Make one with:", highlight=False
    )
    console.print(f"  {escape(command)}", highlight=False, soft_wrap=True)
    return True


def print_demo_credentials(
    creds: IssuedCredentials,
    settings: Settings,
    what: str = "the tenant 'demo'",
) -> None:
    """Printed once, on the first start, and the secret only to a terminal (or where
    ``bootstrap_demo_secret`` asks for it): never into a service's log. Also the admin
    client's, ``what`` saying which."""
    console.print(f"[bold green]First start: created {escape(what)}.[/]")
    console.print(f"  tenantShortcode: {creds.tenant}", highlight=False)
    console.print(f"  clientId:        {creds.client_id}", highlight=False)
    rotate = f"realmgate client rotate-secret {creds.tenant} {creds.client_id} --grace 0"
    if _withheld(settings, "client secret", rotate):
        return
    url = f"{settings.issuer(creds.tenant)}/protocol/openid-connect/token"
    curl = (
        f"curl --request POST --url {shlex.quote(url)} "
        "--header 'Content-Type: application/x-www-form-urlencoded' "
        "--data grant_type=client_credentials "
        f"--data client_id={shlex.quote(creds.client_id)} "
        f"--data client_secret={shlex.quote(creds.client_secret)}"
    )
    console.print(f"  clientSecret:    {creds.client_secret}", highlight=False)
    console.print("Get a token:", highlight=False)
    console.print(f"  {escape(curl)}", highlight=False, soft_wrap=True)
    console.print("[yellow]The client secret is shown only this once: store it now.[/]")


def bootstrap(admin: Admin, settings: Settings) -> None:
    """The first start of an empty database: the tenant ``demo`` (``bootstrap_demo``) and the
    realm ``master`` with its admin client (``bootstrap_admin``), their credentials printed
    once (the demo's first)."""
    if settings.bootstrap_demo:
        creds = admin.create_tenant(DEMO_TENANT, name="Demo")
        print_demo_credentials(creds, settings)
    if settings.bootstrap_admin:
        creds = admin.create_admin_client()
        what = f"the realm '{MASTER}' and its admin client"
        print_demo_credentials(creds, settings, what)


def bootstrap_console(admin: Admin, settings: Settings) -> None:
    """The console operator ``admin`` (``bootstrap_operator``) when there is no operator:
    on the first start, and on the first start after an upgrade from a version without the
    console. Its password is printed once (terminal only)."""
    if settings.bootstrap_operator and settings.console_enabled:
        password = bootstrap_operator(
            Operators(admin.store, admin.vault, settings, actor="system:first-start")
        )
        if password is not None:
            print_operator_password("admin", password, settings)


def print_operator_password(username: str, password: str, settings: Settings) -> None:
    """The first operator's password, printed once and as the demo secret is: on a terminal
    only (or where ``bootstrap_demo_secret`` asks for it), never into a service's log."""
    console.print(f"[bold green]First start: created the console operator {username!r}.[/]")
    console.print(f"  console:  {settings.sso_base}{settings.console_path}/", highlight=False)
    console.print(f"  username: {username}", highlight=False)
    if _withheld(settings, "password", f"realmgate operator passwd {username} --generate"):
        return
    console.print(f"  password: {password}", highlight=False, soft_wrap=True)
    console.print("[yellow]The password is shown only this once: store it now.[/]")


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            help=escape(
                "Config file (dotenv syntax, REALMGATE_* names) [env REALMGATE_CONFIG_FILE]."
            )
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help=escape("Address to bind [default: 127.0.0.1]."))
    ] = None,
    port: Annotated[int | None, typer.Option(help=escape("Port to bind [default: 8080]."))] = None,
    workers: Annotated[
        int | None,
        typer.Option(help=escape("Worker processes [default: 1]; one per core is usual.")),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    issuer_base_url: Annotated[
        str | None,
        typer.Option(
            help=escape("Public base URL of the authorization server [default: http://HOST:PORT].")
        ),
    ] = None,
    api_base_url: Annotated[
        str | None,
        typer.Option(help=escape("Public base URL of the tenant API [default: issuer base].")),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    master_key_file: Annotated[
        Path | None, typer.Option(help=escape("Master key file [default: DATA_DIR/master.key]."))
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="PEM certificate file: serve HTTPS (TLS 1.2+).")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="PEM private key file.")] = None,
    forwarded_allow_ips: Annotated[
        str | None, typer.Option(help="Trusted reverse proxies (comma-separated addresses).")
    ] = None,
    insecure_http: Annotated[
        bool | None,
        typer.Option("--insecure-http", help="Allow plain HTTP on a non-loopback address."),
    ] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(help="PEM CA file: ask for client certificates (mutual TLS, RFC 8705)."),
    ] = None,
    client_cert_header: Annotated[
        str | None,
        typer.Option(help="Header in which a TLS-terminating proxy passes the client certificate."),
    ] = None,
    client_cert_proxies: Annotated[
        str | None,
        typer.Option(help="Proxies (comma-separated addresses or CIDR) whose header is believed."),
    ] = None,
) -> None:
    """Run the authorization server and the tenant API on one port."""
    # Imported here so that the other commands start without the HTTP stack.
    from realmgate.server.http.observability import configure_logging
    from realmgate.server.http.runner import ExposureError, check_exposure, run

    settings = make_settings(
        config,
        host=host,
        port=port,
        workers=workers,
        data_dir=data_dir,
        database_url=database_url,
        issuer_base_url=issuer_base_url,
        api_base_url=api_base_url,
        log_level=log_level,
        master_key_file=master_key_file,
        tls_cert=tls_cert,
        tls_key=tls_key,
        forwarded_allow_ips=forwarded_allow_ips,
        insecure_http=insecure_http,
        tls_client_ca=tls_client_ca,
        client_cert_header=client_cert_header,
        client_cert_proxies=client_cert_proxies,
    )
    try:
        check_exposure(settings)
    except ExposureError as exc:
        fail(str(exc), 2)
    # Unbatched when this process will fork workers: batching runs a thread (see below).
    configure_logging(settings.log_level, settings.log_format, batched=settings.workers == 1)
    with runtime(settings) as rt:
        if rt.store.count_tenants() == 0:
            bootstrap(Admin(rt.store, rt.vault, settings), settings)
        bootstrap_console(Admin(rt.store, rt.vault, settings), settings)
        scheme = "https" if settings.tls_cert else "http"
        console.print(
            escape(
                f"realmgate listening on {scheme}://{settings.host}:{settings.port} "
                f"(issuer base {settings.sso_base}, database {rt.store.engine.dialect.name}, "
                f"{settings.workers} worker{'s' if settings.workers > 1 else ''})"
            ),
            highlight=False,
        )
        if settings.workers == 1:
            from realmgate.server.http.app import create_app

            run(settings, create_app(rt))
            return
    # Several workers, forked from this process, which has closed its runtime and holds no
    # thread (see realmgate.server.http.workers). Each builds the app from these settings,
    # which it inherits in memory (Settings.hand_over): the master key and the database URL
    # stay out of its environment. Where processes cannot be forked, the environment it is.
    if "fork" in multiprocessing.get_all_start_methods():
        settings.hand_over()
    else:
        os.environ.pop("REALMGATE_CONFIG_FILE", None)
        os.environ.update(settings.to_env())
    run(settings, None)
