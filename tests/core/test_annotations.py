"""Annotations: they agree with the frames, and have the documented shapes, dtypes and ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import movmnist as mds
from movmnist.builder import build
from movmnist.core import annotate, render
from movmnist.core.generate import Chunk, extras, generate, sequence_shape
from movmnist.core.pool import Pool
from movmnist.sources import load_pool
from movmnist.store.schema import Layout
from tests.conftest import small_config


def _boxes_of(on: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1), exclusive, of a boolean [H, W] image; -1s if empty."""
    if not on.any():
        return np.full(4, -1)
    rows, cols = np.flatnonzero(on.any(axis=1)), np.flatnonzero(on.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])


def _sprites(pool: Pool, source_index: np.ndarray) -> dict[int, np.ndarray]:
    where = {int(s): j for j, s in enumerate(pool.source_index)}
    return {int(s): pool.images[where[int(s)]] for s in source_index.ravel() if s >= 0}


def test_one_digit_masks_and_boxes_are_the_frames_ink(tmp_path: Path) -> None:
    cfg = small_config("digits.count=1", "splits.val.sequences=0", "splits.test.sequences=0")
    build(cfg, tmp_path / "d", workers=1)
    with mds.open(tmp_path / "d") as ds:
        item = ds["train"].with_annotations()[:]
        events = ds["train"].events()
    frames, masks = item["frames"], item["masks"]
    np.testing.assert_array_equal(masks, (frames > 0).astype(np.uint8))
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    sprite = _sprites(pool, item["source_index"])
    for i in range(len(frames)):
        ink_box, _ = annotate.ink_boxes(sprite[int(item["source_index"][i, 0])], colour=False)
        for t in range(frames.shape[1]):
            np.testing.assert_array_equal(item["boxes"][i, t, 0], _boxes_of(frames[i, t] > 0))
            r, c = item["positions"][i, t, 0]
            expect = [c + ink_box[1], r + ink_box[0], c + ink_box[3], r + ink_box[2]]
            np.testing.assert_array_equal(item["amodal_boxes"][i, t, 0], expect)
    np.testing.assert_array_equal(item["visibility"], 1.0)  # bouncing on the patch: always whole
    # Each bounce off the top wall leaves the digit at row 0 in that frame (srivastava clamps).
    top = events[events[:, 3] == 0]
    assert len(top) and (item["positions"][top[:, 0], top[:, 1], top[:, 2], 0] == 0).all()
    right = events[events[:, 3] == 3]
    assert len(right) and (item["positions"][right[:, 0], right[:, 1], right[:, 2], 1] == 40 - 14).all()


def test_three_digits_over_agree_with_a_repaint() -> None:
    cfg = small_config("digits.count=3", "render.combine=over", "canvas.height=24", "canvas.width=24")
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(30))
    assert chunk.z_order is not None and chunk.masks is not None and chunk.boxes is not None
    assert chunk.visibility is not None
    sprite = _sprites(pool, chunk.source_index)
    for i in range(30):
        assert sorted(chunk.z_order[i].tolist()) == [0, 1, 2]
        for t in range(cfg.sequence.length):
            frame, mask = np.zeros((24, 24), np.uint8), np.zeros((24, 24), np.uint8)
            for slot in np.argsort(chunk.z_order[i]):  # bottom first
                s = sprite[int(chunk.source_index[i, slot])]
                r, c = chunk.positions[i, t, slot]
                on = s > 0
                frame[r : r + 14, c : c + 14][on] = s[on]
                mask[r : r + 14, c : c + 14][on] = slot + 1
            np.testing.assert_array_equal(chunk.frames[i, t], frame)
            np.testing.assert_array_equal(chunk.masks[i, t], mask)
            for slot in range(3):
                np.testing.assert_array_equal(chunk.boxes[i, t, slot], _boxes_of(mask == slot + 1))
                total = (sprite[int(chunk.source_index[i, slot])] > 0).sum()
                assert np.isclose(chunk.visibility[i, t, slot], (mask == slot + 1).sum() / total)


def test_a_hidden_digit_has_box_minus_one() -> None:
    frames = np.zeros((1, 2, 12, 12), np.uint8)
    images = np.zeros((2, 6, 6), np.uint8)
    images[0] = 200  # a solid block, drawn on top
    images[1, 2:4, 2:4] = 90  # a small digit underneath
    pixels = np.array([[[[3, 3], [3, 3]], [[3, 3], [6, 6]]]])  # [n, T, K, 2]: frame 0 same place, frame 1 apart
    z = np.array([[1, 0]], dtype=np.int8)
    composed = render.compose(
        frames, images, np.array([[0, 1]]), np.ones((1, 2), bool), pixels, "over", z_order=z, with_mask=True
    )
    assert composed is not None
    boxes, counts = annotate.visible_boxes(composed[0], (0, 0), pixels, (6, 6), wrap=False)
    assert boxes[0, 0, 1].tolist() == [-1, -1, -1, -1] and counts[0, 0, 1] == 0  # hidden
    assert boxes[0, 1, 1].tolist() == [8, 8, 10, 10] and counts[0, 1, 1] == 3  # in sight, one pixel under the block
    assert boxes[0, 0, 0].tolist() == [3, 3, 9, 9]


