"""Built-in, handwriting-like digits 0-9 that need no download (always labelled synthetic).

Each digit glyph of Pillow's built-in scalable font is rendered once per stroke width into a
high-resolution template. Every image then picks a template and a random geometry:
rotation, shear, aspect, size and an elastic distortion (a smooth random displacement
field), and is sampled into 28x28 with bilinear interpolation, its larger extent fitted
into a ~20 px box and its centre of mass put at pixel (14, 14), as in MNIST.

Determinism: images come in fixed blocks of `BLOCK` images; block b of a split is a pure
function of `np.random.default_rng([b, split_code, seed])` and is always rendered whole,
so image i is the same bytes whichever range asks for it. (Bytes are reproducible for a
given numpy, Pillow and CPU family; `GENERATOR_VERSION` changes whenever the algorithm
does, and `describe()` records a digest of the templates to catch font changes.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from movmnist.core.colour import tint
from movmnist.errors import SourceError
from movmnist.sources.base import Images, readonly, unknown_split
from movmnist.sources.glyphs import STROKES, TEMPLATE_SIZE, templates

GENERATOR_VERSION = "1"
SPLIT_SIZES: dict[str, int] = {"train": 60_000, "test": 10_000}  # as MNIST
_SPLIT_CODES = {"train": 0, "test": 1}
BLOCK = 1024
_CHUNK = 128  # images rasterised at a time: keeps the working arrays in cache
IMAGE_SIZE = 28
# MNIST puts the centre of mass at pixel (14, 14) in index coordinates (its train set
# averages 13.996, 14.007), not at the geometric centre 13.5.
CENTRE = 14.0

_MAX_SHIFT = 4  # px, the largest centre-of-mass correction

# Geometry per image (template px for lengths).
_ROTATE_SD = 0.15  # radians, ~9 degrees
_SHEAR_SD = 0.18
_ASPECT_SD = 0.12  # log of the horizontal stretch
_BOX_PX = (16.0, 19.5)  # side of the box that holds the digit's larger extent, output px
_WAVES = 3  # sinusoidal products per displacement component
_ELASTIC_PX = 1.6  # displacement amplitude (sd per wave)
_WAVELENGTH = (35.0, 100.0)  # template px; a glyph is ~43 px tall, so about one wave across it


# --- one block (pure numpy, vectorised over the block) -------------------------------


def _elastic_points(qx: np.ndarray, qy: np.ndarray, waves: tuple[np.ndarray, ...]) -> np.ndarray:
    """The displacement at points: qx, qy [B, N] -> [B, 2, N] (template px).

    Component d is sum_k amp[d,k] * sin(fx[d,k] x + px[d,k]) * sin(fy[d,k] y + py[d,k]): a sum of
    separable waves, so that on a pixel grid it is a small matrix product (`_elastic_grid`).
    """
    amp, fx, px, fy, py = waves  # each [B, 2, K]
    sx = np.sin(fx[..., None] * qx[:, None, None, :] + px[..., None])
    sy = np.sin(fy[..., None] * qy[:, None, None, :] + py[..., None])
    return np.asarray((amp[..., None] * sx * sy).sum(axis=2))


def _elastic_grid(gx: np.ndarray, gy: np.ndarray, waves: tuple[np.ndarray, ...]) -> np.ndarray:
    """The displacement on a grid: column coords gx [B, W], row coords gy [B, H] -> [B, 2, H, W]."""
    amp, fx, px, fy, py = waves
    sx = np.sin(fx[..., None] * gx[:, None, None, :] + px[..., None])  # [B, 2, K, W]
    sy = amp[..., None] * np.sin(fy[..., None] * gy[:, None, None, :] + py[..., None])  # [B, 2, K, H]
    return np.asarray(np.matmul(sy.swapaxes(-1, -2), sx))


def _render_block(block: int, split_code: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Block `block` of a split: images [BLOCK, 28, 28] uint8 and labels [BLOCK] int64.

    Geometry: a template point p (px from the template centre) lands at q = A p - e(A p) in
    the digit's frame, A = rotation @ shear @ horizontal stretch, e the elastic field. Each
    output pixel is mapped back with the first-order inverse p = A^-1 (q + e(q)), after q is
    scaled and shifted so that the digit's box and centre of mass land where MNIST puts them.
    """
    rng = np.random.default_rng([block, split_code, seed])
    f32 = np.float32
    labels = rng.permutation(np.arange(BLOCK) % 10).astype(np.int64)  # balanced within a block
    template = rng.integers(0, len(STROKES), BLOCK) * 10 + labels
    theta = np.clip(rng.normal(0.0, _ROTATE_SD, BLOCK), -3 * _ROTATE_SD, 3 * _ROTATE_SD)
    shear = np.clip(rng.normal(0.0, _SHEAR_SD, BLOCK), -3 * _SHEAR_SD, 3 * _SHEAR_SD)
    stretch = np.exp(np.clip(rng.normal(0.0, _ASPECT_SD, BLOCK), -3 * _ASPECT_SD, 3 * _ASPECT_SD))
    box = rng.uniform(*_BOX_PX, BLOCK)
    shape = (BLOCK, 2, _WAVES)
    freq = 2 * np.pi / rng.uniform(*_WAVELENGTH, (2, *shape))
    phase = rng.uniform(0.0, 2 * np.pi, (2, *shape))
    amp = rng.normal(0.0, _ELASTIC_PX, shape)
    waves = tuple(w.astype(f32) for w in (amp, freq[0], phase[0], freq[1], phase[1]))

    # A = R(theta) @ [[1, shear], [0, 1]] @ diag(stretch, 1), as [B] entries a, b / c, d.
    cos, sin = np.cos(theta), np.sin(theta)
    a, b, c, d = cos * stretch, cos * shear - sin, sin * stretch, sin * shear + cos
    det = a * d - b * c
    inverse = [(w / det).astype(f32)[:, None, None] for w in (d, -b, -c, a)]

    # Where the ink lands: the box from the hull, the centre of mass from the cell cloud.
    tables = templates()
    points = np.concatenate([tables.hull[template], tables.cells[template]], axis=1)  # [B, N, 2]
    x, y = points[..., 0], points[..., 1]
    a32, b32, c32, d32 = (w.astype(f32)[:, None] for w in (a, b, c, d))
    landed = np.stack([a32 * x + b32 * y, c32 * x + d32 * y], axis=1)  # [B, 2, N]
    landed -= _elastic_points(landed[:, 0], landed[:, 1], waves)
    n_hull = tables.hull.shape[1]
    extent = landed[..., :n_hull].max(axis=2) - landed[..., :n_hull].min(axis=2)  # [B, 2]
    weights = tables.weights[template][:, None, :]
    com = (weights * landed[..., n_hull:]).sum(axis=2) / weights.sum(axis=2)  # [B, 2]
    step = (extent.max(axis=1) / box).astype(f32)  # digit-frame px per output px

    # Output pixel (row i, col j) -> digit frame, then to the template in cache-sized chunks.
    offsets = np.arange(IMAGE_SIZE, dtype=f32) - f32(CENTRE)
    gx = com[:, :1] + step[:, None] * offsets  # [B, W]
    gy = com[:, 1:] + step[:, None] * offsets  # [B, H]
    images = np.empty((BLOCK, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for lo in range(0, BLOCK, _CHUNK):
        part = slice(lo, lo + _CHUNK)
        images[part] = _raster(
            tables.table,
            template[part],
            [m[part] for m in inverse],
            gx[part],
            gy[part],
            tuple(w[part] for w in waves),
        )
    return _recentre(images), labels


def _raster(
    table: np.ndarray,
    template: np.ndarray,
    inverse: list[np.ndarray],
    gx: np.ndarray,
    gy: np.ndarray,
    waves: tuple[np.ndarray, ...],
) -> np.ndarray:
    """Draw b images: digit-frame pixel columns gx [b, W] and rows gy [b, H] -> [b, H, W] uint8.

    inverse: the four entries of A^-1, each [b, 1, 1] float32; template: [b] int indices.
    """
    e = _elastic_grid(gx, gy, waves)
    qx = gx[:, None, :] + e[:, 0]
    qy = gy[:, :, None] + e[:, 1]
    centre = np.float32((TEMPLATE_SIZE - 1) / 2)
    px = inverse[0] * qx + inverse[1] * qy + centre
    py = inverse[2] * qx + inverse[3] * qy + centre
    return _sample(table, template, px, py)


def _sample(table: np.ndarray, template: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Bilinear lookup at template coords px, py [b, H, W] float32 -> [b, H, W] uint8.

    Coordinates outside the template clamp onto its border, which is blank. Float32 all
    the way (the flat index too: it stays below 2**24, so it is exact) as this is the hot loop.
    """
    limit = np.float32(TEMPLATE_SIZE - 1.001)
    np.clip(px, 0, limit, out=px)
    np.clip(py, 0, limit, out=py)
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = px - x0, py - y0
    y0 *= TEMPLATE_SIZE
    y0 += x0
    y0 += (template * (TEMPLATE_SIZE * TEMPLATE_SIZE)).astype(np.float32)[:, None, None]
    # np.take is several times faster than fancy indexing here; table is [4, n * T * T].
    c = np.take(table, y0.astype(np.intp), axis=1)
    ink = c[0] + fx * c[1] + fy * (c[2] + fx * c[3])
    ink *= 255
    ink += 0.5
    np.clip(ink, 0, 255, out=ink)
    return np.asarray(ink.astype(np.uint8))


def _recentre(images: np.ndarray) -> np.ndarray:
    """Shift each image by whole pixels so that its centre of mass is within 0.5 px of CENTRE.

    images: [B, S, S] uint8 -> [B, S, S] uint8. The placement before this is only first-order
    exact (the elastic field also changes the ink's area, unevenly); MNIST shifted too.
    """
    n, size = images.shape[0], images.shape[1]
    mass = images.astype(np.float32)
    total = np.maximum(mass.sum(axis=(1, 2)), 1.0)
    coords = np.arange(size, dtype=np.float32)
    shift = [np.clip(np.rint(CENTRE - (mass.sum(axis=k) @ coords) / total), -_MAX_SHIFT, _MAX_SHIFT) for k in (2, 1)]
    dy, dx = (s.astype(np.intp) for s in shift)
    padded = np.pad(images, ((0, 0), (_MAX_SHIFT, _MAX_SHIFT), (_MAX_SHIFT, _MAX_SHIFT)))
    rows = np.arange(size) + _MAX_SHIFT - dy[:, None]  # output row i takes input row i - dy
    cols = np.arange(size) + _MAX_SHIFT - dx[:, None]
    return np.asarray(padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]])


# --- ranges and the source -----------------------------------------------------------


def tint_colours(seed: int, split_code: int, block: int) -> np.ndarray:
    """The RGB colour of each image of a block: [BLOCK, 3] uint8, a saturated hue per image.

    Its own generator (a fourth key word), so the grey digits are the same bytes with or
    without colour.
    """
    hue = np.random.default_rng([block, split_code, seed, 1]).uniform(0.0, 1.0, BLOCK)
    # HSV with S = V = 1: each channel is a clipped triangle wave of the hue.
    phase = (hue[:, None] * 6.0 + np.array([0.0, 4.0, 2.0])) % 6.0
    channel = np.clip(np.abs(phase - 3.0) - 1.0, 0.0, 1.0)
    return np.asarray(np.rint(channel * 255).astype(np.uint8))


def render_digits(seed: int, split: str, start: int, stop: int, colour: bool = False) -> Images:
    """Synthetic digits start..stop-1 of a split: images [n, 28, 28] uint8 ([n, 28, 28, 3] with
    `colour`: each digit tinted with its own hue), labels [n] int64.

    A pure function of (seed, split, index, colour): any range gives the same bytes for an image.
    """
    if split not in SPLIT_SIZES:
        raise unknown_split("the synthetic source", split, SPLIT_SIZES)
    if not 0 <= start <= stop <= SPLIT_SIZES[split]:
        raise SourceError(f"synthetic {split}[{start}:{stop}] is outside the split's 0..{SPLIT_SIZES[split]} images")
    channels = (3,) if colour else ()
    images = np.empty((stop - start, IMAGE_SIZE, IMAGE_SIZE, *channels), np.uint8)
    labels = np.empty(stop - start, np.int64)
    code = _SPLIT_CODES[split]
    for block in range(start // BLOCK, -(-stop // BLOCK)):
        lo, hi = max(start, block * BLOCK), min(stop, (block + 1) * BLOCK)
        block_images, block_labels = _render_block(block, code, seed)
        part = slice(lo - block * BLOCK, hi - block * BLOCK)
        if colour:
            images[lo - start : hi - start] = tint(block_images[part], tint_colours(seed, code, block)[part])
        else:
            images[lo - start : hi - start] = block_images[part]
        labels[lo - start : hi - start] = block_labels[part]
    return Images(images=readonly(images), labels=readonly(labels))


@functools.lru_cache(maxsize=4)
def _whole_split(seed: int, split: str, colour: bool) -> Images:
    return render_digits(seed, split, 0, SPLIT_SIZES[split], colour)


@dataclass(frozen=True, eq=False)
class SyntheticSource:
    """Generated digits; `seed` picks which, `colour` tints each one. Splits 'train' (60000), 'test' (10000)."""

    seed: int
    colour: bool = False

    kind = "synthetic"
    synthetic = True

    def split_names(self) -> tuple[str, ...]:
        return tuple(SPLIT_SIZES)

    def load(self, split: str) -> Images:
        """The whole split, rendered once per process: [M, 28, 28(, 3)] uint8, labels [M] int64."""
        if split not in SPLIT_SIZES:
            raise unknown_split("the synthetic source", split, SPLIT_SIZES)
        return _whole_split(self.seed, split, self.colour)

    def describe(self) -> dict[str, Any]:
        shape = [IMAGE_SIZE, IMAGE_SIZE, 3] if self.colour else [IMAGE_SIZE, IMAGE_SIZE]
        generator = {"version": GENERATOR_VERSION, "seed": self.seed, "templates_sha256": templates().digest}
        if self.colour:
            generator["colour"] = True
        return {
            "kind": self.kind,
            "path": None,
            "synthetic": self.synthetic,
            "splits": {s: {"count": n, "image_shape": shape, "dtype": "uint8"} for s, n in SPLIT_SIZES.items()},
            "generator": generator,
        }


def open_synthetic(seed: int, colour: bool = False) -> SyntheticSource:
    """The synthetic source for `seed` (a non-negative integer), grey or tinted."""
    if seed < 0:
        raise SourceError(f"source.seed must be >= 0 (got {seed})")
    return SyntheticSource(seed=seed, colour=colour)
