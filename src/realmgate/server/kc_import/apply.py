"""An :class:`~.plan.ImportPlan` to records, written in one transaction per realm
(``Store.import_realm``): secrets hashed (``client-secret-jwt`` ones also encrypted, as
realmgate keeps them), new secrets for masked ones, keys from the key providers (:mod:`.keys`)
or a new one."""

from __future__ import annotations

import importlib
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from realmgate.jose import SUPPORTED_ALGORITHMS, generate_key
from realmgate.server.core.admin_realms import DEFAULT_SETTINGS
from realmgate.server.core.client_config import KEY_METHODS, ConfigError, check_extra
from realmgate.server.crypto import new_client_secret
from realmgate.server.kc_import.clients import ClientPlan
from realmgate.server.kc_import.plan import ImportPlan
from realmgate.server.kc_import.reader import InvalidInput
from realmgate.server.kc_import.report import RealmReport, Row
from realmgate.server.kc_import.uuids import keycloak_id
from realmgate.server.settings import Settings
from realmgate.server.storage.protocols import DuplicateError, Store
from realmgate.server.storage.records import (
    DEFAULT_CLIENT_SCOPES,
    AuditEvent,
    ClientRecord,
    KeyRecord,
    RoleRecord,
    TenantRecord,
)
from realmgate.server.vault import Vault

audit_log = logging.getLogger("realmgate.audit")
IfExists = Literal["fail", "skip", "overwrite"]
KEY_PROVIDER = "org.keycloak.keys.KeyProvider"


class RealmExists(Exception):
    """The realm exists and ``if_exists`` is ``fail``."""


@dataclass
class Built:
    tenant: TenantRecord
    roles: list[RoleRecord]
    clients: list[ClientRecord]
    keys: list[KeyRecord]
    secrets: dict[str, str] = field(default_factory=dict, repr=False)


def _keys_module() -> Any:
    """H5's key-provider import (:mod:`.keys`), when this build has it."""
    try:
        return importlib.import_module("realmgate.server.kc_import.keys")
    except ImportError:
        return None


def _has_private_keys(components: dict[str, Any] | None) -> bool:
    providers = (components or {}).get(KEY_PROVIDER) or []
    return any(
        isinstance(c, dict)
        and isinstance(c.get("config"), dict)
        and any(v not in ([], ["**********"]) for k, v in c["config"].items() if k == "privateKey")
        for c in providers
    )


def _new_key(tenant: str, alg: str, vault: Vault, now: int, status: str = "active") -> KeyRecord:
    pair = generate_key(alg)
    return KeyRecord(
        tenant=tenant,
        kid=pair.kid,
        alg=alg,
        private_key_enc=vault.encrypt_signing_key(tenant, pair.kid, pair.private_pem()),
        public_jwk=pair.public_jwk(),
        status="active" if status == "active" else "retired",
        created_at=now,
    )


def _keys(
    plan: ImportPlan, vault: Vault, settings: Settings, now: int, rotate: bool
) -> list[KeyRecord]:
    report = plan.report
    alg = plan.signing_alg if plan.signing_alg in SUPPORTED_ALGORITHMS else None
    records: list[KeyRecord] = []
    module = _keys_module()
    if module is not None and plan.components:
        try:
            records, rows = module.keys_from_components(
                plan.realm, plan.components, vault, now, default_alg=plan.signing_alg, rotate=rotate
            )
        except ValueError as exc:  # KeyImportError(path, message): a malformed component
            path = getattr(exc, "path", "$.components")
            message = getattr(exc, "message", None) or str(exc)
            raise InvalidInput(str(path), str(message)[:300], plan.file) from None
        for row in rows:
            report.rows.append(_row(row))
    elif plan.components and (plan.components.get(KEY_PROVIDER) or []):
        report.add(
            "key",
            "key providers",
            "dropped",
            "keys not imported: this build cannot read Keycloak key providers; tokens Keycloak "
            "issued will not verify",
            blocking=_has_private_keys(plan.components),
        )
    if not any(k.status == "active" for k in records):
        new_alg = alg or settings.default_signing_alg
        records.insert(0, _new_key(plan.realm, new_alg, vault, now))
        reason = (
            "rotated: the imported keys verify only"
            if rotate and records[1:]
            else ("no usable active key in the file")
        )
        report.add("key", f"new {new_alg} key", "changed", f"{reason}: a new key signs")
    return records


def _row(row: dict[str, Any]) -> Row:
    """A row of :mod:`.keys` (``blocking`` "yes"/"no") as a report row."""
    outcome = row.get("outcome")
    return Row(
        str(row.get("item", "key"))[:200],
        str(row.get("kind", "key")),
        outcome if outcome in ("imported", "skipped", "dropped", "changed") else "changed",
        str(row.get("reason", ""))[:300],
        row.get("blocking") in ("yes", True),
    )


