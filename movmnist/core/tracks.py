"""Point tracks (TAP-Vid style): query points on the digits' ink at frame 0, followed exactly.

Pure numpy. A sequence has P points (annotations.tracks), spread over its digits in turn
(point j on the (j mod count)-th present digit) and drawn on that digit's ink without
replacement (a digit with fewer ink pixels than points repeats them), from the stream
`rng.TRACKS` only, so the other arrays of a sequence are the same bytes with tracks on or off.
Every point is a pixel of its digit's sprite (its row, col in the sprite), so it moves with
the digit exactly: translated digits carry it to the sprite's top-left plus that offset
(whole pixels; modulo the canvas with wrap); mmnist++ carries it through the digit's own
rotation and scale about the crop's centre (the forward map of `layers.warp`'s inverse
sampling; sub-pixel).

Occlusion follows `flow.owner`, the rule that says which digit owns a pixel under
render.combine (max, sum: the largest value there, a tie to the later slot; over: the top
digit with ink; colour compares the largest channel): a point is visible at frame t where
its pixel (the track rounded to the nearest pixel) is on the canvas and owned by its own
digit; occluded where another digit owns it, where it is off the canvas (open), and, for
mmnist++ only, where its resampled digit has no ink at that pixel. A translated point always
has its own digit's ink at its pixel, so there occlusion is exactly "off the canvas or
another digit's pixel". A point whose digit has no ink at all (a blank image) is NaN and
occluded throughout.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from movmnist.core import flow, layers, rng


def sample(
    draw: Callable[[int, int], np.ndarray], ink: np.ndarray, present: np.ndarray, points: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw `points` query points per sequence on the ink of its digits.

    draw: the chunk's keyed uniforms (stream, count) -> [n, count]; ink: [n, K, h, w] bool,
    each slot's sprite ink at frame 0; present: [n, K].
    Returns slot [n, P] int64 (the digit of each point), at [n, P, 2] int64 (row, col) in
    the sprite, and has [n, P] bool (false where the sequence has no ink to put it on).
    """
    n, k, h, w = ink.shape
    j = np.arange(points)
    count = present.sum(axis=1)  # [n]
    ranked = np.argsort(~present, axis=1, kind="stable")  # present slots first, in slot order
    nth = j[None, :] % np.maximum(count, 1)[:, None]  # [n, P]
    rows = np.arange(n)[:, None]
    slot = ranked[rows, nth]
    rank = j[None, :] // np.maximum(count, 1)[:, None]
    # Without replacement: each ink pixel gets a uniform key and a digit's points take its
    # ink in key order; pixels without ink sort after all of it.
    keys = draw(rng.TRACKS, k * h * w).reshape(n, k, h * w)
    flat_ink = ink.reshape(n, k, h * w)
    keys[~flat_ink] = 2.0
    order = np.argsort(keys, axis=2, kind="stable")  # [n, K, h * w]
    inked = flat_ink.sum(axis=2)  # [n, K]
    mine = inked[rows, slot]  # [n, P]
    pick = order[rows, slot, rank % np.maximum(mine, 1)]
    has = (count[:, None] > 0) & (mine > 0)
    return slot, np.stack(np.divmod(pick, w), axis=-1), has


def translated(pixels: np.ndarray, slot: np.ndarray, at: np.ndarray, canvas: tuple[int, int], wrap: bool) -> np.ndarray:
    """Points of translated sprites: pixels [n, T, K, 2] top-left, slot [n, P], at [n, P, 2] in
    the sprite -> [n, P, T, 2] int64 (row, col) on the canvas (modulo it with wrap)."""
    n = len(slot)
    top = pixels[np.arange(n)[:, None], :, slot].astype(np.int64)  # [n, P, T, 2]
    out: np.ndarray = top + at[:, :, None, :]
    if wrap:
        out %= np.asarray(canvas, dtype=np.int64)
    return out


def sprite_values(
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    cell: np.ndarray,
    canvas: tuple[int, int],
    wrap: bool,
) -> np.ndarray:
    """What each slot's sprite alone draws at each point's pixel, as `render.compose` places it.

    images: the pool [M, h, w(, C)]; choice, present: [n, K]; pixels: [n, T, K, 2] top-left;
    cell: [n, P, T, 2] int64 pixels (on the canvas or not).
    Returns [K, n, P, T] uint8 (the largest channel for colour), 0 off the canvas.
    """
    k = pixels.shape[2]
    h, w = images.shape[1:3]
    size = np.asarray(canvas, dtype=np.int64)
    on = _on(cell, canvas)
    out = np.zeros((k, *cell.shape[:3]), dtype=np.uint8)
    for s in range(k):
        offset = cell - pixels[:, None, :, s].astype(np.int64)  # [n, P, T, 2] in the sprite
        if wrap:  # on the torus a sprite shows at its top-left modulo the canvas
            offset %= size
        r, c = offset[..., 0], offset[..., 1]
        inside = on & (r >= 0) & (r < h) & (c >= 0) & (c < w) & present[:, s, None, None]
        which = np.broadcast_to(choice[:, s, None, None], r.shape)
        value = images[which, np.clip(r, 0, h - 1), np.clip(c, 0, w - 1)]
        out[s] = np.where(inside, value.max(axis=-1) if value.ndim == 4 else value, 0)
    return out