@settings(max_examples=25, deadline=None)
@given(
    preset=st.sampled_from(["srivastava", "tutorial", "tfds", "svg-deterministic", "svg-stochastic", "mmnist++"]),
    combine=st.sampled_from(["max", "sum", "over"]),
    boundary=st.sampled_from(["bounce", "wrap", "open"]),
    ink=st.booleans(),
    count=st.tuples(st.integers(1, 3), st.integers(0, 2)),
    canvas=st.tuples(st.integers(14, 40), st.integers(14, 40)),
    size=st.integers(4, 14),
    length=st.integers(2, 8),
    acceleration=st.sampled_from([0.0, 0.05]),
    seed=st.integers(0, 2**32),
)
def test_every_array_has_its_documented_shape_dtype_and_range(
    preset: str,
    combine: str,
    boundary: str,
    ink: bool,
    count: tuple[int, int],
    canvas: tuple[int, int],
    size: int,
    length: int,
    acceleration: float,
    seed: int,
) -> None:
    lo, hi = count[0], count[0] + count[1]
    if preset == "mmnist++":  # it has its own walls, 10 px inside the canvas
        boundary, ink, canvas = "bounce", False, (max(canvas[0], 21), max(canvas[1], 21))
    cfg = small_config(
        f"motion.preset={preset}",
        f"render.combine={combine}",
        f"motion.boundary={boundary}",
        f"render.bounce_on={'ink' if ink and boundary == 'bounce' else 'patch'}",
        f"digits.count=[{lo}, {hi}]",
        f"canvas={{height: {canvas[0]}, width: {canvas[1]}}}",
        f"digits.size={size}",
        f"sequence.length={length}",
        f"motion.acceleration={acceleration}",
        f"seed={seed}",
    )
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk: Chunk = generate(cfg, pool, "train", np.arange(7))
    layout = Layout(sequence=sequence_shape(cfg, pool.images.shape[1:]), digits=hi, extras=extras(cfg))
    for name, (shape, dtype) in layout.shapes().items():
        a = getattr(chunk, name)
        assert a.shape == (7, *shape) and a.dtype == np.dtype(dtype), name
    for name, (row, dtype) in layout.tables().items():
        a = getattr(chunk, name)
        assert a.shape[1:] == row and a.dtype == np.dtype(dtype), name
    h, w = canvas
    present = chunk.labels >= 0
    assert chunk.masks is not None and chunk.masks.max() <= hi
    assert chunk.boxes is not None and chunk.visibility is not None and chunk.amodal_boxes is not None
    seen = chunk.boxes[..., 0] >= 0
    b = chunk.boxes[seen]
    assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all() and b[:, 2].max(initial=0) <= w
    assert b[:, 3].max(initial=0) <= h and (chunk.boxes[~seen] == -1).all()
    vis = chunk.visibility.transpose(0, 2, 1)
    assert np.isnan(vis[~present]).all() and (vis[present] >= 0).all() and (vis[present] <= 1).all()
    assert ((chunk.visibility > 0) == seen).all()
    assert chunk.trajectories is not None and chunk.velocities is not None
    traj = chunk.trajectories.transpose(0, 2, 1, 3)
    assert np.isfinite(traj[present]).all() and np.isnan(traj[~present]).all()
    if boundary == "bounce" and preset != "mmnist++":  # mmnist++: a crop may start outside its lines
        assert traj[present].min() >= 0 and traj[present].max() <= 1
        pos = chunk.positions.transpose(0, 2, 1, 3)[present]
        if not ink:
            assert pos.min() >= 0 and pos[..., 0].max() <= h - size and pos[..., 1].max() <= w - size
        amodal = chunk.amodal_boxes.transpose(0, 2, 1, 3)[present]
        whole = amodal[..., 0] >= 0
        assert amodal[whole][:, 2].max(initial=0) <= w and amodal[whole][:, 3].max(initial=0) <= h
    if boundary == "wrap":
        pos = chunk.positions.transpose(0, 2, 1, 3)[present]
        assert pos.min() >= 0 and pos[..., 0].max() < h and pos[..., 1].max() < w
    assert chunk.events is not None
    e = annotate.events_table(chunk.events, np.arange(7))
    assert (e[:, 1] < length).all() and (e[:, 3] <= 3).all() and (e[:, 3] >= 0).all()
    assert (chunk.labels[e[:, 0], e[:, 2]] >= 0).all()
    if combine == "over":
        assert chunk.z_order is not None
        for i in range(7):
            assert sorted(chunk.z_order[i][present[i]].tolist()) == list(range(present[i].sum()))


def test_bounce_on_ink_puts_the_ink_box_on_the_walls() -> None:
    cfg = small_config("render.bounce_on=ink", "digits.count=1", "sequence.length=30", "motion.speed=0.3")
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(40))
    assert chunk.amodal_boxes is not None and chunk.events is not None
    box = chunk.amodal_boxes[:, :, 0]
    assert box[..., :2].min() >= 0 and box[..., 2:].max() <= 40
    e = annotate.events_table(chunk.events, np.arange(40))
    walls = {0: box[e[:, 0], e[:, 1], 1], 1: box[e[:, 0], e[:, 1], 3], 2: box[e[:, 0], e[:, 1], 0]}
    assert (walls[0][e[:, 3] == 0] == 0).all() and (walls[1][e[:, 3] == 1] == 40).all()
    assert (walls[2][e[:, 3] == 2] == 0).all() and len(e) > 10
    assert (chunk.positions < 0).any()  # the patch's empty margin leaves the canvas
