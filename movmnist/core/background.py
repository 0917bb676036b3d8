"""Backgrounds: an image beneath each sequence's digits, resized to the canvas, static or drifting.

Pure numpy. `resize_cubic` is OpenCV's `cv2.resize(..., interpolation=cv2.INTER_CUBIC)` for
uint8 images, transcribed (OpenSTL's mnist_cifar resizes its CIFAR-10 backgrounds with it), so
that the recipe needs no OpenCV; `shifts` draws a drift and `lay` puts the images beneath the
digits by the config's combine rule.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_A = np.float32(-0.75)  # OpenCV's cubic kernel parameter (Keys' a; Pillow's BICUBIC uses -0.5)
_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS: the taps are integers scaled by 2**11


def _taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of `target` output pixels along an axis: its 4 source pixels [target, 4] (the
    edge pixel repeated past the ends) and their integer weights [target, 4], as OpenCV's
    resize computes them (float32 position (d + 0.5) * scale - 0.5, float32 kernel, rounded)."""
    pos = ((np.arange(target) + 0.5) * (source / target) - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    x = (pos - first).astype(np.float32)
    c0 = ((_A * (x + 1) - 5 * _A) * (x + 1) + 8 * _A) * (x + 1) - 4 * _A
    c1 = ((_A + 2) * x - (_A + 3)) * x * x + 1
    c2 = ((_A + 2) * (1 - x) - (_A + 3)) * (1 - x) * (1 - x) + 1
    weights = np.stack([c0, c1, c2, 1 - c0 - c1 - c2], axis=-1).astype(np.float32)
    index = np.clip(first[:, None] + np.arange(-1, 3), 0, source - 1)
    return index, np.rint(weights * (1 << _COEF_BITS)).astype(np.int64)


def _matrix(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """`_taps` as a [source, target] float32 matrix of the summed integer weights (exact in float32:
    every sum of a pass is an integer below 2**24), and the taps themselves."""
    index, weights = _taps(source, target)
    matrix = np.zeros((source, target), np.float32)
    np.add.at(matrix, (index, np.broadcast_to(np.arange(target)[:, None], index.shape)), weights)
    return matrix, weights


def resize_cubic(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[M, h, w(, C)] uint8 -> [M, H, W(, C)] uint8 by OpenCV's INTER_CUBIC (a = -0.75).

    Its arithmetic: integer taps (`_taps`), an exact integer pass along rows, then the pass
    along columns in float32 as its vectorised path does, rounded half to even and saturated.
    Identical to OpenCV 4.12's bytes for the recipe's 32 -> 64 (tests/core/test_background.py);
    within one grey level of them for other sizes, where OpenCV mixes in an integer path.
    """
    m, h, w = images.shape[:3]
    planes = images.reshape(m, h, w, -1).transpose(0, 3, 1, 2).astype(np.float32)  # [M, C, h, w]
    across, _ = _matrix(w, size[1])
    along = planes @ across  # [M, C, h, W]: integers, exact
    index, weights = _taps(h, size[0])
    beta = (weights.astype(np.float32) * np.float32(2.0 ** (-2 * _COEF_BITS))).astype(np.float32)
    out = along[:, :, index[:, 0]] * beta[:, 0, None]
    for k in (1, 2, 3):  # in OpenCV's order: float32 sums are not associative
        out += along[:, :, index[:, k]] * beta[:, k, None]
    done = np.clip(np.rint(out), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)  # [M, H, W, C]
    return np.ascontiguousarray(done.reshape(m, *size, *images.shape[3:]))


def shifts(
    draw: Callable[[int, int], np.ndarray], stream: int, length: int, canvas: tuple[int, int], drift: float
) -> np.ndarray:
    """[n, T, 2] int64: (row, col) by which each sequence's background is rolled in each frame.

    A uniform start in the canvas and a uniform direction, `drift` pixels a frame: shift(t) =
    floor(start + t * drift * (sin, cos)) modulo the canvas. draw(stream, count) -> [n, count].
    """
    u = draw(stream, 3)
    height, width = canvas
    angle = 2 * np.pi * u[:, 0]
    start = np.stack([u[:, 1] * height, u[:, 2] * width], axis=-1)  # [n, 2]
    step = drift * np.stack([np.sin(angle), np.cos(angle)], axis=-1)
    t = np.arange(length, dtype=np.float64)[None, :, None]
    shift: np.ndarray = np.floor(start[:, None] + t * step[:, None]).astype(np.int64) % np.array([height, width])
    return shift


def lay(frames: np.ndarray, images: np.ndarray, shift: np.ndarray | None, combine: str) -> None:
    """Put each sequence's background beneath its digits, in place.

    frames: [n, T, H, W(, C)] uint8, the digits alone; images: [n, H, W(, C)] uint8, one per
    sequence; shift: [n, T, 2] (`shifts`), or None for a static background. The background is
    the bottom layer under render.combine: max, a clipped sum, or (over) shown where no digit has ink.
    Frame pixel (r, c) at time t shows background pixel ((r - row) mod H, (c - col) mod W).
    """
    height, width = frames.shape[2], frames.shape[3]
    if shift is None:
        below = images[:, None]
    else:
        # A window of the image tiled 2 x 2: tiled[a + r, b + c] = image[(a + r) mod H, (b + c) mod W],
        # so a = -row mod H and b = -col mod W. One slice copy a frame: a gather of 4 index arrays
        # over every pixel was ~4x slower than the whole build without a background.
        tiled = np.tile(images, (1, 2, 2) + (1,) * (images.ndim - 3))
        start = (-shift) % np.array([height, width])
        below = np.empty(frames.shape, np.uint8)
        for i, t in np.ndindex(*shift.shape[:2]):
            a, b = start[i, t]
            below[i, t] = tiled[i, a : a + height, b : b + width]
    if combine == "max":
        np.maximum(frames, below, out=frames)
    elif combine == "sum":
        frames[...] = np.minimum(frames.astype(np.uint16) + below, 255)
    else:
        ink = frames.any(axis=-1, keepdims=True) if frames.ndim == 5 else frames > 0
        np.copyto(frames, np.broadcast_to(below, frames.shape), where=~ink)
