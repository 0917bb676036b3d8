"""Whole-canvas layers: digits resampled in every frame (mmnist++), then combined.

Pure numpy. `render` pastes fixed sprites; here a digit turns and scales, so each
(sequence, frame, digit) is its own image, sampled onto a canvas of its own.
"""

from __future__ import annotations

import numpy as np


def to_sprite(
    row: np.ndarray,
    col: np.ndarray,
    box: np.ndarray,
    shift: np.ndarray,
    angle: np.ndarray,
    scale: np.ndarray,
    dtype: type[np.floating] = np.float64,
    pad: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The sprite point a canvas point samples: the inverse of OpenCV's rotation about the crop's centre.

    row, col: canvas points; box [..., 4] (r0, c0, r1, c1), shift [..., 2] (row, col), angle
    (degrees, counter-clockwise), scale [...]: a crop's pose, as given to `warp`, broadcast
    against the points. The crop's centre is centre_sprite = (r0 + r1, c0 + c1) / 2 in the
    sprite and centre = shift + centre_sprite - (r0, c0) on the canvas; a canvas point q
    samples centre_sprite + R(angle)^-1 (q - centre) / scale. Computed in `dtype`; pad is
    added to the sprite coordinates (warp's sprites have a border of zeros).
    Returns (row, col) in the sprite, each shaped as the broadcast.
    """
    half = np.stack([(box[..., 2] - box[..., 0]) / 2, (box[..., 3] - box[..., 1]) / 2], axis=-1)  # (rows, cols)
    centre = shift + half  # on the canvas, (row, col)
    theta = np.deg2rad(angle).astype(dtype)
    inv = (1 / scale).astype(dtype)
    cos, sin = np.cos(theta) * inv, np.sin(theta) * inv
    dy = row - centre[..., 0].astype(dtype)
    dx = col - centre[..., 1].astype(dtype)
    u = (half[..., 1] + box[..., 1] + pad).astype(dtype) + cos * dx - sin * dy
    v = (half[..., 0] + box[..., 0] + pad).astype(dtype) + sin * dx + cos * dy
    return v, u


def to_canvas(
    row: np.ndarray, col: np.ndarray, box: np.ndarray, shift: np.ndarray, angle: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where a sprite point lands on the canvas: the inverse of `to_sprite` (float64).

    row, col: sprite points; box, shift, angle, scale as for `to_sprite`, broadcast against
    them. The point lands at centre + scale R(angle) (point - centre_sprite).
    Returns (row, col) on the canvas, each shaped as the broadcast.
    """
    half = np.stack([(box[..., 2] - box[..., 0]) / 2, (box[..., 3] - box[..., 1]) / 2], axis=-1)
    v = row - half[..., 0] - box[..., 0]  # from the crop's centre
    u = col - half[..., 1] - box[..., 1]
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta) * scale, np.sin(theta) * scale
    centre = shift + half
    return centre[..., 0] - sin * u + cos * v, centre[..., 1] + cos * u + sin * v


def warp(
    sprites: np.ndarray,
    box: np.ndarray,
    shift: np.ndarray,
    angle: np.ndarray,
    scale: np.ndarray,
    gain: np.ndarray,
    canvas: tuple[int, int],
) -> np.ndarray:
    """Rotated, scaled, brightened crops, each drawn alone on a canvas (OpenCV's warpAffine).

    sprites: [B, h, w] uint8, zero outside each crop; box: [B, 4] (r0, c0, r1, c1), the crop
    in sprite coordinates; shift: [B, 2] (row, col), the crop's top-left on the canvas before
    turning; angle: [B] degrees counter-clockwise; scale, gain: [B]. The crop turns about its
    centre, as cv2.getRotationMatrix2D; each canvas pixel takes the bilinear sample of the
    crop at its inverse image (zero outside), times gain, rounded and clipped to 0..255.
    Returns [B, H, W] uint8. The caller bounds B (memory is ~40 bytes a canvas pixel).
    """
    b, h, w = sprites.shape
    height, width = canvas
    # A border of zeros, so that a 2 x 2 block overlapping the sprite's edge reads 0 outside it.
    padded = np.zeros((b, h + 2, w + 2), dtype=np.float32)
    padded[:, 1:-1, 1:-1] = sprites
    flat = padded.reshape(-1)
    rows = np.arange(height, dtype=np.float32)[None, :, None]
    cols = np.arange(width, dtype=np.float32)[None, None, :]
    each = (box[:, None, None], shift[:, None, None], angle[:, None, None], scale[:, None, None])
    v, u = to_sprite(rows, cols, *each, dtype=np.float32, pad=1)  # in padded sprite coordinates
    c0, r0 = np.floor(u), np.floor(v)
    # A sample reads the 2 x 2 pixels from (r0, c0); only where that block touches the
    # sprite (padded rows 0..h, cols 0..w) can it be non-zero, so only those are read:
    # for a digit on a 64 x 64 canvas, a tenth of the pixels.
    near = np.flatnonzero((r0 >= 0) & (r0 <= h) & (c0 >= 0) & (c0 <= w))
    r, c = r0.reshape(-1)[near], c0.reshape(-1)[near]
    fu, fv = u.reshape(-1)[near] - c, v.reshape(-1)[near] - r
    which = near // (u.shape[1] * u.shape[2])
    at = (which * (h + 2) + r.astype(np.int64)) * (w + 2) + c.astype(np.int64)
    top = flat[at] * (1 - fu) + flat[at + 1] * fu
    bottom = flat[at + w + 2] * (1 - fu) + flat[at + w + 3] * fu
    value = (top * (1 - fv) + bottom * fv) * gain.astype(np.float32)[which]
    out = np.zeros(u.size, dtype=np.uint8)
    out[near] = np.clip(np.rint(value), 0, 255)
    return out.reshape(u.shape)


def stack(
    layers: np.ndarray, combine: str, present: np.ndarray, z_order: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Combine whole-canvas layers, one per digit: [n, T, K, H, W] uint8 -> (frames, mask).

    The same rules as `compose` and `paste` (max: a tie goes to the later slot; sum: clipped
    at 255; over: ink hides what is below, in z-order); absent slots ([n, K] `present`
    false) are left out. Returns frames [n, T, H, W] uint8 and mask [n, T, H, W] uint8.
    """
    n, t, k = layers.shape[:3]
    layers = np.where(present[:, None, :, None, None], layers, 0)
    if z_order is None:
        order = np.broadcast_to(np.arange(k), (n, k))
    else:
        order = np.argsort(np.where(z_order < 0, k, z_order), axis=1, kind="stable")
    frames = np.zeros((n, t, *layers.shape[3:]), dtype=np.uint8)
    mask = np.zeros_like(frames)
    for z in range(k):
        slot = order[:, z]
        layer = layers[np.arange(n), :, slot]  # [n, T, H, W]
        ink = layer > 0
        if combine == "max":
            win = ink & (layer >= frames)
            np.maximum(frames, layer, out=frames)
        elif combine == "sum":
            win = ink
            frames = np.minimum(frames.astype(np.uint16) + layer, 255).astype(np.uint8)
        else:
            win = ink
            frames = np.where(ink, layer, frames)
        mask = np.where(win, (slot + 1).astype(np.uint8)[:, None, None, None], mask)
    return frames, mask