def client_record(
    plan: ClientPlan,
    tenant: TenantRecord,
    vault: Vault,
    settings: Settings,
    now: int,
    reveal: bool,
    secrets: dict[str, str],
) -> ClientRecord:
    secret = plan.secret
    if secret is None:
        secret = new_client_secret()
        if plan.auth_method not in KEY_METHODS:  # a key or certificate client: none shown
            secrets[plan.client_id] = secret
    lifespan = plan.access_token_lifespan
    if lifespan is not None:
        lifespan = min(lifespan, tenant.session_max_lifespan)
    fields: dict[str, Any] = {}
    if reveal and plan.client_id in secrets:
        until = now + settings.admin_secret_reveal_window
        fields = {
            "reveal_enc": vault.encrypt_revealable(tenant.shortcode, plan.client_id, secret, until),
            "reveal_until": until,
        }
    return ClientRecord(
        tenant=tenant.shortcode,
        client_id=plan.client_id,
        sub=plan.sub or str(uuid.uuid4()),
        enabled=plan.enabled,
        roles=plan.roles,
        secret_hash=vault.hasher.hash(secret),
        created_at=min(plan.created_at or now, now),
        updated_at=now,
        access_token_lifespan=lifespan,
        auth_method=plan.auth_method,
        secret_enc=vault.encrypt_client_secret(tenant.shortcode, plan.client_id, secret)
        if plan.auth_method == "client_secret_jwt"
        else None,
        not_before=plan.not_before,
        default_scopes=plan.default_scopes,
        optional_scopes=plan.optional_scopes,
        audiences=tuple(dict.fromkeys((settings.audience, *plan.audiences)))
        if plan.audiences
        else None,
        claims=plan.claims,
        jwks=plan.jwks,
        jwks_uri=plan.jwks_uri,
        internal_id=plan.internal_id or str(uuid.uuid4()),
        name=plan.name[:255] if plan.name else plan.name,
        description=plan.description[:2048] if plan.description else plan.description,
        extra=plan.extra,
        admin_roles=plan.admin_roles,
        dpop_bound=plan.dpop_bound,
        cert_bound=plan.cert_bound,
        tls_subject_dn=plan.tls_subject_dn,
        tls_san=plan.tls_san,
        **fields,
    )


def build(
    plan: ImportPlan,
    vault: Vault,
    settings: Settings,
    *,
    now: int,
    rotate_keys: bool = False,
    reveal: bool = False,
) -> Built:
    """The records of a plan (keys encrypted, secrets hashed); rows for what changed."""
    report = plan.report
    session_max = settings.session_max_lifespan
    lifespan = plan.access_token_lifespan or min(settings.access_token_lifespan, session_max)
    if lifespan > session_max or lifespan < 60:
        clamped = max(60, min(lifespan, session_max))
        report.add("realm", plan.realm, "changed", f"access token lifespan {lifespan} -> {clamped}")
        lifespan = clamped
    try:
        extra = check_extra(plan.extra)
    except ConfigError:
        extra = {}
        report.add("realm", plan.realm, "changed", "echoed Keycloak fields dropped (too large)")
    keys = _keys(plan, vault, settings, now, rotate_keys)
    active = next(k for k in keys if k.status == "active")
    tenant = TenantRecord(
        shortcode=plan.realm,
        name=(plan.display_name or plan.realm).strip()[:200] or plan.realm,
        signing_alg=active.alg,
        settings=dict(DEFAULT_SETTINGS),
        access_token_lifespan=lifespan,
        session_max_lifespan=session_max,
        not_before=plan.not_before,
        created_at=now,
        updated_at=now,
        client_scopes=dict(plan.client_scopes or DEFAULT_CLIENT_SCOPES),
        enabled=plan.enabled,
        realm_id=keycloak_id(plan.realm_id) or str(uuid.uuid4()),
        extra=extra,
        dpop_required=plan.dpop_required,
    )
    roles = [
        RoleRecord(plan.realm, name, role_id or "", description, now)
        for name, role_id, description in plan.roles
    ]
    secrets: dict[str, str] = {}
    client_list = [
        client_record(c, tenant, vault, settings, now, reveal, secrets) for c in plan.clients
    ]
    return Built(tenant, roles, client_list, keys, secrets)


def write(
    plan: ImportPlan, built: Built, store: Store, *, if_exists: IfExists = "fail"
) -> RealmReport:
    """Write built records in one transaction. RealmExists when the realm exists (created
    concurrently, or there all along) and ``if_exists`` is not ``overwrite``."""
    report = plan.report
    try:
        replaced = store.import_realm(
            built.tenant,
            built.roles,
            built.clients,
            built.keys,
            overwrite=if_exists == "overwrite",
        )
    except DuplicateError:
        if if_exists != "overwrite" and store.get_tenant(plan.realm) is not None:
            raise RealmExists(f"Realm {plan.realm} already exists") from None
        raise
    report.outcome = "overwritten" if replaced else "imported"
    report.secrets = built.secrets
    return report


def audit(
    store: Store, plan: ImportPlan, built: Built, actor: str, now: int, **details: Any
) -> None:
    """The audit event of an import (never a secret)."""
    details.update(
        clients=len(built.clients),
        roles=len(built.roles),
        keys=[k.kid for k in built.keys],
        outcome=plan.report.outcome,
    )
    store.record_audit(AuditEvent(now, actor, "tenant.imported", plan.realm, plan.realm, details))
    audit_log.info(
        "tenant.imported %s/%s by %s",
        plan.realm,
        plan.realm,
        actor,
        extra={"event": "tenant.imported", "tenant": plan.realm, "actor": actor},
    )


def exists_check(plan: ImportPlan, store: Store, if_exists: IfExists) -> bool:
    """Whether to go on with the plan: False (report says skipped) with ``skip``;
    RealmExists with ``fail``."""
    if store.get_tenant(plan.realm) is None or if_exists == "overwrite":
        return True
    if if_exists == "fail":
        raise RealmExists(f"Realm {plan.realm} already exists")
    plan.report.outcome = "skipped"
    plan.report.add("realm", plan.realm, "skipped", "exists already (if-exists skip)")
    return False


__all__ = [
    "Built",
    "IfExists",
    "RealmExists",
    "audit",
    "build",
    "client_record",
    "exists_check",
    "write",
]
