"""Motion presets other than the default, and `digits.assign: each`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import movmnist as mds
from movmnist import motion
from movmnist.build import build, prepare
from movmnist.config import load_config
from movmnist.errors import ConfigError
from movmnist.generate import generate
from movmnist.sources import load_pool
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[1]


# --- tutorial --------------------------------------------------------------------------


def test_tutorial_step_from_0_8_is_clamped_to_1_and_reversed() -> None:
    # components (0.6, 0.2) x step 0.5 = (0.3, 0.1): row 0.8 + 0.3 = 1.1 -> 1, reversed.
    path = motion.tutorial(np.array([[0.8, 0.1]]), np.array([[0.6, 0.2]]), np.array([0.5]), 3)
    np.testing.assert_allclose(path.position[:, 0, 0], [1.0, 0.7, 0.4])
    np.testing.assert_allclose(path.velocity[:, 0, 0], [-0.3, -0.3, -0.3])
    np.testing.assert_allclose(path.position[:, 0, 1], [0.2, 0.3, 0.4])
    np.testing.assert_array_equal(motion.to_pixels(path.position[:, 0], (36, 36))[:, 0], [36, 25, 14])


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_tutorial_invariants(seed: int) -> None:
    g = np.random.default_rng(seed)
    start, comp = g.random((40, 2)), g.random((40, 2))
    path = motion.tutorial(start, comp, np.full(40, 0.5), 40)
    assert path.position.min() >= 0.0 and path.position.max() <= 1.0
    # Components never grow: each frame's |v| is the drawn one; the first frame's velocity
    # is the drawn, non-negative one except where that very step hit the far wall.
    np.testing.assert_allclose(np.abs(path.velocity), np.broadcast_to(comp * 0.5, path.velocity.shape))
    first = path.velocity[0]
    assert ((first >= 0) | (path.position[0] == 1.0)).all()


def test_tutorial_config_and_generation() -> None:
    cfg = load_config(ROOT / "configs" / "tutorial.yaml", ["source.kind=synthetic", "source.path=null"])
    assert cfg.motion.preset == "tutorial" and cfg.motion.speed == (0.5, 0.5)
    assert cfg.digits.count == (1, 1) and cfg.sequence.length == 40 and cfg.digits.assign == "each"
    assert (cfg.canvas.height, cfg.canvas.width) == (64, 64)
    small = small_config("motion.preset=tutorial")
    assert small.motion.speed == (0.5, 0.5)
    pool = load_pool(small.source, small.splits.train.pool, small.digits.size)
    chunk = generate(small, pool, "train", np.arange(50))
    assert chunk.positions.min() >= 0 and chunk.positions.max() <= 40 - 14
    # The same starts as srivastava (stream START), another velocity rule.
    other = generate(small_config(), pool, "train", np.arange(50))
    assert not np.array_equal(chunk.positions, other.positions)


# --- digits.assign: each ----------------------------------------------------------------


def test_each_uses_pool_images_in_order(tmp_path: Path) -> None:
    cfg = small_config(
        "digits.assign=each",
        "digits.count=[1, 3]",
        "splits.train.sequences=all",
        "splits.train.pool=train[:30]",
        "splits.val.sequences=all",
        "splits.val.pool=train[30:42]",
        "splits.test.sequences=5",
    )
    data = build(cfg, tmp_path / "d", workers=1)
    assert data["config"]["splits"]["train"]["sequences"] == 30  # the manifest holds the resolved count
    assert {k: v["sequences"] for k, v in data["splits"].items()} == {"train": 30, "val": 12, "test": 5}
    ranges = {"train": (0, 30), "val": (30, 42), "test": (0, 500)}
    with mds.open(tmp_path / "d") as ds:
        for split, (lo, hi) in ranges.items():
            idx = ds[split].read("source_index", slice(None))
            n = len(idx)
            assert n == data["splits"][split]["pool_size"] or split == "test"
            np.testing.assert_array_equal(idx[:, 0], lo + np.arange(n))  # digit 1: image i, in order
            others = idx[:, 1:][idx[:, 1:] >= 0]
            assert others.size and ((others >= lo) & (others < hi)).all()  # others: random, same pool


def test_all_needs_each_and_each_needs_enough_images() -> None:
    with pytest.raises(ConfigError, match=r"splits.train.sequences may be 'all' only with digits.assign: each"):
        small_config("splits.train.sequences=all")
    with pytest.raises(ConfigError, match=r"splits.train.sequences must be an integer or 'all' \(got 'some'\)"):
        small_config("splits.train.sequences=some")
    with pytest.raises(ConfigError, match=r"is 2000 but digits.assign: each .* pool train\[:1000\] has 1000"):
        prepare(small_config("digits.assign=each", "splits.train.sequences=2000"))
    plan, _, sizes = prepare(small_config("digits.assign=each", "splits.train.sequences=all"))
    assert plan.config.splits.train.sequences == sizes["train"] == 1000
    assert (
        small_config("digits.assign=each", "splits.train.sequences=all").to_data()["splits"]["train"]["sequences"]
        == "all"
    )


def test_tutorial_halves_through_the_loader(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "configs" / "tutorial.yaml",
        [
            "source.kind=synthetic",
            "source.path=null",
            "canvas={height: 32, width: 32}",
            "digits.size=14",
            "splits.train.pool=train[:6]",
            "splits.val.sequences=0",
            "splits.test.pool=test[:4]",
        ],
    )
    build(cfg, tmp_path / "t", workers=1)
    ds = mds.open(tmp_path / "t", input_frames=20)
    x, y = ds["train"][0:6]
    assert x.shape == (6, 20, 32, 32) and y.shape == (6, 20, 32, 32)
    frames = mds.open(tmp_path / "t")["train"][0:6]
    np.testing.assert_array_equal(np.concatenate([x, y], axis=1), frames)
