"""Statistics on tiny datasets whose values are known by construction, and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.tools.stats import compute_stats
from tests.datasets import rgb_copy, tiny


def test_digits_as_large_as_the_canvas_never_move(tmp_path: Path) -> None:
    # A 40 px digit on a 40 px canvas has no free range: it sits at (0, 0), fills the
    # frame, touches every wall, overlaps the other digit, and nothing ever changes.
    # (Without stored ink boxes, overlap and the heat map use the sprite squares.)
    ds = tiny(tmp_path / "d", "digits.size=40", "annotations.boxes=false", "annotations.amodal_boxes=false")
    result = CliRunner().invoke(cli, ["stats", str(ds), "--json", "--split", "test"])
    assert result.exit_code == 0, result.output
    test = json.loads(result.output)["test"]
    assert test["sequences"] == 5 and test["frames"] == 30
    assert test["wall_rate"] == 1.0 and test["overlap_rate"] == 1.0
    assert test["speed"]["mean"] == 0.0 and test["speed"]["max"] == 0.0
    assert test["speed"]["histogram"] == [5 * 5 * 2]  # every step of both digits in the first bin
    assert test["frame_diff_mean"] == 0.0 and test["frame_diff_std"] == 0.0
    assert test["heat_peak"] == [19, 19] and test["boxes"] == "sprite"
    labels = movmnist.open(ds)["test"].read("labels", slice(None))
    assert test["label_histogram"] == np.bincount(labels.ravel(), minlength=10).tolist()
    assert sum(test["label_histogram"]) == 10


def test_one_digit_never_overlaps_and_rates_match_the_positions(tmp_path: Path) -> None:
    ds = tiny(tmp_path / "d", "digits.count=1", "motion.speed=0.4")
    with movmnist.open(ds) as opened:
        stats = compute_stats(opened, limit=4)
        pos = opened["test"].read("positions", slice(0, 4))[:, :, 0]  # [4, T, 2]
    test = stats["test"].to_data()
    assert test["overlap_rate"] == 0.0 and test["sequences"] == 4
    free = 40 - 14
    wall = (pos == 0) | (pos == free)
    assert test["wall_rate"] == round(float(wall.any(axis=-1).mean()), 6) > 0
    steps = np.hypot(*np.diff(pos.astype(float), axis=1).transpose(2, 0, 1))
    assert test["speed"]["mean"] == round(float(steps.mean()), 4)
    assert test["speed"]["max"] == round(float(steps.max()), 4) <= 0.4 * free * np.sqrt(2) + 1


def test_streaming_in_small_chunks_gives_the_same_numbers(tmp_path: Path) -> None:
    ds = tiny(tmp_path / "d")
    with movmnist.open(ds) as opened:
        small = compute_stats(opened, chunk=2)
        whole = compute_stats(opened, chunk=1000)
        frames = opened["train"][:]
    for name in whole:
        assert small[name].to_data() == whole[name].to_data()
        np.testing.assert_allclose(small[name].diff_images()[1], whole[name].diff_images()[1])
    np.testing.assert_allclose(whole["train"].mean_frame(), frames.mean(axis=(0, 1)))
    diff = np.abs(np.diff(frames.astype(int), axis=1))
    np.testing.assert_allclose(whole["train"].diff_images()[0], diff.mean(axis=(0, 1)))
    np.testing.assert_allclose(whole["train"].diff_images()[1], diff.std(axis=(0, 1)), atol=1e-6)
    # Overlap uses the stored ink boxes (x0, y0, x1, y1), computed here independently.
    with movmnist.open(ds) as opened:
        ink = opened["train"].read("amodal_boxes", slice(None)).astype(int)
    a, b = ink[:, :, 0], ink[:, :, 1]
    meet = (a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2]) & (a[..., 1] < b[..., 3]) & (b[..., 1] < a[..., 3])
    train = whole["train"].to_data()
    assert train["boxes"] == "ink" and train["overlap_rate"] == round(float(meet.mean()), 6)


def test_plot_is_one_png_and_colour_datasets_work(tmp_path: Path) -> None:
    ds = rgb_copy(tiny(tmp_path / "d"), tmp_path / "rgb")
    out = tmp_path / "stats.png"
    result = CliRunner().invoke(cli, ["stats", str(ds), "--plot", str(out), "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("train: 3 sequences, 18 frames\n")
    image = iio.imread(out)
    assert image.shape[:2] == (1080, 1200) and image.shape[2] in (3, 4)
    bad = CliRunner().invoke(cli, ["stats", str(ds), "--plot", "-", "--json"])
    assert bad.exit_code == 2
    with pytest.raises(ValueError, match="limit must be >= 1"):
        compute_stats(movmnist.open(ds), limit=0)
