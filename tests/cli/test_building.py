"""movmnist.cli.building through click's CliRunner: build, plan, config show."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from movmnist.cli import cli


def test_plan_then_build_json(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    planned = runner.invoke(cli, ["plan", str(config_file), "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert plan["sequences"] == 48 and plan["splits"]["train"]["shards"][2]["sequences"] == 4
    assert not out.exists()

    built = runner.invoke(cli, ["build", str(config_file), "--out", str(out), "--json", "--quiet", "-j", "2"])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.output)
    assert summary["sequences"] == 48 and summary["shards"] == 3 + 1 + 2 and summary["synthetic"] is True
    assert [s["file"] for s in plan["splits"]["test"]["shards"]] == [
        "test-00000-of-00002.h5",
        "test-00001-of-00002.h5",
    ]

    again = runner.invoke(cli, ["build", str(config_file), "--out", str(out), "--quiet"])
    assert again.exit_code == 2
    assert "already holds a movmnist dataset; pass --overwrite" in again.output


def test_human_plan_and_build(tmp_path: Path, config_file: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(config_file)])
    assert result.exit_code == 0
    assert "source: synthetic (synthetic digits)" in result.output
    assert "train: 24 sequences from train[:1000], 3 shards" in result.output
    result = CliRunner().invoke(cli, ["build", str(config_file), "-o", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 0
    assert result.output.startswith("Built 48 sequences (train 24, val 8, test 16) in 6 shards")
