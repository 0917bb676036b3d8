"""Point tracks (annotations.tracks): invariants of the frames as drawn, not golden arrays.

A point that is not occluded lies on the canvas, on ink, in a pixel its own digit owns
(`flow.owner` over each digit drawn alone); it is occluded exactly where another digit owns
its pixel or it is off the canvas; a translated point keeps its offset from its digit's
top-left (point j follows slot j mod the sequence's digit count) and starts on that sprite's
ink; an mmnist++ point follows the digit's warp; the other arrays are the same bytes with
tracks on or off; a build stores what the procedural dataset gives, with 1 worker or 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.core import flow, layers, tracks
from movmnist.core.colour import tinted_sprites
from movmnist.core.generate import Chunk, generate
from movmnist.errors import ConfigError
from movmnist.sources.pools import pool_for
from tests.conftest import small_config
from tests.datasets import built_on_1_and_2_workers, stored_as_computed

CASES = {
    "max, bounce": ("render.combine=max", "motion.boundary=bounce"),
    "max, open": ("render.combine=max", "motion.boundary=open"),
    "sum, wrap": ("render.combine=sum", "motion.boundary=wrap"),
    "over, open, 1 to 3 digits": ("render.combine=over", "motion.boundary=open", "digits.count=[1, 3]"),
    "over, wrap": ("render.combine=over", "motion.boundary=wrap"),
    "max, bounce on ink, rgb": ("render.bounce_on=ink", "source.colour=true"),
    "sum, rgb, fast, open": ("render.combine=sum", "source.colour=true", "motion.speed=0.4", "motion.boundary=open"),
    "over, wrap, render.colour": ("render.combine=over", "motion.boundary=wrap", "render.colour.label_correlation=0.5"),
}
WARPED = {"mmnist++, max": ("render.combine=max",), "mmnist++, over": ("render.combine=over",)}
POINTS = 24


def chunk(*overrides: str, n: int = 12) -> Chunk:
    cfg = small_config(f"annotations.tracks={POINTS}", "digits.count=3", *overrides)
    return generate(cfg, pool_for(cfg, "train"), "train", np.arange(n))


def slots(c: Chunk) -> np.ndarray:
    """[n, P] the digit slot of each point: j mod the sequence's digit count."""
    count = (c.labels >= 0).sum(axis=1)
    return np.arange(POINTS)[None, :] % count[:, None]


def owners(cfg_overrides: tuple[str, ...], c: Chunk) -> np.ndarray:
    """[n, T, H, W] which slot owns each pixel, from each digit drawn alone (translated digits)."""
    cfg = small_config(f"annotations.tracks={POINTS}", "digits.count=3", *cfg_overrides)
    pool = pool_for(cfg, "train")
    choice = np.searchsorted(pool.source_index, c.source_index.clip(0))  # the pool's images of the digits
    present = c.labels >= 0
    wrap = cfg.motion.boundary == "wrap"
    clip = cfg.motion.boundary != "bounce" or cfg.render.bounce_on == "ink"
    shape = np.asarray(c.frames).shape
    images = pool.images
    if c.colours is not None:  # render.colour: each slot's tinted sprite
        images, choice = tinted_sprites(images, choice, c.colours, np.asarray(cfg.render.colour.palette, np.uint8))
    drawn = flow.layers(images, choice, present, c.positions.astype(np.int64), shape, wrap, clip, None)
    values = drawn if drawn.ndim == 5 else drawn.max(axis=-1)
    return flow.owner(values, cfg.render.combine, c.z_order)


