"""Optical flow (annotations.flow): invariants of the frames as drawn, not golden arrays.

Translated digits: warping frame t by `flow` reproduces frame t + 1 on every valid pixel,
exactly; the flow of a pixel is its owner's displacement in `positions`; valid pixels are a
large share of the ink (all of it for one digit that never leaves the canvas).
mmnist++: a lit sprite pixel's flow is where `layers.warp` draws it next, exactly for poses
that land on pixels; sampling frame t + 1 bilinearly at pixel + flow gives frame t back within
interpolation error (the README's tolerance), far better than a flow without the turn and
scale; a pixel is valid exactly where its digit owns it and the target's nearest pixel.
A build stores what the procedural dataset gives, the same bytes with 1 worker or 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.core import flow, layers
from movmnist.core.generate import Chunk, generate
from movmnist.core.motion import mmnistpp
from movmnist.sources.pools import pool_for
from tests.conftest import small_config
from tests.datasets import built_on_1_and_2_workers, stored_as_computed

CASES = {
    "max, bounce": ("render.combine=max", "motion.boundary=bounce"),
    "max, open": ("render.combine=max", "motion.boundary=open"),
    "sum, wrap": ("render.combine=sum", "motion.boundary=wrap"),
    "over, open": ("render.combine=over", "motion.boundary=open"),
    "over, wrap, 1 to 3 digits": ("render.combine=over", "motion.boundary=wrap", "digits.count=[1, 3]"),
    "max, bounce on ink, rgb": ("render.bounce_on=ink", "source.colour=true"),
    "sum, rgb, fast": ("render.combine=sum", "source.colour=true", "motion.speed=0.4"),
    "over, wrap, render.colour": ("render.combine=over", "motion.boundary=wrap", "render.colour.label_correlation=0.5"),
}


def chunk(*overrides: str, n: int = 16) -> Chunk:
    cfg = small_config("annotations.flow=true", "digits.count=3", *overrides)
    return generate(cfg, pool_for(cfg, "train"), "train", np.arange(n))


def warped_back(c: Chunk, wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """(frame t at each valid pixel, frame t + 1 at pixel + flow), over the whole chunk."""
    frames, flow, valid = np.asarray(c.frames), c.flow, c.flow_valid
    assert flow is not None and valid is not None
    i, t, r, col = np.nonzero(valid)
    dy, dx = flow[i, t, r, col, 0], flow[i, t, r, col, 1]
    assert np.array_equal(dy, np.round(dy)) and np.array_equal(dx, np.round(dx))  # whole pixels
    height, width = frames.shape[2:4]
    r2, c2 = r + dy.astype(np.int64), col + dx.astype(np.int64)
    if wrap:
        r2, c2 = r2 % height, c2 % width
    assert ((r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)).all()
    return frames[i, t, r, col], frames[i, t + 1, r2, c2]


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_warping_frame_t_by_the_flow_gives_frame_t_plus_1_on_valid_pixels(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    n, length, height, width = c.frames.shape[:4]
    assert c.flow.shape == (n, length - 1, height, width, 2) and c.flow.dtype == np.float16
    assert c.flow_valid.shape == (n, length - 1, height, width) and c.flow_valid.dtype == np.bool_
    before, after = warped_back(c, "motion.boundary=wrap" in overrides)
    assert len(before) > 0 and np.array_equal(before, after)
    lit = np.asarray(c.frames)[:, :-1] > 0
    ink = lit if lit.ndim == 4 else np.any(lit, axis=-1)
    assert not (c.flow_valid & ~ink).any()  # never on background ...
    assert (c.flow[~ink] == 0).all()  # ... where the flow is 0
    assert c.flow_valid.sum() > 0.7 * ink.sum()  # occlusion, blending and edges hide a minority


@pytest.mark.parametrize("combine", ["max", "over"])
def test_the_flow_is_the_displacement_of_the_digit_the_mask_names(combine: str) -> None:
    c = chunk(f"render.combine={combine}", "motion.boundary=open")
    assert c.flow is not None and c.masks is not None
    slot = c.masks[:, :-1].astype(np.int64) - 1  # [n, T-1, H, W]; for max and over the mask is the owner
    step = np.diff(c.positions.astype(np.int64), axis=1)  # [n, T-1, K, 2]
    i, t, r, col = np.nonzero(slot >= 0)
    np.testing.assert_array_equal(c.flow[i, t, r, col], step[i, t, slot[i, t, r, col]])


def test_one_digit_that_stays_on_the_canvas_is_valid_wherever_it_has_ink() -> None:
    c = chunk("digits.count=1", "motion.boundary=bounce")
    assert c.flow_valid is not None and c.masks is not None
    np.testing.assert_array_equal(c.flow_valid, c.masks[:, :-1] > 0)


def test_a_digit_leaving_the_canvas_is_not_valid_where_its_target_is_off_it() -> None:
    c = chunk("digits.count=1", "motion.boundary=open", "motion.speed=0.5", n=24)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    i, t, r, col = np.nonzero(c.masks[:, :-1] > 0)
    height, width = c.frames.shape[2:4]
    r2, c2 = r + c.flow[i, t, r, col, 0].astype(int), col + c.flow[i, t, r, col, 1].astype(int)
    off = (r2 < 0) | (r2 >= height) | (c2 < 0) | (c2 >= width)
    assert off.any()  # the case is exercised
    np.testing.assert_array_equal(c.flow_valid[i, t, r, col], ~off)


def test_flow_is_off_by_default_and_taken_for_warped_presets() -> None:
    assert not small_config().annotations.flow
    assert small_config("annotations.flow=true", "motion.preset=mmnist++").annotations.flow
    sets = ["--set", "motion.preset=mmnist++", "--set", "annotations.flow=true"]
    result = CliRunner().invoke(cli, ["config", "show", *sets])
    assert result.exit_code == 0, result.output


def bilinear(frames: np.ndarray, i: np.ndarray, t: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """frames [n, T, H, W] sampled at float (r, c) of frame (i, t), bilinearly, 0 off the canvas."""
    height, width = frames.shape[2:4]
    r0, c0 = np.floor(r).astype(np.int64), np.floor(c).astype(np.int64)
    fr, fc = r - r0, c - c0

    def at(rr: np.ndarray, cc: np.ndarray) -> np.ndarray:
        on = (rr >= 0) & (rr < height) & (cc >= 0) & (cc < width)
        return np.where(on, frames[i, t, rr.clip(0, height - 1), cc.clip(0, width - 1)], 0).astype(np.float64)

    top = at(r0, c0) * (1 - fc) + at(r0, c0 + 1) * fc
    return np.asarray(top * (1 - fr) + (at(r0 + 1, c0) * (1 - fc) + at(r0 + 1, c0 + 1) * fc) * fr)


def sampled_back(frames: np.ndarray, flow_: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|frame t+1 sampled at pixel + flow - frame t| on valid pixels, and the same with a zero flow."""
    i, t, r, c = np.nonzero(valid)
    step = flow_[i, t, r, c].astype(np.float64)
    here = frames[i, t, r, c].astype(np.float64)
    moved = bilinear(frames, i, t + 1, r + step[:, 0], c + step[:, 1])
    still = bilinear(frames, i, t + 1, r.astype(np.float64), c.astype(np.float64))
    return np.abs(moved - here), np.abs(still - here)


