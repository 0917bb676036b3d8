"""MovingMNIST++ (Shi et al. 2015, the ConvLSTM paper), as sxjscience/HKO-7's
`nowcasting/movingmnist_iterator.py` (`MovingMNISTAdvancedIterator.sample`) makes it.

Rules, per digit (that file's defaults): the digit is its ink crop (pixels > 5 of 255);
frame 0 shows it unrotated and unscaled with its top-left uniform over (canvas - crop);
velocity: magnitude uniform in [0, 3.6) px, angle uniform in [0, 2π); each following
frame first clips each velocity component to [-3.6, 3.6] px, then moves, then rotates
the crop about its centre by `frame x base` degrees (base uniform in [-30, 30] per digit)
and scales it by a factor that is divided by s (s uniform in [1/1.1, 1.1] per digit) on
frames i with (i // 5) even and multiplied by s on the others; then if the crop's centre
is outside [10, size - 10] on an axis, it is put back on that line and the velocity
component negated. Brightness: per sequence a factor f uniform in [0.6, 1]; frame i's
is the previous one times f where (i // 5) is even, divided by f elsewhere. Digits are
drawn by OpenCV's warpAffine (bilinear) and combined by max. The file's distractors
(random MNIST fragments) are not drawn here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MARGIN = 10.0  # px: the crop's centre stays within [MARGIN, size - MARGIN]
CROP_THRESHOLD = 5  # crop_mnist_digit's tol=5 (of 255)


@dataclass(frozen=True)
class Appearance:
    """Per-frame look of M digits: angle [T, M] degrees (counter-clockwise, as OpenCV),
    scale [T, M], gain [T, M] (brightness factor)."""

    angle: np.ndarray
    scale: np.ndarray
    gain: np.ndarray


def appearance(base_angle: np.ndarray, variation: np.ndarray, factor: np.ndarray, length: int) -> Appearance:
    """The rotation, scale and brightness schedules (pure; no randomness).

    base_angle, variation, factor: [M] (factor repeated over a sequence's digits).
    """
    i = np.arange(length)
    sign = np.where((i // 5) % 2 == 0, -1.0, 1.0)  # 2 * ((i // 5) % 2) - 1
    sign[0] = 0.0  # frame 0 is the identity
    power = np.cumsum(sign)[:, None]  # [T, 1]
    scale = np.asarray(variation, dtype=np.float64)[None] ** power
    gain = np.asarray(factor, dtype=np.float64)[None] ** -power  # the exponent is -(2 ((i // 5) % 2) - 1)
    angle = i[:, None] * np.asarray(base_angle, dtype=np.float64)[None]
    return Appearance(angle, scale, gain)


def mmnistpp(
    start: np.ndarray,
    velocity: np.ndarray,
    crop: np.ndarray,
    canvas: tuple[int, int],
    length: int,
    vmax: float,
    accel: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digits' translation: the crop's top-left (row, col) in pixels, per frame.

    start: [M, 2] top-left (row, col) at frame 0; velocity: [M, 2] (row, col) px per frame;
    crop: [M, 2] (rows, cols) of each crop; vmax: the per-component velocity clip (3.6);
    accel: [T, M, 2] or None, added to the velocity before each step (not in HKO-7).
    Returns shift [T, M, 2] float64, velocity [T, M, 2] (as it stands after each frame) and
    hits [T, M, 2] int8 (-1: bounced off the low line (top, left) into this frame, +1 high).
    """
    shift = np.array(start, dtype=np.float64, copy=True)
    vel = np.array(velocity, dtype=np.float64, copy=True)
    half = np.asarray(crop, dtype=np.float64) / 2
    low = np.full(2, MARGIN)
    high = np.asarray(canvas, dtype=np.float64) - MARGIN
    shifts = np.empty((length, *shift.shape))
    velocities = np.empty_like(shifts)
    hits = np.zeros(shifts.shape, dtype=np.int8)
    shifts[0], velocities[0] = shift, vel
    for t in range(1, length):
        if accel is not None:
            vel += accel[t]
        np.clip(vel, -vmax, vmax, out=vel)
        shift += vel
        centre = shift + half
        below, above = centre < low, centre > high
        vel[below | above] *= -1
        shift = np.clip(centre, low, high) - half
        shifts[t], velocities[t] = shift, vel
        hits[t] = above.astype(np.int8) - below.astype(np.int8)
    return shifts, velocities, hits
