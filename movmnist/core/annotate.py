"""Annotations of generated sequences, computed from the motion and the composited mask.

Pure numpy, vectorised over the chunk (loops run over the K digit slots only).
Conventions (the README's schema says the same):
- pixel coordinates: row (y) down from the top, column (x) right from the left, in pixels
  of the canvas; boxes are (x0, y0, x1, y1) with x1, y1 exclusive, so x1 - x0 is the width.
- a digit slot a sequence does not use (label -1) has -1 in integer annotations and NaN
  in float ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from movmnist.core import rng
from movmnist.core.render import Composed
from movmnist.core.scene import Scene

WALLS = ("top", "bottom", "left", "right")  # kinds 0-3 of `events`; kind 4 + j: collided with digit slot j


def events_dtype(digits: int, collisions: bool) -> np.dtype:
    """The dtype of `events`: uint8 for the four wall bits; where digits collide (a preset with
    `collides`), the narrowest unsigned integer that also holds a bit per digit slot (4 + K)."""
    bits = len(WALLS) + (digits if collisions else 0)
    return np.dtype(next(f"uint{size}" for size in (8, 16, 32, 64) if size >= bits))


def ink_boxes(sprites: np.ndarray, colour: bool) -> tuple[np.ndarray, np.ndarray]:
    """The ink box and ink count of each sprite (ink: a value > 0 in any channel).

    sprites: [..., h, w] uint8, or [..., h, w, C] when `colour`.
    Returns boxes [..., 4] int64 (r0, c0, r1, c1), r1 and c1 exclusive, (0, 0, 0, 0) for a
    blank sprite; and counts [...] int64, the number of ink pixels.
    """
    on = np.asarray(sprites > 0)
    if colour:
        on = np.asarray(on.any(axis=-1))
    rows, cols = np.asarray(on.any(axis=-1)), np.asarray(on.any(axis=-2))  # [..., h], [..., w]
    h, w = on.shape[-2:]
    r0, c0 = rows.argmax(axis=-1), cols.argmax(axis=-1)
    r1, c1 = h - rows[..., ::-1].argmax(axis=-1), w - cols[..., ::-1].argmax(axis=-1)
    boxes = np.stack([r0, c0, r1, c1], axis=-1)
    boxes[~rows.any(axis=-1)] = 0
    return boxes, on.sum(axis=(-2, -1))


def z_order(draw: Callable[[int, int], np.ndarray], present: np.ndarray) -> np.ndarray:
    """[n, K] int8 layer of each digit slot for render.combine: over (0 is drawn first, at the
    bottom), a uniformly random order of the present slots (stream Z_ORDER); -1 if absent."""
    u = draw(rng.Z_ORDER, present.shape[1])
    u[~present] = 2.0  # absent slots sort last
    layer = np.argsort(np.argsort(u, axis=1, kind="stable"), axis=1, kind="stable").astype(np.int8)
    layer[~present] = -1
    return layer


def _per_digit(values: np.ndarray, n: int, length: int, k: int) -> np.ndarray:
    """[T, n * k, ...] -> [n, T, k, ...]."""
    return values.reshape(length, n, k, *values.shape[2:]).swapaxes(0, 1)


def visible_boxes(
    mask: np.ndarray,
    pad: tuple[int, int],
    pixels: np.ndarray,
    sprite: tuple[int, int],
    wrap: bool,
    window: tuple[np.ndarray, np.ndarray, tuple[int, int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each slot's visible box and visible pixel count, from the composited mask.

    mask: [n, T, H + 2 pad_h, W + 2 pad_w] uint8, slot + 1 where that digit shows (as
    `render.compose` returns it); pixels: [n, T, K, 2] top-left (row, col) on the canvas.
    A digit shows only inside its own sprite window, so we look there (a fifth of the
    frame for MNIST); on a torus (wrap) it may show in four windows, so we scan frames.
    window: (top [n, K], left [n, K], (rows, cols)), where each digit's ink lies within its
    sprite (render.ink_windows), to look at less than the whole sprite.
    Returns boxes [n, T, K, 4] int16 (x0, y0, x1, y1), exclusive, -1 where nothing of the
    digit shows; and counts [n, T, K] int64.
    """
    n, length, k = pixels.shape[:3]
    ph, pw = pad
    height, width = mask.shape[2] - 2 * ph, mask.shape[3] - 2 * pw
    h, w = sprite
    boxes = np.full((n, length, k, 4), -1, dtype=np.int16)
    counts = np.zeros((n, length, k), dtype=np.int64)
    if wrap:
        frames = mask[:, :, ph : ph + height, pw : pw + width]
        top, left = np.zeros((n, length), np.int64), np.zeros((n, length), np.int64)
    else:
        if window is not None and window[2][0] > 0:
            h, w = window[2]
        span = (h - 1) * mask.shape[3] + w
        flat = mask.reshape(-1)
        view = np.lib.stride_tricks.as_strided(
            flat, shape=(flat.size - span + 1, h, w), strides=(flat.strides[0], mask.strides[2], flat.strides[0])
        )
        base = (np.arange(n)[:, None] * length + np.arange(length)) * (mask.shape[2] * mask.shape[3])
    for slot in range(k):
        if not wrap:
            top, left = pixels[:, :, slot, 0], pixels[:, :, slot, 1]
            if window is not None and window[2][0] > 0:
                top, left = top + window[0][:, None, slot], left + window[1][:, None, slot]
            top, left = np.clip(top, -h, height), np.clip(left, -w, width)
            frames = view[base + (top + ph) * mask.shape[3] + left + pw]  # [n, T, h, w]
        # Ink per row and per column by matrix products: numpy's reductions over a short
        # inner axis (any over 28 pixels) cost ~20x more.
        on = (frames == slot + 1).astype(np.float32)
        per_row = on @ np.ones(on.shape[3], dtype=np.float32)  # [n, T, rows]
        per_col = np.ones(on.shape[2], dtype=np.float32) @ on  # [n, T, cols]
        rows, cols = per_row > 0, per_col > 0
        seen = rows.any(axis=2)
        size_r, size_c = rows.shape[2], cols.shape[2]
        box = np.stack(
            [
                left + cols.argmax(axis=2),
                top + rows.argmax(axis=2),
                left + size_c - cols[..., ::-1].argmax(axis=2),
                top + size_r - rows[..., ::-1].argmax(axis=2),
            ],
            axis=-1,
        )
        boxes[:, :, slot][seen] = box[seen]
        counts[:, :, slot] = per_row.sum(axis=2).astype(np.int64)
    return boxes, counts