def visible_pixels(c: Chunk) -> tuple[np.ndarray, ...]:
    assert c.tracks is not None and c.occluded is not None
    i, p, t = np.nonzero(~c.occluded)
    q = np.rint(c.tracks[i, p, t]).astype(np.int64)
    return i, p, t, q[:, 0], q[:, 1]


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_points_are_occluded_exactly_off_the_canvas_or_on_another_digits_pixel(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.tracks is not None and c.occluded is not None
    n, length, height, width = np.asarray(c.frames).shape[:4]
    assert c.tracks.shape == (n, POINTS, length, 2) and c.tracks.dtype == np.float32
    assert c.occluded.shape == (n, POINTS, length) and c.occluded.dtype == np.bool_
    assert np.array_equal(c.tracks, np.round(c.tracks))  # whole pixels for translated digits
    cell = c.tracks.astype(np.int64)
    on = (cell[..., 0] >= 0) & (cell[..., 0] < height) & (cell[..., 1] >= 0) & (cell[..., 1] < width)
    own = owners(overrides, c)
    i, _, t = np.indices(c.occluded.shape)
    r, col = cell[..., 0].clip(0, height - 1), cell[..., 1].clip(0, width - 1)
    mine = own[i, t, r, col] == slots(c)[:, :, None]
    np.testing.assert_array_equal(c.occluded, ~(on & mine))
    assert (~c.occluded).mean() > 0.2 and c.occluded.any()  # both cases exercised
    # Visible points are on ink of the frame.
    i, _, t, r, col = visible_pixels(c)
    ink = np.asarray(c.frames)[i, t, r, col]
    assert (ink.reshape(len(i), -1).max(axis=1) > 0).all()


@pytest.mark.parametrize("overrides", CASES.values(), ids=CASES.keys())
def test_a_translated_point_keeps_its_place_on_its_digit_and_starts_on_its_ink(overrides: tuple[str, ...]) -> None:
    c = chunk(*overrides)
    assert c.tracks is not None
    cfg = small_config("digits.count=3", *overrides)
    pool = pool_for(cfg, "train")
    slot = slots(c)
    rows = np.arange(len(slot))[:, None]
    top = c.positions.astype(np.int64)[rows, :, slot]  # [n, P, T, 2]
    height, width = np.asarray(c.frames).shape[2:4]
    offset = c.tracks.astype(np.int64) - top
    if "motion.boundary=wrap" in overrides:
        offset %= np.array([height, width])
    assert (offset == offset[:, :, :1]).all()  # the same pixel of the sprite in every frame
    h, w = pool.images.shape[1:3]
    at = offset[:, :, 0]
    assert ((at >= 0) & (at < [h, w])).all()
    choice = np.searchsorted(pool.source_index, c.source_index)[rows, slot]
    ink = pool.images[choice, at[..., 0], at[..., 1]]
    assert (ink.reshape(*slot.shape, -1).max(axis=-1) > 0).all()
    # Without replacement: a digit's points are distinct pixels of it (MNIST-like digits have plenty).
    for s in range(3):
        for seq in range(len(slot)):
            mine = at[seq][slot[seq] == s]
            assert len(np.unique(mine, axis=0)) == len(mine)


@pytest.mark.parametrize("overrides", WARPED.values(), ids=WARPED.keys())
def test_mmnistpp_points_are_visible_exactly_where_their_digit_owns_the_pixel(overrides: tuple[str, ...]) -> None:
    c = chunk("motion.preset=mmnist++", *overrides)
    assert c.tracks is not None and c.occluded is not None and c.masks is not None
    assert not np.array_equal(c.tracks, np.round(c.tracks))  # sub-pixel: the digits turn and scale
    height, width = np.asarray(c.frames).shape[2:4]
    cell = np.rint(c.tracks).astype(np.int64)
    on = (cell[..., 0] >= 0) & (cell[..., 0] < height) & (cell[..., 1] >= 0) & (cell[..., 1] < width)
    i, _, t = np.indices(c.occluded.shape)
    r, col = cell[..., 0].clip(0, height - 1), cell[..., 1].clip(0, width - 1)
    # For max and over the stored mask names the owner (the brightest, or the top digit with ink).
    mine = c.masks[i, t, r, col] == slots(c)[:, :, None] + 1
    np.testing.assert_array_equal(c.occluded, ~(on & mine))
    assert (~c.occluded).mean() > 0.5
    i, _, t, r, col = visible_pixels(c)
    assert (np.asarray(c.frames)[i, t, r, col] > 0).all()


def test_a_warped_point_is_where_layers_warp_draws_that_pixel_of_the_sprite() -> None:
    """One lit sprite pixel warped by `layers.warp`: its ink's centroid is the point `tracks.warped` gives."""
    gen = np.random.default_rng(0)
    b, h, w = 64, 28, 28
    at = gen.integers(6, 22, size=(b, 2))
    sprites = np.zeros((b, h, w), np.uint8)
    sprites[np.arange(b), at[:, 0], at[:, 1]] = 255
    box = np.tile([4, 5, 24, 23], (b, 1))
    shift = gen.uniform(45, 60, size=(b, 2))  # far from the edges of a 128 x 128 canvas
    angle, scale = gen.uniform(-180, 180, b), gen.uniform(1.5, 3.0, b)
    drawn = layers.warp(sprites, box, shift, angle, scale, np.ones(b), (128, 128)).astype(np.float64)
    rows, cols = np.indices((128, 128))
    mass = drawn.sum(axis=(1, 2))
    centroid = np.stack([(drawn * rows).sum(axis=(1, 2)) / mass, (drawn * cols).sum(axis=(1, 2)) / mass], axis=1)
    point = tracks.warped(at[:, None], box[:, None], shift[:, None, None], angle[:, None, None], scale[:, None, None])
    # The centroid of a sampled, rounded bilinear tent is within a tenth of a pixel of its peak;
    # a wrong turn or scale would miss by pixels.
    np.testing.assert_allclose(point[:, 0, 0], centroid, atol=0.15)


def test_the_other_arrays_are_the_same_bytes_with_tracks_on_or_off() -> None:
    for preset in ("srivastava", "mmnist++"):
        cfg = small_config(f"motion.preset={preset}", "render.combine=over")
        on, off = (
            generate(c, pool_for(c, "train"), "train", np.arange(6))
            for c in (small_config(f"motion.preset={preset}", "render.combine=over", "annotations.tracks=8"), cfg)
        )
        for name in ("frames", "labels", "positions", "source_index", "trajectories", "boxes", "events", "z_order"):
            assert np.asarray(getattr(on, name)).tobytes() == np.asarray(getattr(off, name)).tobytes(), name
        assert off.tracks is None and on.tracks is not None


def test_tracks_are_off_by_default_and_a_point_count() -> None:
    assert small_config().annotations.tracks == 0
    for bad, why in (("true", "must be an integer"), ("-1", ">= 0")):
        with pytest.raises(ConfigError, match=r"^annotations\.tracks ") as info:
            small_config(f"annotations.tracks={bad}")
        assert why in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(cli, ["config", "show", "--set", "annotations.tracks=-1"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_build_stores_the_procedural_tracks_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config("annotations.tracks=16", "render.combine=over", "motion.boundary=open", "splits.val.sequences=0")
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        for name in ("tracks", "occluded"):
            assert stored[name].shape[1] == 16
