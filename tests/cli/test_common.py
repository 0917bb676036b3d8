"""movmnist.cli.common and the group as a whole: errors and exit codes, help, the README."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from movmnist.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["preview", str(tmp_path), "--gif", "x.gif"])
    assert missing.exit_code == 1 and "no manifest.json" in missing.output
    bad = runner.invoke(cli, ["build", "--set", "sequence.length=1", "-o", str(tmp_path / "y")])
    assert bad.exit_code == 2 and "sequence.length must be >= 2 (got 1)" in bad.output
    assert not (tmp_path / "y").exists()
    usage = runner.invoke(cli, ["build", "--workers", "0"])
    assert usage.exit_code == 2
    stdin = runner.invoke(cli, ["build", "-"], input="{}")
    assert stdin.exit_code == 2 and "--out is required" in stdin.output


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    runner = CliRunner()
    commands = [["build"], ["plan"], ["preview"], ["config", "show"], ["info"], ["verify"], ["export"]]
    commands += [["sources"], ["fetch"], ["stats"]]
    for words in commands:
        result = runner.invoke(cli, [*words, "--help"])
        assert result.exit_code == 0 and "Example:" in result.output, words
        assert f"movmnist {' '.join(words)}" in readme, words