def events(hits: np.ndarray, present: np.ndarray, n: int, k: int, contacts: np.ndarray | None = None) -> np.ndarray:
    """The events [n, T, k] (`events_dtype`): bit w is set where the digit in slot k bounced off
    wall w (an index into WALLS: 1 top, 2 bottom, 4 left, 8 right) right before frame t, and
    with `contacts` bit 4 + j where it collided with the digit in slot j (both digits get one).

    Per sequence, like every other dataset of a shard, so that the sequence axis is first
    everywhere (Hugging Face's HDF5 loader needs that); `events_table` turns it into the
    (sequence, frame, digit, kind) rows that `Split.events` returns. hits: [T, n * k, 2] int8;
    contacts: [T, n * k] uint64, bit j for slot j (Trajectory.contacts), or None.
    """
    per = _per_digit(hits, n, hits.shape[0], k) * present[:, None, :, None]  # [n, T, k, 2]: -1, 0, +1
    low, high = (per < 0).astype(np.uint8), (per > 0).astype(np.uint8)
    bits = low[..., 0] | (high[..., 0] << 1) | (low[..., 1] << 2) | (high[..., 1] << 3)
    dtype = events_dtype(k, contacts is not None)
    if contacts is None:
        return np.ascontiguousarray(bits, dtype=dtype)
    met = _per_digit(contacts, n, contacts.shape[0], k) << np.uint64(len(WALLS))
    return np.ascontiguousarray((bits | met).astype(dtype))


