"""Docs that are generated from code must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from realmgate.server import settings_doc

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == settings_doc.render(), (
        "docs/configuration.md is stale: run `realmgate config docs > docs/configuration.md`"
    )


def test_config_file_environment_and_flags_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from realmgate.server.settings import Settings

    config = tmp_path / "realmgate.env"
    config.write_text("REALMGATE_PORT=7001\nREALMGATE_LOG_LEVEL=warning\nREALMGATE_WORKERS=3\n")
    monkeypatch.delenv("REALMGATE_PORT", raising=False)
    monkeypatch.delenv("REALMGATE_WORKERS", raising=False)
    monkeypatch.setenv("REALMGATE_LOG_LEVEL", "error")
    s = Settings.load(config, workers=2)
    assert (s.port, s.log_level, s.workers) == (7001, "error", 2)
    monkeypatch.setenv("REALMGATE_CONFIG_FILE", str(config))
    assert Settings.load().port == 7001
    with pytest.raises(ValueError, match="does not exist"):
        Settings.load(tmp_path / "missing.env")
