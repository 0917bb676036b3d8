"""Digit templates for the synthetic source: the only user of Pillow's fonts.

Each digit glyph of Pillow's built-in scalable font (Pillow >= 10.1) is drawn once per
stroke width into a template, and turned into the lookup tables that the vectorised
renderer in `movmnist.sources.synthetic` needs. Built once per process.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from movmnist.errors import SourceError

# Templates: glyphs drawn at _SUPER x the template resolution and averaged down, which
# anti-aliases them; then softened (`_soften`). The constants below were tuned so that the
# ink looks like MNIST's: mean pixel ~35 (MNIST 33.3), ~21% of pixels inked (MNIST 19%).
TEMPLATE_SIZE = 80  # template side, px; a glyph is ~43 px tall in it
_SUPER = 2
_FONT_SIZE = 120  # at render scale
STROKES = (0, 1, 2, 3)  # extra outline at render scale: ~2 to ~3.3 px strokes in 28x28
_GAIN = 1.25  # pushes stroke cores to 255 like MNIST's saturated ink
_CELL = 8  # template px per cell of the centre-of-mass point cloud


@dataclass(frozen=True, eq=False)
class Templates:
    """Per-template lookup tables, template index = stroke * 10 + digit.

    table:   [4, n * T * T] float32, bilinear coefficients (v00, v01 - v00, v10 - v00, v11 - v10 - v01 + v00)
             of the ink in [0, 1], so one gather serves a whole bilinear lookup.
    hull:    [n, H, 2] float32, (x, y) convex hull of the ink (>= 0.5), template px from its centre;
             under an affine map the extremes of the ink are among these points.
    cells:   [n, N, 2] float32, ink centroid of each coarse cell; weights [n, N] float32 its ink mass
             (0 for padding): a small point cloud with the same centre of mass as the ink.
    digest:  sha256 of the template pixels, recorded in describe() to catch font changes.
    """

    table: np.ndarray
    hull: np.ndarray
    cells: np.ndarray
    weights: np.ndarray
    digest: str


def _glyphs() -> np.ndarray:
    """Render the glyphs: [len(STROKES) * 10, T, T] float32 ink in [0, 1]."""
    font = ImageFont.load_default(size=_FONT_SIZE)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise SourceError(
            "synthetic digits need Pillow built with FreeType (for its built-in scalable font);"
            " reinstall Pillow from the official wheels"
        )
    side = TEMPLATE_SIZE * _SUPER
    out = np.empty((len(STROKES) * 10, TEMPLATE_SIZE, TEMPLATE_SIZE), np.float32)
    for s, width in enumerate(STROKES):
        for digit in range(10):
            canvas = Image.new("L", (side, side))
            ImageDraw.Draw(canvas).text(
                (side / 2, side / 2), str(digit), font=font, fill=255, anchor="mm", stroke_width=width, stroke_fill=255
            )
            pixels = (
                np.asarray(canvas, np.float32).reshape(TEMPLATE_SIZE, _SUPER, TEMPLATE_SIZE, _SUPER).mean(axis=(1, 3))
            )
            out[s * 10 + digit] = pixels / 255.0
    return out


def _soften(ink: np.ndarray) -> np.ndarray:
    """[1, 2, 1] blur (sd ~0.7 px) over the last two axes, then the ink gain: [..., T, T] float32.

    Softer edges like MNIST's, and no aliasing when sampled ~2.3x coarser into 28x28.
    """
    kernel = np.array([1, 2, 1], np.float32) / 4
    for axis in (-1, -2):
        padded = np.pad(ink, [(0, 0)] * (ink.ndim - 2) + [(1, 1) if a == axis else (0, 0) for a in (-2, -1)])
        n = ink.shape[axis]
        ink = sum(
            (k * np.take(padded, np.arange(i, i + n), axis=axis) for i, k in enumerate(kernel)),
            start=np.zeros_like(ink),
        )
    return np.clip(ink * _GAIN, 0.0, 1.0).astype(np.float32)


def _bilinear_table(ink: np.ndarray) -> np.ndarray:
    """[n, T, T] -> [4, n * T * T] bilinear coefficients (the padding column/row is zero ink)."""
    p = np.pad(ink, [(0, 0), (0, 1), (0, 1)])
    v00, v01, v10, v11 = p[:, :-1, :-1], p[:, :-1, 1:], p[:, 1:, :-1], p[:, 1:, 1:]
    table = np.stack([v00, v01 - v00, v10 - v00, v11 - v10 - v01 + v00])
    return np.ascontiguousarray(table.reshape(4, -1), dtype=np.float32)


def _hull(mask: np.ndarray) -> np.ndarray:
    """Convex hull (monotone chain) of a [T, T] bool mask's pixels: [K, 2] float (x, y)."""
    rows = np.flatnonzero(mask.any(axis=1))
    # The hull of a pixel set is the hull of each row's two end pixels.
    left = [(float(mask[y].argmax()), float(y)) for y in rows]
    right = [(float(TEMPLATE_SIZE - 1 - mask[y, ::-1].argmax()), float(y)) for y in rows]
    points = sorted(set(left + right))

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for p in points:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(points):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], np.float64)


def _cells(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink centroid and mass of each _CELL x _CELL cell of a [T, T] template: [N, 2], [N]."""
    n = TEMPLATE_SIZE // _CELL
    coords = np.arange(TEMPLATE_SIZE, dtype=np.float64)
    blocks = ink.astype(np.float64).reshape(n, _CELL, n, _CELL)
    mass = blocks.sum(axis=(1, 3))
    xs = (blocks * coords.reshape(1, 1, n, _CELL)).sum(axis=(1, 3))
    ys = (blocks * coords.reshape(n, _CELL, 1, 1)).sum(axis=(1, 3))
    keep = mass > 1e-6
    return np.stack([xs[keep] / mass[keep], ys[keep] / mass[keep]], axis=1), mass[keep]


def _pad_stack(arrays: list[np.ndarray], fill_first: bool) -> np.ndarray:
    """Stack ragged [k, ...] arrays into [n, K, ...]; pad by repeating row 0, or with zeros."""
    size = max(len(a) for a in arrays)
    out = np.zeros((len(arrays), size, *arrays[0].shape[1:]), np.float32)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
        if fill_first:
            out[i, len(a) :] = a[0]
    return out


@functools.cache
def templates() -> Templates:
    """Build (once per process) every template and its lookup tables."""
    ink = _soften(_glyphs())
    centre = (TEMPLATE_SIZE - 1) / 2
    hulls = [_hull(t >= 0.5) - centre for t in ink]
    cells, masses = zip(*(_cells(t) for t in ink), strict=True)
    return Templates(
        table=_bilinear_table(ink),
        hull=_pad_stack(hulls, fill_first=True),
        cells=_pad_stack([c - centre for c in cells], fill_first=False),
        weights=_pad_stack(list(masses), fill_first=False),
        digest=hashlib.sha256(ink.tobytes()).hexdigest(),
    )
