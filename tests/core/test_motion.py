"""The Srivastava et al. 2015 bounce: invariants, hand-computed cases, and the original loop."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from movmnist.core import motion


def original_s15(y: float, x: float, theta: float, length: int, step: float) -> tuple[list[float], list[float]]:
    """A literal transcription of GetRandomTrajectory's per-digit loop (for one digit)."""
    v_y, v_x = np.sin(theta), np.cos(theta)
    ys, xs = [], []
    for _ in range(length):
        y += v_y * step
        x += v_x * step
        if x <= 0:
            x = 0
            v_x = -v_x
        if x >= 1.0:
            x = 1.0
            v_x = -v_x
        if y <= 0:
            y = 0
            v_y = -v_y
        if y >= 1.0:
            y = 1.0
            v_y = -v_y
        ys.append(y)
        xs.append(x)
    return ys, xs


def test_wall_hit_is_clamped_and_reversed() -> None:
    path = motion.srivastava(np.array([[0.95, 0.5]]), np.array([[0.1, 0.0]]), 3)
    np.testing.assert_allclose(path.position[:, 0, 0], [1.0, 0.9, 0.8])
    np.testing.assert_allclose(path.velocity[:, 0, 0], [-0.1, -0.1, -0.1])
    np.testing.assert_allclose(path.position[:, 0, 1], [0.5, 0.5, 0.5])


def test_low_wall_and_exact_zero() -> None:
    # 0.1 - 0.1 == 0.0 exactly: "<= 0" clamps and reverses it too.
    path = motion.srivastava(np.array([[0.5, 0.1]]), np.array([[0.0, -0.1]]), 3)
    np.testing.assert_allclose(path.position[:, 0, 1], [0.0, 0.1, 0.2])
    assert path.velocity[0, 0, 1] == 0.1


def test_frame_zero_is_after_the_first_step() -> None:
    path = motion.srivastava(np.array([[0.2, 0.3]]), np.array([[0.05, -0.02]]), 1)
    np.testing.assert_allclose(path.position[0, 0], [0.25, 0.28])


def test_pixels_are_truncated() -> None:
    pos = np.array([[0.999, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(motion.to_pixels(pos, (36, 36)), [[35, 18], [36, 0]])


@settings(max_examples=200, deadline=None)
@given(
    y=st.floats(0, 1, exclude_max=True),
    x=st.floats(0, 1, exclude_max=True),
    theta=st.floats(0, 2 * np.pi),
    step=st.sampled_from([0.1, 0.05, 0.3]),
)
def test_matches_the_original_loop(y: float, x: float, theta: float, step: float) -> None:
    ys, xs = original_s15(y, x, theta, 20, step)
    vel = motion.direction(np.array([theta]), np.array([step]))
    path = motion.srivastava(np.array([[y, x]]), vel, 20)
    np.testing.assert_array_equal(path.position[:, 0, 0], ys)
    np.testing.assert_array_equal(path.position[:, 0, 1], xs)
    pixels = motion.to_pixels(path.position[:, 0], (36, 36))
    np.testing.assert_array_equal(pixels[:, 0], (36 * np.array(ys)).astype(np.int32))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), speed=st.floats(0.01, 1.0))
def test_positions_stay_inside_and_speed_is_constant(seed: int, speed: float) -> None:
    g = np.random.default_rng(seed)
    start = g.random((50, 2))
    vel = motion.direction(g.random(50) * 2 * np.pi, np.full(50, speed))
    path = motion.srivastava(start, vel, 30)
    assert path.position.min() >= 0.0 and path.position.max() <= 1.0
    np.testing.assert_allclose(np.hypot(*path.velocity.transpose(2, 0, 1)), speed)
    pixels = motion.to_pixels(path.position, (36, 24))
    assert pixels[..., 0].max() <= 36 and pixels[..., 1].max() <= 24 and pixels.min() >= 0
