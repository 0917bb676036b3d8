"""render.colour (issue 21, item 5): per-digit palette colours correlated with the label.

Invariants, not golden arrays: the share of digits in their label's colour is within a
binomial tolerance of label_correlation (p = 1 always, p = 0 never) and the others spread
over the nine other colours; where one digit alone covers a pixel it shows its grey ink
tinted by its recorded colour (so its hue); every frame is the per-channel max / sum / over
of the tinted sprites at the stored positions; with render.colour off every array keeps
its bytes; a build stores what the procedural dataset gives, with 1 worker or 2; bad
values are one line and exit 2.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest

from movmnist.config.sections import PALETTE
from movmnist.core.colour import tint
from movmnist.core.generate import Chunk, generate
from movmnist.core.pool import Pool
from movmnist.sources.pools import pool_for
from tests.conftest import refused_in_one_line, small_config
from tests.datasets import built_on_1_and_2_workers, chunk_digest, stored_as_computed

PALETTE_RGB = np.asarray(PALETTE, dtype=np.uint8)


def _chunk(*overrides: str, n: int = 24) -> tuple[Chunk, Pool]:
    cfg = small_config("digits.count=[1, 3]", *overrides)
    pool = pool_for(cfg, "train")
    return generate(cfg, pool, "train", np.arange(n)), pool


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9, 1.0])
def test_the_share_of_label_colours_is_label_correlation_within_binomial_tolerance(p: float) -> None:
    chunk, _ = _chunk(f"render.colour.label_correlation={p}", "sequence.length=2", n=3000)
    assert chunk.colours is not None and chunk.colours.dtype == np.int8
    present = chunk.labels >= 0
    assert (chunk.colours[~present] == -1).all()
    colours, labels = chunk.colours[present].astype(int), chunk.labels[present].astype(int)
    own = colours == labels
    n = own.size
    assert n > 5000
    if p in (0.0, 1.0):
        assert own.all() if p == 1.0 else not own.any()
    else:
        assert abs(own.mean() - p) <= 4 * np.sqrt(p * (1 - p) / n)
    if p < 1:  # the others: uniform over the nine other colours
        offset = (colours[~own] - labels[~own]) % 10
        counts = np.bincount(offset, minlength=10)
        assert counts[0] == 0
        expected = (~own).sum() / 9
        assert np.abs(counts[1:] - expected).max() <= 5 * np.sqrt(expected)


def _boxes_alone(chunk: Chunk) -> np.ndarray:
    """[n, T, K, H, W] where digit k's ink box covers the pixel and no other digit's does."""
    assert chunk.amodal_boxes is not None
    height, width = chunk.frames.shape[2:4]
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    b = chunk.amodal_boxes.astype(int)[..., None, None]  # (x0, y0, x1, y1)
    inside = (cols >= b[..., 0, :, :]) & (cols < b[..., 2, :, :]) & (rows >= b[..., 1, :, :]) & (rows < b[..., 3, :, :])
    inside &= (chunk.labels >= 0)[:, None, :, None, None]
    return inside & (inside.sum(axis=2, keepdims=True) == 1)


@pytest.mark.parametrize("combine", ["max", "sum", "over"])
def test_a_digit_alone_on_a_pixel_shows_its_grey_ink_in_its_recorded_colour(combine: str) -> None:
    on, _ = _chunk(f"render.combine={combine}", "render.colour.label_correlation=0.5")
    off, _ = _chunk(f"render.combine={combine}")
    assert on.frames.shape == (*off.frames.shape, 3) and on.frames.dtype == np.uint8
    np.testing.assert_array_equal(on.positions, off.positions)  # colour changes nothing of the motion
    assert on.colours is not None
    alone = _boxes_alone(off)
    frames_on, frames_off = np.asarray(on.frames), np.asarray(off.frames)
    checked = 0
    for k in range(on.labels.shape[1]):
        seq, t, r, c = np.nonzero(alone[:, :, k])
        grey = frames_off[seq, t, r, c]
        rgb = PALETTE_RGB[on.colours[seq, k]]
        np.testing.assert_array_equal(frames_on[seq, t, r, c], tint(grey[:, None, None], rgb)[:, 0, 0])
        bright = grey >= 128
        for got, want in zip(frames_on[seq, t, r, c][bright], rgb[bright], strict=True):
            h_got, h_want = colorsys.rgb_to_hsv(*(got / 255))[0], colorsys.rgb_to_hsv(*(want / 255))[0]
            assert min(abs(h_got - h_want), 1 - abs(h_got - h_want)) < 0.02
        checked += int(bright.sum())
    assert checked > 1000


def tinted_reference(chunk: Chunk, pool: Pool, combine: str, below: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(frames [n, T, H, W, 3] redrawn from the pool's grey sprites tinted by the recorded colours at
    the stored positions, combined per channel by `combine` over `below` (a background, or black);
    how many pixels had overlapping ink)."""
    assert chunk.colours is not None
    choice = np.searchsorted(pool.source_index, chunk.source_index)
    h, w = pool.images.shape[1:3]
    n, t, height, width, _ = chunk.frames.shape
    k = chunk.labels.shape[1]
    order = np.argsort(np.where(chunk.z_order < 0, k, chunk.z_order)) if chunk.z_order is not None else None
    frames = np.zeros((n, t, height, width, 3), np.uint8) if below is None else below.copy()
    overlaps = 0
    for i in range(n):
        slots = [s for s in (range(k) if order is None else order[i]) if chunk.labels[i, s] >= 0]
        sprites = {s: tint(pool.images[choice[i, s]][None], PALETTE_RGB[chunk.colours[i, s]][None])[0] for s in slots}
        for f in range(t):
            want = frames[i, f].astype(np.int64)
            cover = np.zeros((height, width), int)
            for s in slots:
                r, c = chunk.positions[i, f, s]
                patch, sprite = want[r : r + h, c : c + w], sprites[s].astype(np.int64)
                ink = (sprite > 0).any(axis=-1)
                cover[r : r + h, c : c + w] += ink
                if combine == "max":
                    np.maximum(patch, sprite, out=patch)
                elif combine == "sum":
                    patch += sprite
                else:
                    patch[ink] = sprite[ink]
            frames[i, f] = np.minimum(want, 255)
            overlaps += int((cover > 1).sum())
    return frames, overlaps