def events_table(bits: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """The event table [E, 4] int32 (sequence, frame, digit, kind), sorted in that order, of
    `bits` [n, T, k] (`events`, any unsigned width) for the sequences `idx` [n] (split-global,
    ascending). kind: 0-3 the wall (WALLS), 4 + j a collision with digit slot j."""
    kinds = np.arange(bits.dtype.itemsize * 8, dtype=bits.dtype)
    flags = (bits[..., None] >> kinds) & 1  # [n, T, k, bits]
    i, t, slot, kind = np.nonzero(flags)
    return np.stack([np.asarray(idx)[i], t, slot, kind], axis=1).astype(np.int32)


def _visible(scene: Scene, composed: Composed) -> tuple[np.ndarray, np.ndarray]:
    """`visible_boxes` of a chunk's mask: [n, T, K, 4] boxes and [n, T, K] counts."""
    pixels = scene.pixels
    n, length, k = pixels.shape[:3]
    # A warped digit may show anywhere in its frame: scan whole frames, as on a torus.
    scan = scene.wrap or scene.warped
    window = None
    if not scan and scene.ink_windows is not None:
        top, left, size = scene.ink_windows
        window = (top[scene.choice], left[scene.choice], size)
    # One composited frame per (sequence, frame) pair when sprites change every frame.
    mask = composed.mask
    per = mask.shape[0] // n
    origin = pixels.reshape(n * per, length // per, k, 2)
    pad = (composed.pad_h, composed.pad_w)
    boxes, counts = visible_boxes(mask, pad, origin, scene.sprite, scan, window if per == 1 else None)
    return boxes.reshape(n, length, k, 4), counts.reshape(n, length, k)


def compute(want: set[str], scene: Scene, composed: Composed | None) -> dict[str, np.ndarray]:
    """The optional annotations named in `want`, as arrays for a Chunk.

    scene: the chunk's latent state, with ink_box and ink_count set; composed: what
    `render.compose` returned (the mask, and the visible boxes where the kernel drew it),
    or None when no mask-based annotation is wanted.
    """
    pixels, path, present = scene.pixels, scene.path, scene.present
    assert scene.ink_box is not None and scene.ink_count is not None
    n, length, k = pixels.shape[:3]
    absent = ~present
    ink_box, ink_count = scene.ink_box, scene.ink_count
    if ink_box.ndim == 3:  # the same sprite in every frame
        ink_box, ink_count = ink_box[:, None], ink_count[:, None]
    out: dict[str, np.ndarray] = {}
    for name, values in (("trajectories", path.position), ("velocities", path.velocity)):
        if name in want:
            a = _per_digit(values, n, length, k).astype(np.float32)
            a.swapaxes(1, 2)[absent] = np.nan
            out[name] = a
    if "amodal_boxes" in want:
        b = ink_box  # [n, 1 or T, K, 4]
        # A warped digit's ink box is already in canvas coordinates.
        r, c = (0, 0) if scene.warped else (pixels[..., 0], pixels[..., 1])  # [n, T, K]
        box = np.stack([c + b[..., 1], r + b[..., 0], c + b[..., 3], r + b[..., 2]], axis=-1)
        box = np.clip(box, -(2**15), 2**15 - 1).astype(np.int16)
        box[np.broadcast_to(ink_count == 0, box.shape[:3])] = -1
        box.swapaxes(1, 2)[absent] = -1
        out["amodal_boxes"] = box
    if composed is not None:
        mask, ph, pw = composed.mask, composed.pad_h, composed.pad_w
        if composed.visible is not None:
            boxes, counts = composed.visible
        else:
            boxes, counts = _visible(scene, composed)
        if "masks" in want:
            height, width = mask.shape[2] - 2 * ph, mask.shape[3] - 2 * pw
            cropped = mask if ph == pw == 0 else np.ascontiguousarray(mask[:, :, ph : ph + height, pw : pw + width])
            out["masks"] = cropped.reshape(n, length, height, width)
        if "boxes" in want:
            out["boxes"] = boxes
        if "visibility" in want:
            total = np.broadcast_to(ink_count, counts.shape).astype(np.float64)
            seen = np.divide(counts, total, out=np.zeros(counts.shape), where=total > 0).astype(np.float32)
            seen.swapaxes(1, 2)[absent] = np.nan
            out["visibility"] = seen
    if "z_order" in want and scene.z_order is not None:
        out["z_order"] = scene.z_order
    if "events" in want:
        assert path.hits is not None
        out["events"] = events(path.hits, present, n, k, path.contacts)
    return out
