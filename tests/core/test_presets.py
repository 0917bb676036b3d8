"""Motion presets other than the default, and `digits.assign: each`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import movmnist as mds
from movmnist.builder import build, prepare
from movmnist.config.load import load_config
from movmnist.core import layers, motion
from movmnist.core.generate import generate
from movmnist.core.motion import mmnistpp as pp
from movmnist.errors import ConfigError
from movmnist.sources import load_pool
from tests.conftest import SMALL, small_config

ROOT = Path(__file__).resolve().parents[2]


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
    data = build(cfg, tmp_path / "d", workers=1).to_data()
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


# --- tfds ---------------------------------------------------------------------------------


def _tfds_formula(x0: np.ndarray, v: np.ndarray, length: int, free: np.ndarray) -> np.ndarray:
    """moving_sequence.py in float32: x0 + v t; p % 2; min(p, 2 - p); round(p * free)."""
    t = np.arange(length, dtype=np.float32)[:, None]
    p = (x0.astype(np.float32)[None] + v.astype(np.float32)[None] * t) % np.float32(2)
    p = np.minimum(p, np.float32(2) - p)
    return np.round(p * free.astype(np.float32)).astype(np.int64)


def test_tfds_matches_the_formula_on_1000_cases() -> None:
    g = np.random.default_rng(7)
    for _ in range(1000):
        x0 = g.random(2).astype(np.float32)
        d = g.normal(size=2)
        v = (0.1 * d / np.linalg.norm(d)).astype(np.float32)
        free = g.integers(1, 60, 2)
        path = motion.tfds(x0[None], v[None], 20, free[None])
        assert path.pixels is not None
        np.testing.assert_array_equal(path.pixels[:, 0], _tfds_formula(x0, v, 20, free))


def test_tfds_rules_by_hand() -> None:
    # From 0.95 at +0.1 per frame: 0.95, 1.05 -> 0.95 (reflected off the high wall), 1.15 -> 0.85.
    path = motion.tfds(np.array([[0.95, 0.5]]), np.array([[0.1, 0.0]]), 3, np.array([[36, 36]]))
    np.testing.assert_allclose(path.position[:, 0, 0], [0.95, 0.95, 0.85], atol=1e-6)
    assert path.hits is not None and path.pixels is not None
    assert path.hits[:, 0, 0].tolist() == [0, 1, 0]
    assert path.velocity[1, 0, 0] < 0 and path.pixels[0, 0, 0] == 34  # round(0.95 * 36) = round(34.2)
    # Round half to even, as tf.math.round: 0.125 * 36 = 4.5 -> 4.
    assert motion.tfds(np.array([[0.125, 0.0]]), np.zeros((1, 2)), 1, np.array([[36, 36]])).pixels[0, 0, 0] == 4  # type: ignore[index]


def test_tfds_preset_speed_and_frame_zero_at_start() -> None:
    cfg = small_config("motion.preset=tfds", "digits.count=1", "sequence.length=12")
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(200))
    assert chunk.velocities is not None and chunk.trajectories is not None
    np.testing.assert_allclose(np.linalg.norm(chunk.velocities[:, :, 0], axis=-1), 0.1, rtol=1e-5)
    assert chunk.trajectories.min() >= 0 and chunk.trajectories.max() <= 1
    np.testing.assert_array_equal(chunk.positions[:, :, 0], np.round(chunk.trajectories[:, :, 0] * np.float32(26)))


# --- svg ----------------------------------------------------------------------------------


def test_svg_deterministic_by_hand() -> None:
    # F = 32: positions 0..31. From 30 at +4: 30, 34 -> 31 (clamped to F - 1, reversed), 27, 23.
    path = motion.svg(np.array([[30, 2]]), np.array([[4, -3]]), 4, np.array([[32, 32]]), np.array([4]))
    assert path.pixels is not None
    assert path.pixels[:, 0, 0].tolist() == [30, 31, 27, 23]
    assert path.pixels[:, 0, 1].tolist() == [2, 0, 3, 6]  # 2, -1 -> 0 (reversed to +3), 3, 6
    assert path.velocity[1, 0, 0] * 32 == -4


def test_svg_stochastic_redraws_at_walls() -> None:
    g = np.random.default_rng(3)
    m = 200
    start, vel = g.integers(0, 32, (m, 2)), g.integers(-4, 5, (m, 2))
    redraw = g.random((30, m, 4))
    path = motion.svg(start, vel, 30, np.full((m, 2), 32), np.full(m, 4), redraw)
    assert path.pixels is not None and path.hits is not None
    assert path.pixels.min() >= 0 and path.pixels.max() <= 31
    v = np.rint(path.velocity * 32).astype(int)
    assert np.abs(v).max() <= 4
    t, i = np.nonzero(path.hits[:, :, 1] == 1)  # right wall: moving left afterwards, 1..4 px
    assert len(t) and (v[t, i, 1] <= -1).all()
    t, i = np.nonzero(path.hits[:, :, 0] == -1)  # top wall, no col hit: moving down, 1..4 px
    keep = path.hits[t, i, 1] == 0
    assert (v[t[keep], i[keep], 0] >= 1).all()


def test_svg_preset_defaults() -> None:
    cfg = small_config("motion.preset=svg-stochastic", base={k: v for k, v in SMALL.items() if k != "digits"})
    assert cfg.render.combine == "sum" and cfg.digits.size == 32 and cfg.motion.speed == (0.125, 0.125)
    assert small_config("motion.preset=svg-deterministic", "render.combine=max").render.combine == "max"


# --- free parameters ------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["srivastava", "tutorial", "tfds", "svg-deterministic", "svg-stochastic"])
def test_wrap_and_open(preset: str) -> None:
    wrap = small_config(f"motion.preset={preset}", "motion.boundary=wrap", "motion.speed=0.3", "digits.size=14")
    pool = load_pool(wrap.source, wrap.splits.train.pool, wrap.digits.size)
    chunk = generate(wrap, pool, "train", np.arange(40))
    assert chunk.positions.min() >= 0 and chunk.positions.max() < 40
    assert chunk.events is not None and not chunk.events.any()  # no walls, no bounces
    # A digit that wraps shows on both sides: its visible box spans more than the sprite.
    assert chunk.boxes is not None
    assert ((chunk.boxes[..., 2] - chunk.boxes[..., 0]) > 14).any()
    opened = small_config(f"motion.preset={preset}", "motion.boundary=open", "digits.size=14", "sequence.length=20")
    chunk = generate(opened, pool, "train", np.arange(100))
    assert chunk.visibility is not None
    assert (chunk.visibility == 0).any() and (chunk.visibility > 0.99).any()  # fully off and fully on
    assert chunk.positions.min() < 0 or chunk.positions.max() > 40 - 14


def test_acceleration_changes_speed_but_not_the_walls() -> None:
    cfg = small_config("motion.acceleration=0.02", "digits.count=1")
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(50))
    assert chunk.velocities is not None
    speed = np.linalg.norm(chunk.velocities[:, :, 0], axis=-1)
    assert speed.std() > 0.005
    assert chunk.positions.min() >= 0 and chunk.positions.max() <= 40 - 14
    plain = generate(small_config("digits.count=1"), pool, "train", np.arange(50))
    np.testing.assert_array_equal(plain.source_index, chunk.source_index)  # the noise has its own stream
    assert not np.array_equal(plain.positions, chunk.positions)


@pytest.mark.parametrize("name", ["tfds", "svg-stochastic", "mmnist++"])
def test_preset_configs_load(name: str) -> None:
    cfg = load_config(ROOT / "configs" / f"{name.replace('++', '-plus-plus')}.yaml")
    assert cfg.motion.preset == name
    with pytest.raises(ConfigError, match=r"render\.bounce_on: ink needs motion\.boundary: bounce"):
        load_config(ROOT / "configs" / "tfds.yaml", ["render.bounce_on=ink", "motion.boundary=wrap"])
    with pytest.raises(ConfigError, match=r"mmnist\+\+ bounces its digits' centres itself"):
        small_config("motion.preset=mmnist++", "motion.boundary=open")
    with pytest.raises(ConfigError, match=r"canvas.height and canvas.width must be > 20 \(got 20x40\)"):
        small_config("motion.preset=mmnist++", "canvas.height=20")


# --- mmnist++ -------------------------------------------------------------------------------


def test_mmnistpp_schedules_by_hand() -> None:
    look = pp.appearance(np.array([10.0]), np.array([1.1]), np.array([0.8]), 12)
    powers = [0, -1, -2, -3, -4, -3, -2, -1, 0, 1, 0, -1]  # divide on frames 1-4, multiply on 5-9, ...
    np.testing.assert_allclose(look.scale[:, 0], 1.1 ** np.array(powers, dtype=float))
    np.testing.assert_allclose(look.gain[:, 0], 0.8 ** -np.array(powers, dtype=float))
    np.testing.assert_allclose(look.angle[:, 0], 10.0 * np.arange(12))


def test_mmnistpp_bounces_the_centre_and_clips_the_velocity() -> None:
    # A 20 x 20 crop with its top-left at (40, 30): centre (50, 40). Velocity (5, 0) is
    # clipped to 3.6: centre 53.6, then 57.2 > 54 -> back on 54, velocity reversed.
    shift, vel, hits = pp.mmnistpp(
        np.array([[40.0, 30.0]]), np.array([[5.0, 0.0]]), np.array([[20, 20]]), (64, 64), 4, 3.6
    )
    np.testing.assert_allclose(shift[:, 0, 0] + 10, [50.0, 53.6, 54.0, 50.4])
    np.testing.assert_allclose(vel[:, 0, 0], [5.0, 3.6, -3.6, -3.6])
    assert hits[:, 0, 0].tolist() == [0, 0, 1, 0]
    g = np.random.default_rng(0)
    shift, vel, _ = pp.mmnistpp(
        g.random((50, 2)) * 40, g.normal(size=(50, 2)) * 3, np.full((50, 2), 18), (64, 64), 30, 3.6
    )
    centre = shift[1:] + 9
    assert centre.min() >= 10 and centre.max() <= 54 and np.abs(vel[1:]).max() <= 3.6


def test_warp_places_turns_and_brightens() -> None:
    sprite = np.zeros((1, 8, 8), np.uint8)
    sprite[0, 2:6, 2:6] = 100
    sprite[0, 2, 2] = 200  # the crop's top-left pixel
    box = np.array([[2, 2, 6, 6]])
    same = layers.warp(sprite, box, np.array([[10.0, 20.0]]), np.zeros(1), np.ones(1), np.ones(1), (32, 32))
    expect = np.zeros((32, 32), np.uint8)
    expect[10:14, 20:24] = sprite[0, 2:6, 2:6]
    np.testing.assert_array_equal(same[0], expect)  # whole-pixel shift, no turn: an exact copy
    # A crop that fills its sprite, half a pixel down: nothing may smear past its edges.
    full = np.full((1, 8, 8), 100, np.uint8)
    moved = layers.warp(
        full, np.array([[0, 0, 8, 8]]), np.array([[10.5, 20.0]]), np.zeros(1), np.ones(1), np.ones(1), (32, 32)
    )
    assert moved[0, :10].sum() == 0 and moved[0, 19:].sum() == 0 and (moved[0, 11:18, 20:28] == 100).all()
    assert (moved[0, 10, 20:28] == 50).all() and (moved[0, 18, 20:28] == 50).all() and moved[0, :, 28:].sum() == 0
    half = layers.warp(sprite, box, np.array([[10.0, 20.0]]), np.array([180.0]), np.ones(1), np.full(1, 1.2), (32, 32))
    # A half turn about the crop's centre (12, 22) sends (10, 20) to (14, 24), as OpenCV does.
    assert half[0, 14, 24] == 240 and half[0].sum() > 0 and half[0, 10, 20] == 0


def test_mmnistpp_generation() -> None:
    cfg = small_config(
        "motion.preset=mmnist++", "digits.count=1", "canvas={height: 40, width: 40}", "sequence.length=12"
    )
    assert cfg.motion.speed == (0.0, 0.1)
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(12))
    assert chunk.masks is not None and chunk.boxes is not None and chunk.visibility is not None
    np.testing.assert_array_equal(chunk.masks, (chunk.frames > 0).astype(np.uint8))
    ink = (chunk.frames > 0).reshape(12, 12, -1).sum(axis=2)
    assert chunk.frames.max() > 0 and len(set(ink[:, 1:].ravel().tolist())) > 12  # it turns and scales
    parts = np.concatenate([generate(cfg, pool, "train", np.arange(a, b)).frames for a, b in [(0, 5), (5, 12)]])
    np.testing.assert_array_equal(parts, chunk.frames)
    assert small_config(
        "motion.preset=mmnist++", base={k: v for k, v in SMALL.items() if k != "digits"}
    ).digits.count == (3, 3)
