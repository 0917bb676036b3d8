"""Dense forward optical flow of translated sprites, exact to the pixel.

Pure numpy. A fixed sprite drawn at integer top-left pixels moves every one of its pixels
by the same whole-pixel displacement between two frames, so the flow of a pixel is the
displacement of the digit that owns it, and it is exact for the frames as drawn (the
sub-pixel `trajectories` are rounded to `positions` before drawing; the flow follows the
drawn positions, not the sub-pixel path). mmnist++'s turning and scaling digits are not
handled here (the config refuses `annotations.flow` for warped presets).

Ownership follows render.combine: max and sum, the digit with the largest value at the
pixel (the later slot on a tie, as `masks` does for max); over, the top digit with ink.
Colour values compare by their largest channel.
"""

from __future__ import annotations

import numpy as np

from movmnist.core import render
from movmnist.core.render import Ink

BLOCK_PIXELS = 1 << 20  # canvas pixels (sequences x frames x H x W) per block of sequences


def displacement(pixels: np.ndarray, canvas: tuple[int, int], wrap: bool) -> np.ndarray:
    """[n, T, K, 2] top-left pixels -> [n, T-1, K, 2] int64 (dy, dx) from frame t to t + 1.

    On a torus (wrap) the positions are reduced modulo the canvas, so a step across an edge
    is taken as the shortest displacement that lands in the same place.
    """
    d: np.ndarray = np.diff(np.asarray(pixels, dtype=np.int64), axis=1)
    if wrap:
        size = np.asarray(canvas, dtype=np.int64)
        d = np.mod(d + size // 2, size) - size // 2
    return d


def layers(
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    shape: tuple[int, ...],
    wrap: bool,
    clip: bool,
    ink: Ink | None,
) -> np.ndarray:
    """Each digit slot drawn alone, as `render.compose` draws it: [K, n, T, H, W(, C)] uint8."""
    k = choice.shape[1]
    out = np.empty((k, *shape), np.uint8)
    for slot in range(k):
        one = slice(slot, slot + 1)
        render.compose(
            out[slot], images, choice[:, one], present[:, one], pixels[:, :, one], "max", wrap=wrap, clip=clip, ink=ink
        )
    return out


def owner(values: np.ndarray, combine: str, z_order: np.ndarray | None) -> np.ndarray:
    """Which slot owns each pixel: values [K, n, T, H, W] (each slot alone) -> [n, T, H, W] int8, -1 for background."""
    k, n = values.shape[:2]
    if combine == "over":
        assert z_order is not None
        order = np.argsort(np.where(z_order < 0, k, z_order), axis=1, kind="stable")  # [n, K], bottom first
    else:
        order = np.broadcast_to(np.arange(k), (n, k))
    own = np.full(values.shape[1:], -1, dtype=np.int8)
    best = np.zeros(values.shape[1:], dtype=values.dtype)
    for z in range(k):  # K passes of cheap comparisons: a reversed argmax over K costs ~3x more
        slot = order[:, z]  # [n]
        value = values[slot, np.arange(n)]  # [n, T, H, W]
        # max, sum: the largest value (a tie to the later slot); over: any ink of a higher layer.
        win = value > 0 if combine == "over" else (value > 0) & (value >= best)
        np.copyto(own, slot.astype(np.int8)[:, None, None, None], where=win)
        np.copyto(best, value, where=win)
    return own


def compute(
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    shape: tuple[int, ...],
    combine: str,
    z_order: np.ndarray | None,
    wrap: bool,
    clip: bool,
    ink: Ink | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward flow and its validity for a chunk of sequences drawn by `render.compose`.

    images: the pool [M, h, w(, C)]; choice, present: [n, K]; pixels: [n, T, K, 2] top-left
    (row, col), as given to compose; shape: (n, T, H, W(, C)) of the frames; combine, z_order,
    wrap, clip: as given to compose.
    Returns flow [n, T-1, H, W, 2] float16, (dy, dx) in pixels from frame t to frame t + 1 of
    the digit that owns the pixel at frame t (0 on background), and valid [n, T-1, H, W]
    bool: the pixel shows its owner's ink unaltered at frame t (not blended by sum, or by
    another digit's channel in colour) and its target, pixel + flow (modulo the canvas with
    wrap), is on the canvas, owned by the same digit and unaltered at frame t + 1. On valid
    pixels frame[t + 1][target] == frame[t][pixel] exactly.
    """
    n, length, height, width = shape[:4]
    flow = np.zeros((n, max(length - 1, 0), height, width, 2), np.float16)
    valid = np.zeros(flow.shape[:4], dtype=bool)
    if n == 0 or length < 2:
        return flow, valid
    block = max(1, BLOCK_PIXELS // (length * height * width))
    for lo in range(0, n, block):
        hi = min(lo + block, n)
        part = slice(lo, hi)
        _block(
            layers(images, choice[part], present[part], pixels[part], (hi - lo, *shape[1:]), wrap, clip, ink),
            pixels[part],
            combine,
            None if z_order is None else z_order[part],
            wrap,
            flow[part],
            valid[part],
        )
    return flow, valid


def _block(
    drawn: np.ndarray,
    pixels: np.ndarray,
    combine: str,
    z_order: np.ndarray | None,
    wrap: bool,
    flow_out: np.ndarray,
    valid_out: np.ndarray,
) -> None:
    """`compute` for one block of sequences, from each slot's layer drawn alone [K, n, T, H, W(, C)],
    into flow_out and valid_out (zero and false on entry)."""
    k, _, length, height, width = drawn.shape[:5]
    grey = drawn.ndim == 5
    values = drawn if grey else drawn.max(axis=-1)
    own = owner(values, combine, z_order)  # [n, T, H, W]
    unaltered = own >= 0
    # Where the owner's ink shows as it is: always for over, and for grey max (the owner is the
    # max); for sum, where no other digit adds to it; for colour max, where it wins every channel.
    if combine == "sum" or (combine == "max" and not grey):
        ink = np.zeros(own.shape, dtype=np.uint8)
        for slot in range(k):
            ink += values[slot] > 0
        if combine == "sum":
            unaltered &= ink == 1
        else:
            mine = np.zeros(drawn.shape[1:], dtype=np.uint8)
            for slot in range(k):
                np.copyto(mine, drawn[slot], where=(own == slot)[..., None])
            unaltered &= (ink == 1) | (drawn.max(axis=0) == mine).all(axis=-1)

    # Only the ink pixels (a fifth of an MNIST frame), by flat index: 1-D takes of int32
    # indices cost a tenth of indexing with four broadcast index arrays.
    step = displacement(pixels, (height, width), wrap).astype(np.int32).reshape(-1, 2)  # [(n, T-1, K), 2]
    src = own[:, :-1].reshape(-1)  # [(n, T-1, H, W)]
    fg = np.flatnonzero(src >= 0).astype(np.int32)
    mark = src[fg].astype(np.int32)  # the owner of each ink pixel
    pair, pixel = np.divmod(fg, np.int32(height * width))  # (sequence, t) pair and pixel
    which = pair * np.int32(k) + mark
    dy, dx = step[:, 0].take(which), step[:, 1].take(which)
    rows, cols = np.divmod(pixel, np.int32(width))
    rows += dy
    cols += dx
    if wrap:
        rows %= height
        cols %= width
        inside = np.ones(len(fg), dtype=bool)
    else:
        inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    seq, t = np.divmod(pair, np.int32(length - 1))
    at = np.where(inside, ((seq * np.int32(length) + t + 1) * np.int32(height) + rows) * np.int32(width) + cols, 0)
    ok = inside & unaltered[:, :-1].reshape(-1)[fg] & (own.reshape(-1).take(at) == mark)
    ok &= unaltered.reshape(-1).take(at)
    flat = flow_out.reshape(-1, 2)
    flat[fg, 0], flat[fg, 1] = dy, dx
    valid_out.reshape(-1)[fg[ok]] = True
