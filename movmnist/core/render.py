"""Rendering: place sprites on frames, in a buffer the caller owns.

numpy throughout, except the common case (max, no wrap: the default and its instance
mask), which the compiled kernel renders when it is built (`compiled`). Both give the same bytes.
One module: compose, paste and paste_max share one run layout (`expand`, `spans`, `ink_windows`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from movmnist.core import compiled


def windows(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """A writeable view of every h x w window of every frame.

    frames: [N, T, H, W, ...] -> [N, T, H - h + 1, W - w + 1, h, w, ...], sharing memory,
    so `view[n, t, r, c]` is the patch whose top-left pixel is (r, c) in frame (n, t).
    Trailing axes (colour channels) are carried along.
    """
    n, t, height, width = frames.shape[:4]
    s = frames.strides
    shape = (n, t, height - h + 1, width - w + 1, h, w, *frames.shape[4:])
    strides = (s[0], s[1], s[2], s[3], s[2], s[3], *s[4:])
    return np.lib.stride_tricks.as_strided(frames, shape=shape, strides=strides, writeable=True)


def spans(flat: np.ndarray, length: int) -> np.ndarray:
    """A writeable view [len(flat) - length + 1, length] of every run of `length` items of a 1-D array."""
    step = flat.strides[0]
    return np.lib.stride_tricks.as_strided(flat, shape=(flat.size - length + 1, length), strides=(step, step))


def expand(sprites: np.ndarray, width: int) -> np.ndarray:
    """Sprites laid out with the canvas's row pitch: [M, h, w(, C)] -> [M, L] uint8.

    Row i of a sprite starts at i * width * C and is followed by zeros up to the next row;
    the trailing zeros of the last row are cut, so L = ((h - 1) * width + w) * C. A sprite
    placed at flat offset o of a frame then covers exactly the run [o, o + L) of it.
    """
    m, h, w = sprites.shape[:3]
    pixel = int(np.prod(sprites.shape[3:], dtype=np.int64))  # C, or 1
    rows = np.zeros((m, h, width * pixel), dtype=sprites.dtype)
    rows[:, :, : w * pixel] = sprites.reshape(m, h, w * pixel)
    return rows.reshape(m, -1)[:, : ((h - 1) * width + w) * pixel]


Ink = tuple[np.ndarray, np.ndarray, tuple[int, int]]


class Composed(NamedTuple):
    """What `compose` returns with a mask.

    mask: [n, T, H + 2 pad_h, W + 2 pad_w] uint8, slot + 1 where that digit shows (see
    `paste`), 0 elsewhere and in the padding; visible: where the kernel drew the mask (no
    padding then), each slot's visible box [n, T, K, 4] int16 and pixel count [n, T, K]
    int64 as `annotate.visible_boxes` gives them, computed in the same pass; else None.
    """

    mask: np.ndarray
    pad_h: int
    pad_w: int
    visible: tuple[np.ndarray, np.ndarray] | None = None


def ink_windows(sprites: np.ndarray, block: int = 4096) -> Ink:
    """The smallest common window that holds each sprite's ink (its non-zero pixels).

    sprites: [M, h, w(, C)]. Returns (top [M], left [M], (rows, cols)): sprite i's ink lies
    within rows top[i]..top[i] + rows - 1 and cols left[i]..left[i] + cols - 1, and every
    window lies within its sprite. (rows, cols) is (0, 0) when no sprite has any ink.
    Meant to be computed once per pool (generate caches it): ~0.3 us a sprite.
    """
    m, h, w = sprites.shape[:3]
    in_rows = np.empty((m, h), dtype=bool)
    in_cols = np.empty((m, w), dtype=bool)
    for lo in range(0, m, block):
        nz = sprites[lo : lo + block].reshape(-1, h, w, int(np.prod(sprites.shape[3:], dtype=np.int64))) != 0
        ink = (nz.any(axis=3) if nz.shape[3] > 1 else nz[..., 0]).astype(np.float32)
        # Counting ink pixels by matrix products: numpy's reductions over a short inner
        # axis (any/max over 28 pixels) cost ~80 ns a row, 20x more than this.
        in_rows[lo : lo + block] = ink @ np.ones(w, dtype=np.float32) > 0
        in_cols[lo : lo + block] = np.ones(h, dtype=np.float32) @ ink > 0
    first_row, first_col = in_rows.argmax(axis=1), in_cols.argmax(axis=1)
    n_rows = np.where(in_rows.any(axis=1), h - in_rows[:, ::-1].argmax(axis=1) - first_row, 0)
    n_cols = np.where(in_cols.any(axis=1), w - in_cols[:, ::-1].argmax(axis=1) - first_col, 0)
    rows, cols = int(n_rows.max(initial=0)), int(n_cols.max(initial=0))
    # A sprite whose ink starts late gets a window that starts early enough to stay inside it.
    return np.minimum(first_row, h - rows), np.minimum(first_col, w - cols), (rows, cols)


def paste_max(
    frames: np.ndarray,
    seq: np.ndarray,
    sprites: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    first: bool,
    ink: Ink | None = None,
) -> None:
    """Combine sprites into the frames of their sequences by pixel-wise max, in place.

    frames: [N, T, H, W(, C)] uint8, C-contiguous. seq: [M] distinct sequence numbers in
    0..N-1. sprites: [M, h, w(, C)] uint8, one per entry of seq. rows, cols: [M, T] int,
    the top-left pixel of the sprite in each frame (the sprite must fit).
    first: those frames are known to be zero, so the max is a plain copy (saves a read).
    ink: `ink_windows(sprites)`, if the caller has it (computed here otherwise).

    This is the hot loop of a build, so it is shaped for numpy rather than read as "paste a
    h x w patch": a patch is h short rows (28 bytes for MNIST), and fancy indexing pays a
    fixed cost per row. Instead each sprite is widened to the frame's row pitch with zero
    fill (`expand`), which makes its footprint one contiguous run of the flat frame; the
    zeros in between are harmless under max (and, when `first`, land on zeros). So one
    (sequence, frame) pair is one contiguous copy, and the sprite is broadcast over the T
    frames instead of repeated. Runs never leave their frame, and `seq` holds no repeats, so
    no two runs of one call overlap and the gather-max-scatter has one writer per pixel.
    Only the window holding the ink is pasted (`ink_windows`): MNIST digits fit 20 x 20 of
    their 28 x 28, which makes the runs 30% shorter; zeros outside it change nothing.
    """
    m, t = rows.shape
    if m == 0:
        return
    if not frames.flags.c_contiguous:
        raise ValueError("paste_max needs C-contiguous frames")
    height, width = frames.shape[2:4]
    pixel = int(np.prod(frames.shape[4:], dtype=np.int64))
    top, left, (h, w) = ink_windows(sprites) if ink is None else ink
    if h == 0:  # no ink at all: the max changes nothing
        return
    inked = windows(sprites[:, None], h, w)[np.arange(m), 0, top, left]  # [M, h, w(, C)]
    wide = expand(inked, width)  # [M, L]
    frame = height * width * pixel
    start = (np.asarray(seq, dtype=np.intp)[:, None] * t + np.arange(t)) * frame  # [M, T]
    start += (np.asarray(rows, dtype=np.intp) + top[:, None]) * (width * pixel)
    start += (np.asarray(cols, dtype=np.intp) + left[:, None]) * pixel
    view = spans(frames.reshape(-1), wide.shape[1])
    if first:
        view[start] = wide[:, None, :]
    else:
        runs = view[start]  # [M, T, L], a copy
        np.maximum(runs, wide[:, None, :], out=runs)
        view[start] = runs


def paste(
    frames: np.ndarray,
    seq: np.ndarray,
    sprites: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    combine: str,
    first: bool,
    mask: np.ndarray | None = None,
    label: np.ndarray | None = None,
) -> None:
    """Combine sprites into the frames by `combine`, in place, and mark the mask.

    As `paste_max` (same arguments and run layout), for every render.combine:
      max:  pixel-wise max;
      sum:  sum clipped to 255;
      over: the sprite's ink (value > 0, any channel) replaces what is below; call in
            z-order, bottom first.
    mask: [N, T, H, W] uint8 or None; label: [M] uint8, the mark of each sprite. A mask
    pixel takes the sprite's label where the sprite shows there: for max, where its
    value is at least what was there (a tie goes to the later sprite, as in `compose`);
    for sum and over, wherever it has ink. With `first`, frames and mask are known zero.
    """
    m, t = rows.shape
    if m == 0:
        return
    if not frames.flags.c_contiguous:
        raise ValueError("paste needs C-contiguous frames")
    height, width = frames.shape[2:4]
    pixel = int(np.prod(frames.shape[4:], dtype=np.int64))
    wide = expand(sprites, width)[:, None, :]  # [M, 1, L]
    base = (np.asarray(seq, dtype=np.intp)[:, None] * t + np.arange(t)) * (height * width)
    at = base + np.asarray(rows, dtype=np.intp) * width + np.asarray(cols, dtype=np.intp)  # [M, T] in pixels
    view = spans(frames.reshape(-1), wide.shape[-1])
    ink = wide > 0
    if first:
        view[at * pixel] = wide
        win = ink
    else:
        runs = view[at * pixel]  # [M, T, L], a copy
        if combine == "max":
            win = (wide >= runs) & ink
            np.maximum(runs, wide, out=runs)
        elif combine == "sum":
            win = ink
            runs = np.minimum(runs.astype(np.uint16) + wide, 255).astype(np.uint8)
        else:
            if pixel > 1:  # ink in any channel hides every channel below, as documented
                ink = np.repeat(_any_channel(ink, pixel), pixel, axis=-1)
            win = ink  # [M, 1, L]: the same in every frame
            runs = np.where(ink, wide, runs)
        view[at * pixel] = runs
    if mask is None or label is None:
        return
    if pixel > 1:  # a pixel shows the sprite if any of its channels does
        win = _any_channel(win, pixel)
    mview = spans(mask.reshape(-1), win.shape[-1])
    marks = mview[at] if not first else np.zeros((m, t, win.shape[-1]), dtype=np.uint8)
    labels = np.asarray(label, dtype=np.uint8)[:, None, None]
    np.copyto(marks, np.broadcast_to(labels, marks.shape), where=np.broadcast_to(win, marks.shape))
    mview[at] = marks


def _any_channel(flags: np.ndarray, pixel: int) -> np.ndarray:
    """[..., L * C] bool -> [..., L]: whether any of each pixel's C channels is set. The
    channels' strided views or-ed together: numpy's `any` over a last axis of 3 is ~20x slower."""
    out = flags[..., 0::pixel].copy()
    for c in range(1, pixel):
        out |= flags[..., c::pixel]
    return out


def compose(
    frames: np.ndarray,
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    combine: str,
    z_order: np.ndarray | None = None,
    wrap: bool = False,
    clip: bool = False,
    with_mask: bool = False,
    ink: Ink | None = None,
    mask_out: np.ndarray | None = None,
) -> Composed | None:
    """Draw every digit of every sequence into `frames`, in place (whatever it held is overwritten).

    frames: [n, T, H, W(, C)] uint8, C-contiguous; images: the pool [M, h, w(, C)]; choice, present: [n, K]
    (which image each slot shows, and whether the slot is used); pixels: [n, T, K, 2] int
    top-left (row, col). z_order: [n, K] layer of each slot (over: drawn bottom first), or
    None for slot order. wrap: the canvas is a torus (a digit across an edge shows on the
    other side). clip: positions may leave the canvas; the sprites are then drawn on a
    canvas padded by a sprite on every side and cropped. ink: `ink_windows(images)`, if the
    caller has it (paste_max then pastes only the ink windows). mask_out: a reusable uint8
    buffer the kernel may draw the mask into (as `out` of `generate`).
    Returns, if with_mask, the mask (`Composed`), else None.
    """
    n, t, height, width = frames.shape[:4]
    h, w = images.shape[1:3]
    k = choice.shape[1]
    if takes(combine, wrap):
        return _render_max(frames, images, choice, present, pixels, clip, ink, with_mask, mask_out)
    pad = clip or wrap
    ph, pw = (h, w) if pad else (0, 0)
    # Grayscale max with a mask: draw (value << 8 | slot + 1) into one uint16 canvas with
    # paste_max, so the max carries the winner's mark along (one pass instead of two).
    packed = with_mask and combine == "max" and frames.ndim == 4
    if packed or pad:
        buf = np.zeros((n, t, height + 2 * ph, width + 2 * pw, *frames.shape[4:]), np.uint16 if packed else np.uint8)
    else:
        buf = frames
        buf.fill(0)
    mask = np.zeros(buf.shape[:4], dtype=np.uint8) if with_mask and not packed else None
    if z_order is None:
        layers = np.broadcast_to(np.arange(k), (n, k))
    else:
        layers = np.argsort(np.where(z_order < 0, k, z_order), axis=1, kind="stable")
    copies = [(0, 0), (-height, 0), (0, -width), (-height, -width)] if wrap else [(0, 0)]
    first = True
    for z in range(k):
        slot = layers[:, z]
        seq = np.flatnonzero(present[np.arange(n), slot])
        if len(seq) == 0:
            continue
        slot = slot[seq]
        sprites = images[choice[seq, slot]]
        label = (slot + 1).astype(np.uint8)
        if packed:
            sprites = (sprites.astype(np.uint16) << 8) | ((sprites > 0) * label[:, None, None]).astype(np.uint16)
        for dr, dc in copies:
            rows, cols = pixels[seq, :, slot, 0] + dr, pixels[seq, :, slot, 1] + dc
            if pad:  # anything further out is invisible, and stays so inside the padding
                rows, cols = np.clip(rows, -h, height) + h, np.clip(cols, -w, width) + w
            if combine == "max" and mask is None:
                window = None if ink is None else (ink[0][choice[seq, slot]], ink[1][choice[seq, slot]], ink[2])
                paste_max(buf, seq, sprites, rows, cols, first=first, ink=window)
            else:
                paste(buf, seq, sprites, rows, cols, combine, first, mask, label)
            first = False
    if packed:
        # The low byte is the mark, the high byte the frame (casts truncate: the fast way).
        mask = buf.astype(np.uint8)
        np.right_shift(buf, 8, out=buf)
        np.copyto(frames, buf[:, :, ph : ph + height, pw : pw + width], casting="unsafe")
    elif pad:
        frames[...] = buf[:, :, ph : ph + height, pw : pw + width]
    if mask is None:
        return None
    if pad:  # what fell in the padding is not visible
        mask[:, :, :ph], mask[:, :, ph + height :] = 0, 0
        mask[:, :, :, :pw], mask[:, :, :, pw + width :] = 0, 0
    return Composed(mask, ph, pw)


def takes(combine: str, wrap: bool) -> bool:
    """Whether `compose` hands these settings to the compiled kernel (max, no wrap; with or
    without the mask)."""
    return compiled.kernel is not None and combine == "max" and not wrap


class MaxDrawer:
    """The compiled kernel's arguments for max without wrap, converted once for a chunk.

    `draw(lo, hi, into)` renders sequences lo..hi-1 into `into` ([hi - lo, T, H, W(, C)]
    uint8, C-contiguous) in one kernel call with no per-call conversion: slices of the
    prepared C-contiguous arrays are views. The procedural `split[i]` draws one sequence at
    a time, where converting the arguments cost more than drawing (~5 us a sequence).
    """

    def __init__(
        self,
        images: np.ndarray,
        choice: np.ndarray,
        present: np.ndarray,
        pixels: np.ndarray,
        clip: bool,
        ink: Ink | None,
    ) -> None:
        if images.dtype != np.uint8:
            raise ValueError("compose needs C-contiguous uint8 frames and images")
        self.images = np.ascontiguousarray(images)
        top, left, (self.rows, self.cols) = ink_windows(images) if ink is None else ink
        self.top = np.ascontiguousarray(top, dtype=np.int64)
        self.left = np.ascontiguousarray(left, dtype=np.int64)
        self.sprite = np.ascontiguousarray(np.where(present, choice, -1), dtype=np.int64)
        self.pixels = np.ascontiguousarray(pixels, dtype=np.int64)
        self.clip = clip

    def draw(self, lo: int, hi: int, frames: np.ndarray, *marked: np.ndarray) -> None:
        n, t, height, width = frames.shape[:4]
        if n != hi - lo or not frames.flags.c_contiguous or frames.dtype != np.uint8:
            raise ValueError("compose needs C-contiguous uint8 frames and images")
        m, h, w = self.images.shape[:3]
        pixel = math.prod(frames.shape[4:])
        assert compiled.kernel is not None
        compiled.kernel.render_max(
            frames,
            self.images,
            self.sprite[lo:hi],
            self.pixels[lo:hi],
            self.top,
            self.left,
            *(n, t, height, width, pixel, self.sprite.shape[1], m, h, w, self.rows, self.cols),
            self.clip,
            *marked,
        )


def _render_max(
    frames: np.ndarray,
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    clip: bool,
    ink: Ink | None,
    with_mask: bool,
    mask_out: np.ndarray | None,
) -> Composed | None:
    """`compose` for max without wrap, by the compiled kernel (same arguments); with the
    mask, the visible boxes and counts come from the same pass (`Composed.visible`)."""
    n, t, height, width = frames.shape[:4]
    k = choice.shape[1]
    if not frames.flags.c_contiguous or frames.dtype != np.uint8 or images.dtype != np.uint8:
        raise ValueError("compose needs C-contiguous uint8 frames and images")
    marked: tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[()] = ()
    if with_mask:
        size = n * t * height * width
        # A reused buffer: fresh pages for each chunk's mask cost more than drawing it.
        if mask_out is not None and mask_out.size >= size and mask_out.dtype == np.uint8:
            mask = mask_out.reshape(-1)[:size].reshape(n, t, height, width)
        else:
            mask = np.empty((n, t, height, width), np.uint8)
        marked = (
            mask,
            np.empty((n, t, k, 4), np.int16),
            np.empty((n, t, k), np.int64),
        )
    MaxDrawer(images, choice, present, pixels, clip, ink).draw(0, n, frames, *marked)
    if not marked:
        return None
    mask, boxes, counts = marked
    return Composed(mask, 0, 0, (boxes, counts))
