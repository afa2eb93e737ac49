"""The supervisor of ``realmgate serve --workers N``: a small ``__main__`` for the workers.

uvicorn starts its workers with multiprocessing's *spawn*, which imports the parent's main
module again in every worker (as ``__mp_main__``). Were the supervisor the ``realmgate``
command itself, every worker would import Typer, rich and all the admin commands before
serving a request. So ``realmgate serve`` does the one-time work (configuration and
exposure checks, schema migration, demo onboarding and its printout), then replaces itself
(same process id, so signals and exit codes are unchanged) with
``python -m realmgate.server.http.supervise OPTIONS``, whose workers import only what
serving needs.

``OPTIONS`` is a JSON object: the worker count, the log level and format, uvicorn's
options (address, TLS files, proxies) and the CPUs to pin the workers to. The workers read
the settings from ``REALMGATE_*`` variables (:meth:`Settings.to_env`).

This module imports nothing heavy at module level: ``serve`` imports it to build the command,
and every worker runs it as ``__mp_main__``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from realmgate.server.settings import Settings

MODULE = "realmgate.server.http.supervise"
# Not passed on: every setting is in the environment already, and the workers must not read
# another file than the one ``serve --config`` named.
_DROPPED = ("REALMGATE_CONFIG_FILE",)


def _interpreter() -> list[str]:
    """This interpreter, with ``-P``: like the ``realmgate`` script, and unlike ``python -m``,
    the supervisor and its workers then import nothing from the current directory; unless
    realmgate itself is found only there (``cd src; python -m realmgate serve``)."""
    root = Path(__file__).resolve().parents[3]
    elsewhere = any(Path(entry or ".").resolve() == root for entry in sys.path[1:])
    return [sys.executable, "-P"] if elsewhere else [sys.executable]


def command(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> tuple[list[str], dict[str, str]]:
    """The argument vector and the environment that run the supervisor for ``settings``."""
    from realmgate.server.http.runner import uvicorn_options

    options: dict[str, Any] = {
        "workers": settings.workers,
        "log_level": settings.log_level,
        "log_format": settings.log_format,
        "uvicorn": uvicorn_options(settings),
        "cpus": settings.pinned_cpus(),
    }
    env = {k: v for k, v in environ.items() if k not in _DROPPED}
    env.update(settings.to_env())
    return [*_interpreter(), "-m", MODULE, json.dumps(options, sort_keys=True)], env


def exec_supervisor(settings: Settings) -> NoReturn:
    """Replace this process by the supervisor (POSIX: the process id stays the same)."""
    argv, env = command(settings)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)  # noqa: S606 - our own interpreter and module


def without_httpx_cli() -> None:
    """Keep httpx's command-line client out of this process.

    ``import httpx`` imports ``httpx._main`` (click, rich, pygments: several MB and a few
    hundred ms) whenever those are installed, as they are with the server's dependencies;
    httpx falls back to a stub when that import fails. A serving process never runs it.
    """
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def main(args: Sequence[str] | None = None) -> None:
    args = sys.argv[1:] if args is None else args
    if len(args) != 1:
        sys.stderr.write(f"usage: python -m {MODULE} OPTIONS (started by `realmgate serve`)\n")
        raise SystemExit(2)
    options = json.loads(args[0])
    # Only uvicorn here: the settings (pydantic) are for the workers to read.
    from realmgate.server.http.observability import configure_logging
    from realmgate.server.http.runner import run_workers

    configure_logging(options["log_level"], options["log_format"])
    run_workers(options["uvicorn"], options["workers"], options.get("cpus"))


if __name__ in ("__main__", "__mp_main__"):  # the supervisor, or one of its workers
    without_httpx_cli()
if __name__ == "__main__":
    main()
