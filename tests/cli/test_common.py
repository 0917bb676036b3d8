"""movmnist.cli.common and the group as a whole: errors and exit codes, help, the README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from movmnist.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["preview", str(tmp_path), "--gif", "x.gif"])
    assert missing.exit_code == 1
    assert missing.output == (
        f"Error: {tmp_path} has no manifest.json: not a movmnist dataset; build one with movmnist build\n"
    )
    bad = runner.invoke(cli, ["build", "--set", "sequence.length=1", "-o", str(tmp_path / "y")])
    assert bad.exit_code == 2 and bad.output == "Error: sequence.length must be >= 2 (got 1)\n"
    assert not (tmp_path / "y").exists()
    # Usage errors name the program as the movmnist script does (main passes prog_name too).
    usage = runner.invoke(cli, ["build", "--workers", "0"], prog_name="movmnist")
    assert usage.exit_code == 2
    assert usage.output == (
        "Usage: movmnist build [OPTIONS] [CONFIG]\n"
        "Try 'movmnist build --help' for help.\n"
        "\n"
        "Error: Invalid value for '--workers' / '-j': 0 is not in the range x>=1.\n"
    )
    stdin = runner.invoke(cli, ["build", "-"], input="{}", prog_name="movmnist")
    assert stdin.exit_code == 2
    assert stdin.output == (
        "Usage: movmnist build [OPTIONS] [CONFIG]\n"
        "Try 'movmnist build --help' for help.\n"
        "\n"
        "Error: --out is required when the config comes from stdin\n"
    )


def commands(group: click.Group, words: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and subgroup under `group`, with the words that call it: (("config", "show"), show)."""
    for name, command in sorted(group.commands.items()):
        yield (*words, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*words, name))


def test_every_command_has_help_and_is_in_the_readme() -> None:
    """Each command: help text with an `Example:` and a row in README.md's "## Commands" (subgroups: help)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    found = dict(commands(cli))
    assert ("config", "show") in found  # the walk goes into subgroups
    runner = CliRunner()
    problems = []
    for words, command in found.items():
        name = " ".join(words)
        result = runner.invoke(cli, [*words, "--help"])
        if result.exit_code != 0:
            problems.append(f"movmnist {name} --help exits {result.exit_code}")
        if not (command.help or "").strip():
            problems.append(f"movmnist {name} has no help text")
        if isinstance(command, click.Group):
            continue
        if "Example:" not in result.output:
            problems.append(f"movmnist {name} --help has no Example:")
        if f"`movmnist {name}" not in section:
            problems.append(f"movmnist {name} is missing from README.md's ## Commands")
    assert problems == [], "\n".join(problems)