def warped_chunk(
    sprites: np.ndarray, crop: np.ndarray, shift: np.ndarray, angle: np.ndarray, scale: np.ndarray, canvas: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One digit per sequence: sprites [n, h, w], crop [n, 4], poses shift [n, T, 2], angle,
    scale [n, T]; drawn by layers.warp (gain 1) -> (frames [n, T, H, W], flow, flow_valid)."""
    n, length = angle.shape
    drawn = layers.warp(
        np.repeat(sprites, length, axis=0),
        np.repeat(crop, length, axis=0),
        shift.reshape(-1, 2),
        angle.reshape(-1),
        scale.reshape(-1),
        np.ones(n * length),
        (canvas, canvas),
    ).reshape(n, length, 1, canvas, canvas)
    out = np.zeros((n, length - 1, canvas, canvas, 2), np.float16), np.zeros((n, length - 1, canvas, canvas), bool)
    pose = (shift[:, :, None], angle[:, :, None], scale[:, :, None])
    flow.of_layers(drawn, np.ones((n, 1), bool), crop[:, None], *pose, "max", None, *out)
    return drawn[:, :, 0], *out


def test_a_lit_sprite_pixel_flows_to_where_warp_draws_it_next() -> None:
    """Poses whose pixel lands on a pixel (integer shifts, quarter turns, whole scales): the one
    lit pixel at frame 0 flows exactly to the brightest pixel of frame 1, whatever its turn."""
    gen = np.random.default_rng(3)
    n, canvas = 24, 64
    at = gen.integers(8, 20, size=(n, 2))
    sprites = np.zeros((n, 28, 28), np.uint8)
    sprites[np.arange(n), at[:, 0], at[:, 1]] = 255
    crop = np.tile([4, 6, 24, 22], (n, 1))  # centre (14, 14): the lit pixel is a whole offset from it
    shift = np.stack([gen.integers(18, 26, (n, 2)), gen.integers(18, 26, (n, 2))], axis=1).astype(np.float64)
    angle = np.stack([np.zeros(n), 90.0 * gen.integers(-3, 4, n)], axis=1)
    scale = np.stack([np.ones(n), gen.integers(1, 3, n).astype(np.float64)], axis=1)
    frames, flow_, valid = warped_chunk(sprites, crop, shift, angle, scale, canvas)
    first = frames[:, 0].reshape(n, -1)
    assert ((first > 0).sum(axis=1) == 1).all()  # unturned and unscaled: one lit pixel
    here = np.stack(np.divmod(first.argmax(axis=1), canvas), axis=1)
    there = np.stack(np.divmod(frames[:, 1].reshape(n, -1).argmax(axis=1), canvas), axis=1)
    step = flow_[np.arange(n), 0, here[:, 0], here[:, 1]]
    np.testing.assert_array_equal(step, (there - here).astype(np.float16))
    assert valid[np.arange(n), 0, here[:, 0], here[:, 1]].all()
    assert (angle[:, 1] % 360 != 0).sum() > n // 2  # most turn


def test_sampling_frame_t_plus_1_at_pixel_plus_flow_gives_back_a_smooth_warped_digit() -> None:
    """Elongated Gaussian blobs (bilinear interpolation is nearly exact on them), turned up to 30
    degrees and scaled by 0.9-1.1 a frame: the README's tolerance for smooth ink."""
    gen = np.random.default_rng(1)
    n, length, canvas = 8, 6, 64
    rows, cols = np.indices((28, 28))
    sigma = gen.uniform(2.5, 4, n)[:, None, None]
    cy, cx = (gen.uniform(11, 17, n)[:, None, None] for _ in range(2))
    blob = 255 * np.exp(-((rows - cy) ** 2 + (cols - cx) ** 2 / 2) / (2 * sigma**2))
    crop = np.tile([2, 3, 26, 25], (n, 1))
    shift = 20 + np.cumsum(gen.uniform(-3, 3, (n, length, 2)), axis=1)
    angle = np.cumsum(gen.uniform(-30, 30, (n, length)), axis=1)
    scale = np.cumprod(gen.uniform(0.9, 1.1, (n, length)), axis=1)
    frames, flow_, valid = warped_chunk(np.rint(blob).astype(np.uint8), crop, shift, angle, scale, canvas)
    error, still = sampled_back(frames, flow_, valid)
    assert valid.sum() > 0.9 * (frames[:, :-1] > 0).sum()
    assert error.mean() < 1 and error.max() < 12  # grey levels of 255
    # The test has teeth: the flow of the crop's centre alone (no turn, no scale) misses.
    i, t, r, c = np.nonzero(valid)
    centre = np.diff(shift, axis=1)[i, t]
    moved = bilinear(frames, i, t + 1, r + centre[:, 0], c + centre[:, 1])
    assert np.abs(moved - frames[i, t, r, c]).mean() > 5 and still.mean() > 10


def steady_brightness(monkeypatch: pytest.MonkeyPatch) -> None:
    """mmnist++ with every frame's gain 1: its brightness schedule (up to 1/0.6 a frame) is not motion."""
    appearance = mmnistpp.appearance

    def steady(*args: object) -> mmnistpp.Appearance:
        look = appearance(*args)  # type: ignore[arg-type]
        return mmnistpp.Appearance(look.angle, look.scale, np.ones_like(look.gain))

    monkeypatch.setattr(mmnistpp, "appearance", steady)


WARPED = {
    "mmnist++, max": ("render.combine=max",),
    "mmnist++, over, 1 to 3 digits": ("render.combine=over", "digits.count=[1, 3]"),
    "mmnist++, sum": ("render.combine=sum",),
}


@pytest.mark.parametrize("overrides", WARPED.values(), ids=WARPED.keys())
def test_mmnistpp_frame_t_plus_1_sampled_at_pixel_plus_flow_is_frame_t(
    overrides: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    steady_brightness(monkeypatch)
    c = chunk("motion.preset=mmnist++", *overrides, n=24)
    frames = np.asarray(c.frames)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    n, length, height, width = frames.shape
    assert c.flow.shape == (n, length - 1, height, width, 2) and c.flow.dtype == np.float16
    assert not np.array_equal(c.flow, np.round(c.flow))  # sub-pixel: the digits turn and scale
    ink = frames[:, :-1] > 0
    assert not (c.flow_valid & ~ink).any() and (c.flow[~ink] == 0).all()
    assert c.flow_valid.sum() > 0.7 * ink.sum()  # as for translation: overlaps hide a minority
    error, still = sampled_back(frames, c.flow, c.flow_valid)
    # Sharp strokes sampled twice (warp, then here): the README's tolerance for digits.
    assert error.mean() < 12 and np.percentile(error, 90) < 30
    assert error.mean() < still.mean() / 4


@pytest.mark.parametrize("combine", ["max", "over"])
def test_an_mmnistpp_pixel_is_valid_exactly_where_its_digit_owns_it_and_its_target(combine: str) -> None:
    c = chunk("motion.preset=mmnist++", f"render.combine={combine}", n=24)
    assert c.flow is not None and c.flow_valid is not None and c.masks is not None
    height, width = c.masks.shape[2:]
    # For max and over the stored mask names the owner (the brightest, or the top digit with ink).
    i, t, r, col = np.nonzero(c.masks[:, :-1] > 0)
    r2 = np.rint(r + c.flow[i, t, r, col, 0].astype(np.float64)).astype(np.int64)
    c2 = np.rint(col + c.flow[i, t, r, col, 1].astype(np.float64)).astype(np.int64)
    on = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
    mine = c.masks[i, t + 1, r2.clip(0, height - 1), c2.clip(0, width - 1)] == c.masks[i, t, r, col]
    np.testing.assert_array_equal(c.flow_valid[i, t, r, col], on & mine)
    assert (~(on & mine)).any()  # the case is exercised


@pytest.mark.parametrize("motion", [(), ("motion.preset=mmnist++",)], ids=["translated", "mmnist++"])
def test_a_build_stores_the_procedural_flow_with_the_same_bytes_on_1_or_2_workers(
    motion: tuple[str, ...], tmp_path: Path
) -> None:
    cfg = small_config("annotations.flow=true", "render.combine=over", "splits.val.sequences=0", *motion)
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert {"flow", "flow_valid"} <= set(stored)
