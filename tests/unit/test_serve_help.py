"""``realmgate serve --help`` shows the defaults its help texts name: rich would otherwise read
``[default: ...]`` as markup and drop it ("Address to bind .")."""

from __future__ import annotations

from typer.testing import CliRunner

from realmgate.cli.main import app


def test_serve_help_keeps_the_bracketed_defaults() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for shown in (
        "Address to bind [default: 127.0.0.1].",
        "Port to bind [default: 8080].",
        "Worker processes [default: 1]; one per core is usual.",
        "Public base URL of the authorization server [default: http://HOST:PORT].",
        "Public base URL of the tenant API [default: issuer base].",
        "Master key file [default: DATA_DIR/master.key].",
        "[env REALMGATE_CONFIG_FILE]",
    ):
        assert shown in result.output
    assert " ." not in result.output
    assert "\\[" not in result.output  # escaped for rich, shown plain
