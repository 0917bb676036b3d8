"""Motion presets: pure, vectorised functions from start state to per-frame positions.

Positions are normalised: 0 is the top/left of the free range, 1 its bottom/right, where
the free range is `canvas - digit` pixels on each axis. A speed of 0.1 therefore moves a
28 px digit on a 64 px canvas 3.6 px per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from movmnist import rng

# draw(stream, k) -> [N, k] float64 uniform in [0, 1): stream `stream` of each of the N
# sequences being generated (rng.Keyed, bound to their indices).
Draw = Callable[[int, int], np.ndarray]


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


def tutorial(start: np.ndarray, components: np.ndarray, step: np.ndarray, length: int) -> Trajectory:
    """The motion of the most copied Moving MNIST tutorial (issue 10 of this project).

    Rules, per sprite: start (row, col) and velocity components (v_row, v_col) each
    uniform in [0, 1), so the velocity is not normalised and both components start
    non-negative; velocity = step x components, with a step of 0.5 of the free range per
    frame. Then exactly the `srivastava` loop: each frame first steps, then clamps and
    reverses per axis; frame 0 is after the first step; the top-left pixel is the
    truncation of position x free range. The tutorial's own code is not among the
    references we could read, so these rules are those stated in the issue.

    start, components: [M, 2] in [0, 1); step: [M] per frame.
    """
    return srivastava(start, components * np.asarray(step, dtype=np.float64)[:, None], length)


def _speed(draw: Draw, n: int, k: int, speed: tuple[float, float]) -> np.ndarray:
    """[n, k] per-sprite speed: the fixed value, or uniform in [min, max) from stream SPEED."""
    lo, hi = speed
    if hi > lo:
        return lo + draw(rng.SPEED, k) * (hi - lo)
    return np.full((n, k), lo)


def _draw_srivastava(draw: Draw, n: int, k: int, length: int, speed: tuple[float, float]) -> Trajectory:
    start = draw(rng.START, 2 * k).reshape(-1, 2)
    angle = draw(rng.ANGLE, k) * (2 * np.pi)
    velocity = direction(angle, _speed(draw, n, k, speed))
    return srivastava(start, velocity.reshape(-1, 2), length)


def _draw_tutorial(draw: Draw, n: int, k: int, length: int, speed: tuple[float, float]) -> Trajectory:
    start = draw(rng.START, 2 * k).reshape(-1, 2)
    components = draw(rng.TUTORIAL_VELOCITY, 2 * k).reshape(-1, 2)
    return tutorial(start, components, _speed(draw, n, k, speed).reshape(-1), length)


# preset name -> (draw, n, k, length, speed) -> Trajectory of the n x k sprites, sprite m of
# sequence n at index n * k + m. Each draws its random state from its own streams, then
# calls the pure motion function above.
PRESETS: dict[str, Callable[[Draw, int, int, int, tuple[float, float]], Trajectory]] = {
    "srivastava": _draw_srivastava,
    "tutorial": _draw_tutorial,
}


def to_pixels(position: np.ndarray, free: tuple[int, int]) -> np.ndarray:
    """Top-left pixel of each sprite: truncation of position x free range, as int16.

    position: [..., 2] normalised (row, col); free: (canvas_h - h, canvas_w - w).
    """
    scale = np.asarray(free, dtype=np.float64)
    return (position * scale).astype(np.int16)


def direction(angle: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """[M, 2] (row, col) velocity for an angle in radians: row = sin, col = cos (as S15)."""
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1) * speed[..., None]
