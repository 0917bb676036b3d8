"""Dense forward optical flow: exact for translated sprites, and for mmnist++'s warped digits.

Pure numpy. A fixed sprite drawn at integer top-left pixels moves every one of its pixels
by the same whole-pixel displacement between two frames, so the flow of a pixel is the
displacement of the digit that owns it, and it is exact for the frames as drawn (the
sub-pixel `trajectories` are rounded to `positions` before drawing; the flow follows the
drawn positions, not the sub-pixel path). An mmnist++ digit turns, scales and moves by its
own pose each frame (`layers.warp`): a pixel's flow is where the sprite point it shows
(`layers.to_sprite` at frame t) lands at frame t + 1 (`layers.to_canvas`), minus the pixel,
in sub-pixel float64 then stored as float16.

Ownership follows render.combine: max and sum, the digit with the largest value at the
pixel (the later slot on a tie, as `masks` does for max); over, the top digit with ink.
Colour values compare by their largest channel.
"""

from __future__ import annotations

import numpy as np

from movmnist.core import render
from movmnist.core.layers import to_canvas, to_sprite
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


def _unaltered(drawn: np.ndarray, values: np.ndarray, own: np.ndarray, combine: str) -> np.ndarray:
    """[n, T, H, W] bool: where the pixel shows its owner's ink as it is (not blended), from each
    slot drawn alone (drawn [K, n, T, H, W(, C)], values its largest channel) and the owner."""
    k, grey = len(drawn), drawn.ndim == 5
    unaltered = own >= 0
    # Always for over, and for grey max (the owner is the max); for sum, where no other digit
    # adds to it; for colour max, where it wins every channel.
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
    return unaltered


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
    k, height, width = drawn.shape[0], drawn.shape[3], drawn.shape[4]
    values = drawn if drawn.ndim == 5 else drawn.max(axis=-1)
    own = owner(values, combine, z_order)  # [n, T, H, W]
    unaltered = _unaltered(drawn, values, own, combine)

    # Only the ink pixels (a fifth of an MNIST frame), by flat index: 1-D takes of int32
    # indices cost a tenth of indexing with four broadcast index arrays.
    step = displacement(pixels, (height, width), wrap).astype(np.int32).reshape(-1, 2)  # [(n, T-1, K), 2]
    fg, mark, pair, rows, cols = _sources(own)
    which = pair * np.int32(k) + mark
    dy, dx = step[:, 0].take(which), step[:, 1].take(which)
    rows += dy
    cols += dx
    if wrap:
        rows %= height
        cols %= width
    flat = flow_out.reshape(-1, 2)
    flat[fg, 0], flat[fg, 1] = dy, dx
    valid_out.reshape(-1)[fg[_lands(own, unaltered, fg, mark, pair, rows, cols)]] = True


def _sources(own: np.ndarray) -> tuple[np.ndarray, ...]:
    """The owned pixels of frames 0..T-2 of own [n, T, H, W]: their flat index in [n, T-1, H, W],
    owner, (sequence, t) pair (sequence * (T - 1) + t), row and col, each [F] int32."""
    height, width = own.shape[2:]
    src = own[:, :-1].reshape(-1)  # [(n, T-1, H, W)]
    fg = np.flatnonzero(src >= 0).astype(np.int32)
    mark = src[fg].astype(np.int32)  # the owner of each ink pixel
    pair, pixel = np.divmod(fg, np.int32(height * width))
    rows, cols = np.divmod(pixel, np.int32(width))
    return fg, mark, pair, rows, cols


def _lands(
    own: np.ndarray,
    unaltered: np.ndarray,
    fg: np.ndarray,
    mark: np.ndarray,
    pair: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
) -> np.ndarray:
    """[F] bool, for the `_sources` pixels fg (owner mark) and their target pixels (rows, cols) at
    frame t + 1: the pixel shows its owner unaltered at t and the target is on the canvas, owned
    by the same digit and unaltered at t + 1."""
    length, height, width = own.shape[1:]
    inside = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    seq, t = np.divmod(pair, np.int32(length - 1))
    at = np.where(inside, ((seq * np.int32(length) + t + 1) * np.int32(height) + rows) * np.int32(width) + cols, 0)
    ok = inside & unaltered[:, :-1].reshape(-1)[fg] & (own.reshape(-1).take(at) == mark)
    ok &= unaltered.reshape(-1).take(at)
    return np.asarray(ok)


def of_layers(
    drawn: np.ndarray,
    present: np.ndarray,
    crop: np.ndarray,
    shift: np.ndarray,
    angle: np.ndarray,
    scale: np.ndarray,
    combine: str,
    z_order: np.ndarray | None,
    flow_out: np.ndarray,
    valid_out: np.ndarray,
) -> None:
    """mmnist++'s flow for a block of sequences, from its whole-canvas layers as `layers.stack` combines them.

    drawn: [n, T, K, H, W] uint8, each digit warped alone (`layers.warp`); present [n, K];
    crop [n, K, 4], shift [n, T, K, 2], angle, scale [n, T, K]: each digit's pose, as given to
    warp; combine, z_order: as given to stack. Into flow_out [n, T-1, H, W, 2] float16 and
    valid_out [n, T-1, H, W] bool (zero and false on entry), as `compute` documents them,
    except that the flow is sub-pixel: the owner's sprite point shown at the pixel at frame t
    (`to_sprite`) moved to where that digit's pose at t + 1 puts it (`to_canvas`), and the
    target is pixel + flow (the float16 stored) rounded to the nearest pixel (half to even).
    """
    height, width = drawn.shape[3], drawn.shape[4]
    values = np.where(present.T[:, :, None, None, None], np.moveaxis(drawn, 2, 0), 0)  # [K, n, T, H, W]
    own = owner(values, combine, z_order)
    unaltered = _unaltered(values, values, own, combine)
    # Frame t's pixel -> frame t + 1 is one affine map per (sequence, t, digit): it is found from
    # the images of three points (the origin and the unit steps), then applied to the ink pixels,
    # a tenth of the work of taking every pixel through to_sprite and to_canvas.
    basis = np.array([0.0, 1.0, 0.0])[:, None, None, None], np.array([0.0, 0.0, 1.0])[:, None, None, None]
    box = crop[:, None]
    v, u = to_sprite(*basis, box, shift[:, :-1], angle[:, :-1], scale[:, :-1])
    row, col = (a.reshape(3, -1) for a in to_canvas(v, u, box, shift[:, 1:], angle[:, 1:], scale[:, 1:]))
    # Per map, [(n, T-1, K)]: the origin's image, and the images' steps along rows and along cols.
    terms = (row[0], row[1] - row[0], row[2] - row[0], col[0], col[1] - col[0], col[2] - col[0])
    fg, mark, pair, rows, cols = _sources(own)
    which = pair * np.int32(drawn.shape[2]) + mark
    b0, by, bx, c0, cy, cx = (term.take(which) for term in terms)
    r, c = rows.astype(np.float64), cols.astype(np.float64)
    dy, dx = (b0 + by * r + bx * c - r).astype(np.float16), (c0 + cy * r + cx * c - c).astype(np.float16)
    flat = flow_out.reshape(-1, 2)
    flat[fg, 0], flat[fg, 1] = dy, dx
    # An int32 plus a float16 is exact in float64; rint rounds half to even. The clip keeps
    # far targets off the canvas without overflowing int32.
    r2 = np.rint(r + dy).clip(-1, height).astype(np.int32)
    c2 = np.rint(c + dx).clip(-1, width).astype(np.int32)
    valid_out.reshape(-1)[fg[_lands(own, unaltered, fg, mark, pair, r2, c2)]] = True
