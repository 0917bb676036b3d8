"""movmnist.cli.building through click's CliRunner: build, plan, config show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.tools.info import human_bytes


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
    assert again.output == (
        f"Error: {out} already holds a movmnist dataset; pass --overwrite to replace it, or choose another --out\n"
    )


def test_human_plan_and_build(tmp_path: Path, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("movmnist.builder.default_workers", lambda: 2)  # the memory line counts the cores
    result = CliRunner().invoke(cli, ["plan", str(config_file)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    # The compressed size is measured (its bytes depend on the deflate library); checked against the build below.
    assert re.fullmatch(
        r"total: 48 sequences, 945\.8 kB raw, ~\d+\.\d kB compressed \(measured on a few sequences built\)", lines[5]
    )
    lines[5] = "total"
    assert lines == [
        "source: synthetic (synthetic digits)",
        "sequence: 6 x 40 x 40 uint8",
        "train: 24 sequences from train[:1000], 3 shards",
        "val: 8 sequences from train[1000:1200], 1 shards",
        "test: 16 sequences from test[:500], 2 shards",
        "total",
        "memory: ~101.0 MB per worker + ~201.1 MB for the driver (~403.2 MB with 2 workers;"
        " it does not grow with the number of sequences)",
    ]
    out = tmp_path / "x"
    result = CliRunner().invoke(cli, ["build", str(config_file), "-o", str(out), "-q"])
    assert result.exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    written = sum(s["bytes"] for split in manifest["splits"].values() for s in split["shards"])
    estimate = json.loads(CliRunner().invoke(cli, ["plan", str(config_file), "--json"]).output)["estimated_bytes"]
    assert abs(estimate - written) < 0.05 * written  # the sample's bytes per sequence and per shard
    size = human_bytes(written)
    built = f"Built 48 sequences (train 24, val 8, test 16) in 6 shards, {size}, in "
    assert re.fullmatch(rf"{re.escape(built)}\d+\.\d s \(\d+ seq/s\) -> {re.escape(str(out))}\n", result.output)
