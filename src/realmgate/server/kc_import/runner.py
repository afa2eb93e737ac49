"""``realmgate import keycloak``: read every file, plan and build every realm, then write each
realm in its own transaction, only when nothing stops the run.

Exit codes: 0 done (or dry run with nothing blocking); 1 blocking drops without
``allow_partial`` (nothing written); 2 invalid input (nothing written); 3 a realm exists and
``if_exists`` is ``fail`` (nothing written when found before writing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from realmgate.server.kc_import.apply import (
    Built,
    IfExists,
    RealmExists,
    audit,
    build,
    exists_check,
    write,
)
from realmgate.server.kc_import.plan import ImportPlan, plan_import
from realmgate.server.kc_import.reader import InvalidInput, Source, read_paths
from realmgate.server.kc_import.report import Report
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.vault import Vault

EXIT_OK, EXIT_BLOCKED, EXIT_INVALID, EXIT_EXISTS = 0, 1, 2, 3


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    if_exists: IfExists = "fail"
    allow_partial: bool = False
    rotate_keys: bool = False
    actor: str = "cli"


def plan_sources(sources: list[Source]) -> list[ImportPlan]:
    """Plans of every realm; InvalidInput for the first unreadable one or a realm given
    twice."""
    plans: list[ImportPlan] = []
    seen: dict[str, str] = {}
    for source in sources:
        plan = plan_import(source)
        if plan.realm in seen:
            raise InvalidInput(
                "$.realm", f"realm {plan.realm!r} also in {seen[plan.realm]}", source.file
            )
        seen[plan.realm] = source.file
        plans.append(plan)
    return plans


def run_plans(
    plans: list[ImportPlan], store: Store, vault: Vault, settings: Settings, options: Options
) -> tuple[Report, int]:
    report = Report(dry_run=options.dry_run, realms=[p.report for p in plans])
    now = int(time.time())
    built: list[tuple[ImportPlan, Built]] = []
    code = EXIT_OK
    for plan in plans:
        try:
            if not exists_check(plan, store, options.if_exists):
                continue
        except RealmExists as exc:
            plan.report.outcome, plan.report.error = "failed", str(exc)
            code = EXIT_EXISTS
            continue
        built.append((plan, build(plan, vault, settings, now=now, rotate_keys=options.rotate_keys)))
    blocked = [p for p, _ in built if p.report.blocking]
    if blocked and not options.allow_partial:
        for plan in blocked:
            plan.report.outcome = "blocked"
            plan.report.error = (
                f"{len(plan.report.blocking)} blocking drop(s): nothing imported "
                "(--allow-partial imports anyway)"
            )
        return report, EXIT_BLOCKED
    if code != EXIT_OK or options.dry_run:
        return report, code
    for plan, records in built:
        try:
            write(plan, records, store, if_exists=options.if_exists)
        except RealmExists as exc:
            plan.report.outcome, plan.report.error = "failed", str(exc)
            code = EXIT_EXISTS
            continue
        except DuplicateError as exc:
            plan.report.outcome, plan.report.error = "failed", str(exc)
            code = EXIT_EXISTS
            continue
        audit(store, plan, records, options.actor, now, file=plan.file)
    return report, code


def run_import(
    paths: list[Path], store: Store, vault: Vault, settings: Settings, options: Options
) -> tuple[Report, int]:
    """Import the realms of ``paths``; InvalidInput (nothing written) for bad input."""
    return run_plans(plan_sources(read_paths(paths)), store, vault, settings, options)


__all__ = [
    "EXIT_BLOCKED",
    "EXIT_EXISTS",
    "EXIT_INVALID",
    "EXIT_OK",
    "Options",
    "plan_sources",
    "run_import",
    "run_plans",
]
