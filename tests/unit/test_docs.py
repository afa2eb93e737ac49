"""Docs that are generated from code must be current."""

from __future__ import annotations

from pathlib import Path

from realmgate.server import settings_doc

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == settings_doc.render(), (
        "docs/configuration.md is stale: run `realmgate config docs > docs/configuration.md`"
    )
