"""Renders ``docs/configuration.md`` from :class:`~realmgate.server.settings.Settings`.

``realmgate config docs > docs/configuration.md`` regenerates it; a test fails when it is stale.
"""

from __future__ import annotations

from pydantic.fields import FieldInfo

from realmgate.server.settings import Settings

HEADER = """# Configuration reference

Generated from `src/realmgate/server/settings.py` by `realmgate config docs`; do not edit by hand.

Every option can be set as an environment variable (`REALMGATE_` + the name in capitals) or in a
config file in dotenv syntax (`REALMGATE_PORT=8443`, one per line) named by `realmgate serve
--config FILE` or `REALMGATE_CONFIG_FILE`; `realmgate serve` also takes the most used ones as
flags (`--host`, `--port`, `--workers`, `--data-dir`, `--database-url`, `--issuer-base-url`,
`--api-base-url`, `--log-level`, `--master-key-file`, `--tls-cert`, `--tls-key`,
`--forwarded-allow-ips`, `--insecure-http`). Flags win over the environment, the environment
over the file.

| option | environment variable | default | meaning |
|---|---|---|---|
"""


def _default(info: FieldInfo) -> str:
    value = info.get_default()
    if value is None:
        return "*(unset)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def render() -> str:
    rows = []
    for name, info in Settings.model_fields.items():
        env = f"`REALMGATE_{name.upper()}`"
        desc = (info.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {env} | {_default(info)} | {desc} |")
    return HEADER + "\n".join(rows) + "\n"
