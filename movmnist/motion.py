"""Motion presets: pure, vectorised functions from start state to per-frame positions.

Positions are normalised: 0 is the top/left of the free range, 1 its bottom/right, where
the free range is `canvas - digit` pixels on each axis. A speed of 0.1 therefore moves a
28 px digit on a 64 px canvas 3.6 px per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """The latent motion of M sprites over T frames.

    position: [T, M, 2] float64, normalised (row, col) after each frame's update.
    velocity: [T, M, 2] float64, normalised per frame, as it stands after that frame.
    """

    position: np.ndarray
    velocity: np.ndarray


def srivastava(start: np.ndarray, velocity: np.ndarray, length: int) -> Trajectory:
    """The bounce of Srivastava et al. 2015, the generator behind `mnist_test_seq.npy`.

    Rules, per sprite, per frame: first step (position += velocity); then for each axis,
    a position <= 0 is clamped to 0 and one >= 1 clamped to 1, and in both cases that
    velocity component is negated. Frame 0 is recorded after the first step. The clamp
    loses the overshoot, so the path is not a pure reflection and has no closed form:
    we loop over the T frames, each step vectorised over all M sprites.

    start: [M, 2] float64 in [0, 1), velocity: [M, 2] float64 per frame.
    """
    pos = np.array(start, dtype=np.float64, copy=True)
    vel = np.array(velocity, dtype=np.float64, copy=True)
    positions = np.empty((length, *pos.shape), dtype=np.float64)
    velocities = np.empty_like(positions)
    for t in range(length):
        pos += vel
        low, high = pos <= 0.0, pos >= 1.0
        hit = low | high
        pos[low] = 0.0
        pos[high] = 1.0
        vel[hit] = -vel[hit]
        positions[t] = pos
        velocities[t] = vel
    return Trajectory(positions, velocities)


def to_pixels(position: np.ndarray, free: tuple[int, int]) -> np.ndarray:
    """Top-left pixel of each sprite: truncation of position x free range, as int16.

    position: [..., 2] normalised (row, col); free: (canvas_h - h, canvas_w - w).
    """
    scale = np.asarray(free, dtype=np.float64)
    return (position * scale).astype(np.int16)


def direction(angle: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """[M, 2] (row, col) velocity for an angle in radians: row = sin, col = cos (as S15)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1) * speed[..., None]