def warped(
    at: np.ndarray,
    crop: np.ndarray,
    shift: np.ndarray,
    angle: np.ndarray,
    scale: np.ndarray,
) -> np.ndarray:
    """Points of mmnist++ digits, carried through each frame's rotation and scale.

    at: [n, P, 2] (row, col) in the sprite; crop: [n, P, 4] (r0, c0, r1, c1), the point's
    digit's crop; shift: [n, P, T, 2], the crop's top-left on the canvas; angle (degrees,
    counter-clockwise), scale: [n, P, T]. `layers.warp` samples each canvas pixel at
    `layers.to_sprite` of it; the sprite pixel `at` lands at `layers.to_canvas` of it.
    Returns [n, P, T, 2] float64 (row, col) on the canvas.
    """
    row, col = layers.to_canvas(at[..., 0, None], at[..., 1, None], crop[:, :, None], shift, angle, scale)
    return np.stack([row, col], axis=-1)


def layer_values(drawn: np.ndarray, present: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """What each slot's whole-canvas layer holds at each point's pixel: drawn [n, T, K, H, W]
    uint8 (mmnist++'s layers), present [n, K], cell [n, P, T, 2] int64 -> [K, n, P, T] uint8."""
    n, length, k, height, width = drawn.shape
    on = _on(cell, (height, width))
    r, c = np.clip(cell[..., 0], 0, height - 1), np.clip(cell[..., 1], 0, width - 1)
    seq, t = np.arange(n)[:, None, None], np.arange(length)[None, None, :]
    out = np.zeros((k, *cell.shape[:3]), dtype=np.uint8)
    for s in range(k):
        out[s] = np.where(on & present[:, s, None, None], drawn[seq, t, s, r, c], 0)
    return out


def occlusion(
    values: np.ndarray, slot: np.ndarray, has: np.ndarray, combine: str, z_order: np.ndarray | None
) -> np.ndarray:
    """[n, P, T] bool: true where the point's pixel is not owned by its own digit (`flow.owner`
    over values [K, n, P, T], each slot alone at the point's pixel, 0 off the canvas)."""
    own = flow.owner(values[..., None], combine, z_order)[..., 0]  # [n, P, T], -1 for none
    return np.asarray((own != slot[:, :, None]) | ~has[:, :, None])


def finish(position: np.ndarray, occluded: np.ndarray, has: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tracks [n, P, T, 2] float32 (NaN for points without ink) and occluded [n, P, T] bool."""
    tracks = position.astype(np.float32)
    tracks[~has] = np.nan
    return tracks, occluded


def nearest(position: np.ndarray) -> np.ndarray:
    """The pixel of each point: the stored float32 track rounded to the nearest, as int64."""
    return np.rint(position.astype(np.float32)).astype(np.int64)


def _on(cell: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    height, width = canvas
    r, c = cell[..., 0], cell[..., 1]
    return np.asarray((r >= 0) & (r < height) & (c >= 0) & (c < width))


def of_sprites(
    draw: Callable[[int, int], np.ndarray],
    images: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    pixels: np.ndarray,
    canvas: tuple[int, int],
    combine: str,
    z_order: np.ndarray | None,
    wrap: bool,
    points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """tracks [n, P, T, 2] float32 and occluded [n, P, T] bool for fixed sprites drawn by
    `render.compose` (images the pool, choice, present, pixels, combine, z_order, wrap as given
    to it), P = points."""
    sprites = images[choice]
    ink = sprites.max(axis=-1) > 0 if sprites.ndim == 5 else sprites > 0
    slot, at, has = sample(draw, ink, present, points)
    cell = translated(pixels, slot, at, canvas, wrap)
    values = sprite_values(images, choice, present, pixels, cell, canvas, wrap)
    return finish(cell, occlusion(values, slot, has, combine, z_order), has)


class OfLayers:
    """mmnist++'s tracks: the points placed before its layers are drawn, then looked up in each
    block of layers as it is drawn (`see`), so the layers need not be kept.

    images: [n, K, h, w] the cropped digits; crop: [n, K, 4]; shift: [T, n * K, 2] the crops'
    top-left; angle, scale: [T, n * K] (the path's look), as given to `layers.warp`.
    """

    def __init__(
        self,
        draw: Callable[[int, int], np.ndarray],
        images: np.ndarray,
        crop: np.ndarray,
        present: np.ndarray,
        shift: np.ndarray,
        angle: np.ndarray,
        scale: np.ndarray,
        points: int,
    ) -> None:
        n, k = present.shape
        self.present = present
        self.slot, at, self.has = sample(draw, images > 0, present, points)
        rows = np.arange(n)[:, None]

        def per_point(a: np.ndarray) -> np.ndarray:  # [T, n * K, ...] -> [n, P, T, ...]
            return np.moveaxis(a.reshape(len(a), n, k, *a.shape[2:])[:, rows, self.slot], 0, 2)

        self.position = warped(at, crop[rows, self.slot], per_point(shift), per_point(angle), per_point(scale))
        self.cell = nearest(self.position)
        self.values = np.zeros((k, n, points, len(shift)), dtype=np.uint8)

    def see(self, lo: int, drawn: np.ndarray) -> None:
        """Sequences lo.. of the chunk: drawn [m, T, K, H, W], each digit's layer alone."""
        hi = lo + len(drawn)
        self.values[:, lo:hi] = layer_values(drawn, self.present[lo:hi], self.cell[lo:hi])

    def result(self, combine: str, z_order: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """tracks [n, P, T, 2] float32 and occluded [n, P, T] bool, once every block was seen."""
        return finish(self.position, occlusion(self.values, self.slot, self.has, combine, z_order), self.has)
