"""movmnist.cli.looking through click's CliRunner: preview.

info, stats, verify and export are run through the CLI beside their library's tests, in
tests/read/test_loader.py and tests/tools/.
"""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
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
