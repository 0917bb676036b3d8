"""Colour: RGB sources give RGB frames [N, T, H, W, 3], composited by max per channel, and colour GIFs."""

from __future__ import annotations

import io
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from click.testing import CliRunner

import movmnist
from movmnist.builder import build
from movmnist.cli import cli
from movmnist.config import Source
from movmnist.sources import load_pool, open_source
from movmnist.sources.synthetic import render_digits
from tests.conftest import small_config


def test_synthetic_colour_tints_the_grey_digits() -> None:
    grey = render_digits(2, "test", 1000, 1100)
    rgb = render_digits(2, "test", 1000, 1100, colour=True)
    assert rgb.images.shape == (100, 28, 28, 3) and rgb.images.dtype == np.uint8
    np.testing.assert_array_equal(rgb.labels, grey.labels)
    # Each image is its grey digit times one saturated colour, whose brightest channel is
    # full: so the brightest channel of every pixel is the grey digit itself.
    np.testing.assert_array_equal(rgb.images.max(axis=3), grey.images)
    hues = rgb.images.reshape(100, -1, 3).sum(axis=1).argmax(axis=1)
    assert len(set(hues.tolist())) == 3  # red-, green- and blue-dominant digits all occur
    whole = open_source(Source(kind="synthetic", seed=2, colour=True)).load("test")
    np.testing.assert_array_equal(whole.images[1000:1100], rgb.images)  # a pure function of the index


def test_rgb_build_frames_and_colour_gif(tmp_path: Path) -> None:
    cfg = small_config(
        "source.colour=true", "digits.size=32", "canvas.height=64", "canvas.width=64", "splits.val.sequences=0"
    )
    out = tmp_path / "rgb"
    build(cfg, out, workers=1)
    pool = load_pool(cfg.source, cfg.splits.test.pool, 32)
    assert pool.images.shape[1:] == (32, 32, 3)
    with movmnist.open(out) as ds:
        frames = ds["test"][:]
        index, pos = ds["test"].read("source_index", slice(None)), ds["test"].read("positions", slice(None))
    assert frames.shape == (16, 6, 64, 64, 3) and frames.dtype == np.uint8
    for n in (0, 7):
        expect = np.zeros((64, 64, 3), np.uint8)
        for k in range(2):
            r, c = pos[n, 3, k]
            np.maximum(expect[r : r + 32, c : c + 32], pool.images[index[n, k]], out=expect[r : r + 32, c : c + 32])
        np.testing.assert_array_equal(frames[n, 3], expect)

    result = CliRunner().invoke(cli, ["preview", str(out), "--gif", "-", "--rows", "2", "--cols", "2", "--scale", "1"])
    assert result.exit_code == 0, result.output
    gif = np.asarray(iio.imread(io.BytesIO(result.stdout_bytes), index=None, extension=".gif"))
    assert gif.shape[0] == 6 and gif.shape[-1] in (3, 4)
    rgb = gif[..., :3].astype(int)
    assert (np.abs(rgb[..., 0] - rgb[..., 1]) > 60).mean() > 0.01  # real colour, not grey
