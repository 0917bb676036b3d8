"""movmnist.cli.looking through click's CliRunner: preview.

info, stats, verify and export are run through the CLI beside their library's tests, in
tests/read/test_loader.py and tests/tools/.
"""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli


def test_preview_to_a_file_and_to_stdout(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    built = runner.invoke(cli, ["build", str(config_file), "--out", str(out), "--quiet"])
    assert built.exit_code == 0, built.output

    gif = tmp_path / "p.gif"
    shown = runner.invoke(
        cli, ["preview", str(out), "--split", "test", "--gif", str(gif), "--rows", "2", "--cols", "3"]
    )
    assert shown.exit_code == 0, shown.output
    assert shown.output == ""
    frames = iio.imread(gif, index=None)
    assert frames.shape[0] == 6

    piped = runner.invoke(cli, ["preview", str(out), "--gif", "-", "--scale", "1"])
    assert piped.exit_code == 0
    frames = iio.imread(io.BytesIO(piped.stdout_bytes), index=None, extension=".gif")
    assert frames.shape[0] == 6 and frames.shape[1] > 4 * 40


def test_gif_has_real_content(tmp_path: Path, config_file: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["build", str(config_file), "-o", str(tmp_path / "d"), "-q", "--set", "splits.test.sequences=1"])
    result = runner.invoke(
        cli, ["preview", str(tmp_path / "d"), "--gif", "-", "--rows", "1", "--cols", "1", "--scale", "1"]
    )
    assert result.exit_code == 0
    frames = iio.imread(io.BytesIO(result.stdout_bytes), index=None, extension=".gif")
    assert frames.shape[0] == 6 and np.asarray(frames).max() > 200


def test_split_names_are_listed_and_a_wrong_or_missing_one_exits_2(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "ds"
    runner = CliRunner()
    built = runner.invoke(cli, ["build", str(config_file), "--out", str(out), "-q", "--set", "splits.val.sequences=0"])
    assert built.exit_code == 0, built.output
    assert "[train|val|validation|test]" in runner.invoke(cli, ["preview", "--help"]).output
    wrong = runner.invoke(cli, ["preview", str(out), "--split", "tset", "--gif", str(tmp_path / "p.gif")])
    assert wrong.exit_code == 2 and "'tset' is not one of 'train', 'val', 'validation', 'test'" in wrong.output
    missing = runner.invoke(cli, ["stats", str(out), "--split", "val"])
    assert missing.exit_code == 2, missing.output
    assert missing.output.strip() == f"Error: split 'val' is not in {out} (it has: train, test)"
    import movmnist

    with movmnist.open(out) as ds:
        assert "validation" not in ds and "train" in ds
    with movmnist.open(tiny_val(tmp_path)) as ds:
        assert ds["validation"] is ds["val"] and "validation" in ds


def tiny_val(tmp_path: Path) -> Path:
    from tests.datasets import tiny

    return tiny(tmp_path / "with-val", "splits.val.sequences=3")


def test_binary_output_to_a_terminal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import click

    from movmnist.cli import common

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(common.sys, "stdout", Terminal())
    with pytest.raises(click.UsageError, match=r"^refusing to write a GIF to a terminal; redirect it"):
        common.refuse_terminal("-", "a GIF")
    common.refuse_terminal("preview.gif", "a GIF")  # a file is fine
    monkeypatch.setattr(common.sys, "stdout", io.StringIO())
    common.refuse_terminal("-", "a GIF")  # a pipe is fine


def test_stats_export_and_verify_show_progress_on_stderr_unless_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.datasets import tiny

    out = tiny(tmp_path / "mm")
    monkeypatch.setattr("movmnist.cli.common.interactive", lambda: True)  # as on a terminal
    runner = CliRunner()
    for args, unit in (
        (["stats", str(out), "--json"], "seq"),
        (["export", str(out), "-o", str(tmp_path / "x.npy")], "frame"),
        (["verify", str(out)], "shard"),
    ):
        shown = runner.invoke(cli, args)
        assert shown.exit_code == 0, shown.output
        assert "100%" in shown.stderr and unit in shown.stderr, (args, shown.stderr)
        quiet = runner.invoke(cli, [*args, "-q"])
        assert quiet.exit_code == 0 and "100%" not in quiet.stderr

    monkeypatch.setattr("movmnist.cli.common.interactive", lambda: False)  # piped: no bar
    assert "100%" not in runner.invoke(cli, ["stats", str(out), "--json"]).stderr
