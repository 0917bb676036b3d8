"""The command line through click's CliRunner: exact exit codes and outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import yaml
from click.testing import CliRunner

from movmnist.cli import cli
from tests.conftest import SMALL

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_build_plan_preview(tmp_path: Path) -> None:
    cfg, out = _config(tmp_path), tmp_path / "ds"
    runner = CliRunner()
    planned = runner.invoke(cli, ["plan", str(cfg), "--json"])
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)
    assert plan["sequences"] == 48 and plan["splits"]["train"]["shards"][2]["sequences"] == 4
    assert not out.exists()

    built = runner.invoke(cli, ["build", str(cfg), "--out", str(out), "--json", "--quiet", "-j", "2"])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.output)
    assert summary["sequences"] == 48 and summary["shards"] == 3 + 1 + 2 and summary["synthetic"] is True
    assert [s["file"] for s in plan["splits"]["test"]["shards"]] == [
        "test-00000-of-00002.h5",
        "test-00001-of-00002.h5",
    ]

    again = runner.invoke(cli, ["build", str(cfg), "--out", str(out), "--quiet"])
    assert again.exit_code == 2
    assert "already holds a movmnist dataset; pass --overwrite" in again.output

    gif = tmp_path / "p.gif"
    shown = runner.invoke(
        cli, ["preview", str(out), "--split", "test", "--gif", str(gif), "--rows", "2", "--cols", "3"]
    )
    assert shown.exit_code == 0, shown.output
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 6

    piped = runner.invoke(cli, ["preview", str(out), "--gif", "-", "--scale", "1"])
    assert piped.exit_code == 0
    frames = iio.imread(io.BytesIO(piped.stdout_bytes), index=None, extension=".gif")
    assert frames.shape[0] == 6 and frames.shape[1] > 4 * 40


def test_human_plan_and_build(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    result = CliRunner().invoke(cli, ["plan", str(cfg)])
    assert result.exit_code == 0
    assert "source: synthetic (synthetic digits)" in result.output
    assert "train: 24 sequences from train[:1000], 3 shards" in result.output
    result = CliRunner().invoke(cli, ["build", str(cfg), "-o", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 0
    assert result.output.startswith("Built 48 sequences (train 24, val 8, test 16) in 6 shards")


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


def test_gif_has_real_content(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner = CliRunner()
    runner.invoke(cli, ["build", str(cfg), "-o", str(tmp_path / "d"), "-q", "--set", "splits.test.sequences=1"])
    result = runner.invoke(
        cli, ["preview", str(tmp_path / "d"), "--gif", "-", "--rows", "1", "--cols", "1", "--scale", "1"]
    )
    frames = iio.imread(io.BytesIO(result.stdout_bytes), index=None, extension=".gif")
    assert frames.shape[0] == 6 and np.asarray(frames).max() > 200