@pytest.mark.parametrize("combine", ["max", "sum", "over"])
def test_frames_combine_the_tinted_sprites_per_channel(combine: str) -> None:
    chunk, pool = _chunk(f"render.combine={combine}", "render.colour.label_correlation=0.5", n=12)
    want, overlaps = tinted_reference(chunk, pool, combine)
    np.testing.assert_array_equal(chunk.frames, want)
    assert overlaps > 100  # overlapping ink was compared too


# Every array of a chunk with render.colour off, from main at 6b467b4 (before render.colour).
OFF = {
    ("max", False): "d23b7b78aa6808e2",
    ("max", True): "101d0958c44b6f48",
    ("sum", False): "d09d45924c9f44ab",
    ("sum", True): "bc938b766cd70a5c",
    ("over", False): "97263afd10526a92",
    ("over", True): "bcebf652fd0f2d5f",
}


@pytest.mark.parametrize(("combine", "annotated"), list(OFF))
def test_with_colour_off_every_array_keeps_its_bytes(combine: str, annotated: bool) -> None:
    extra = ("annotations.masks=true", "annotations.flow=true", "annotations.tracks=6") if annotated else ()
    cfg = small_config(f"render.combine={combine}", "digits.count=[1, 4]", *extra)
    assert cfg.render.colour is None
    chunk = generate(cfg, pool_for(cfg, "train"), "train", np.arange(3, 15))
    assert chunk_digest(chunk) == OFF[(combine, annotated)]


def test_a_build_stores_the_procedural_colours_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config("digits.count=[1, 3]", "render.colour.label_correlation=0.7", "annotations.masks=true")
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert "colours" in stored
        assert stored["frames"].shape[-1] == 3 and stored["colours"].dtype == np.int8
        assert ((stored["colours"] == -1) == (stored["labels"] == -1)).all()


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["render.colour.label_correlation=1.5"], "render.colour.label_correlation must be <= 1.0 (got 1.5)"),
        (["render.colour.label_correlation=-0.1"], "render.colour.label_correlation must be >= 0.0 (got -0.1)"),
        (
            ["render.colour.palette=[[1, 2, 3]]"],
            "render.colour.palette must be 10 [r, g, b] triples of integers 0..255, one per label 0..9"
            " (got [[1, 2, 3]])",
        ),
        (
            [
                "render.colour.palette=[[1, 2, 300], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3],"
                " [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]]"
            ],
            "render.colour.palette must be 10 [r, g, b] triples of integers 0..255, one per label 0..9"
            " (got [[1, 2, 300], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3], ...])",
        ),
        (
            ["render.colour.palette=" + str([[0, 0, 0]] + [[9, 9, 9]] * 9)],
            "render.colour.palette must not hold black [0, 0, 0]: a digit drawn in it would have no ink;"
            " pick another colour",
        ),
        (
            ["render.colour.label_correlation=0.9", "motion.preset=mmnist++"],
            "render.colour tints fixed sprites, and motion.preset mmnist++ warps grey digits every frame;"
            " drop render.colour or pick another preset",
        ),
        (
            ["render.colour.label_correlation=0.9", "source.colour=true"],
            "render.colour tints grey digits, and source.colour already gives them colours;"
            " set source.colour: false or drop render.colour",
        ),
    ],
)
def test_bad_values_are_one_line_and_exit_2(sets: list[str], message: str) -> None:
    assert refused_in_one_line(["config", "show"], sets).endswith(message)
