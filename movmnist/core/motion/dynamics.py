"""The rules of each motion preset, as pure numpy functions of explicit start states.

Every function here is vectorised over M sprites; those that must (a clamp loses the
overshoot, so the path has no closed form) loop over the T frames only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movmnist.core import compiled
from movmnist.core.motion.mmnistpp import Appearance


@dataclass(frozen=True)
class Trajectory:
    """The latent motion of M sprites over T frames.

    position: [T, M, 2] float64, normalised (row, col) in each frame.
    velocity: [T, M, 2] float64, normalised per frame, as it stands after that frame.
    hits:     [T, M, 2] int8 or None: per axis, -1 if the sprite bounced off the low wall
              (top, left) on its way into this frame, +1 off the high wall, else 0.
    pixels:   [T, M, 2] int64 or None: the top-left pixel, when the preset's own rule
              gives it (else `to_pixels(position, free)`).
    shift, look: only for mmnist++, whose digits turn, grow and shrink (see mmnistpp).
    contacts: [T, M] uint64 or None: only for elastic, bit j set where the sprite collided with
              slot j of its sequence on its way into this frame (see collide).
    """

    position: np.ndarray
    velocity: np.ndarray
    hits: np.ndarray | None = None
    pixels: np.ndarray | None = None
    shift: np.ndarray | None = None  # mmnist++: [T, M, 2] float64 sub-pixel top-left of the crop
    look: Appearance | None = None  # mmnist++: rotation, scale and brightness per frame
    contacts: np.ndarray | None = None


def srivastava(
    start: np.ndarray,
    velocity: np.ndarray,
    length: int,
    accel: np.ndarray | None = None,
    jitter: np.ndarray | None = None,
) -> Trajectory:
    """The bounce of Srivastava et al. 2015, the generator behind `mnist_test_seq.npy`.

    Rules, per sprite, per frame: first step (position += velocity); then for each axis,
    a position <= 0 is clamped to 0 and one >= 1 clamped to 1, and in both cases that
    velocity component is negated. Frame 0 is recorded after the first step. The clamp
    loses the overshoot, so the path is not a pure reflection and has no closed form:
    we loop over the T frames, each step vectorised over all M sprites.

    start: [M, 2] float64 in [0, 1), velocity: [M, 2] float64 per frame. accel: [T, M, 2]
    or None, added to the velocity at the start of each frame (motion.acceleration).
    jitter: [T, M, 2] or None, OpenSTL's `dynamic` noise (corruptions.dynamic): added to
    that frame's step only, times the sign the bounces so far gave each axis (OpenSTL steps
    by bounce x (v + noise)), never kept in the velocity; numpy only.
    The compiled kernel runs the same loop, when built (~0.2 ms a chunk saved).
    """
    if compiled.kernel is not None and jitter is None:
        shape = (length, *np.shape(start))
        positions, velocities = np.empty(shape), np.empty(shape)
        hits = np.empty(shape, dtype=np.int8)
        compiled.kernel.bounce(
            positions,
            velocities,
            hits,
            np.ascontiguousarray(start, dtype=np.float64),
            np.ascontiguousarray(velocity, dtype=np.float64),
            None if accel is None else np.ascontiguousarray(accel, dtype=np.float64),
            int(np.prod(shape[1:])),
            length,
        )
        return Trajectory(positions, velocities, hits)
    pos = np.array(start, dtype=np.float64, copy=True)
    vel = np.array(velocity, dtype=np.float64, copy=True)
    positions = np.empty((length, *pos.shape), dtype=np.float64)
    velocities = np.empty_like(positions)
    hits = np.zeros((length, *pos.shape), dtype=np.int8)
    sign = np.ones_like(pos)
    for t in range(length):
        if accel is not None:
            vel += accel[t]
        pos += vel if jitter is None else vel + sign * jitter[t]
        low, high = pos <= 0.0, pos >= 1.0
        hit = low | high
        pos[low] = 0.0
        pos[high] = 1.0
        vel[hit] = -vel[hit]
        sign[hit] = -sign[hit]
        positions[t] = pos
        velocities[t] = vel
        hits[t] = high.astype(np.int8) - low.astype(np.int8)
    return Trajectory(positions, velocities, hits)


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


def tfds(
    start: np.ndarray, velocity: np.ndarray, length: int, free: np.ndarray, accel: np.ndarray | None = None
) -> Trajectory:
    """tensorflow-datasets' `video/moving_sequence.py` (`image_as_moving_sequence`).

    Rules, all in float32 as there: frame t is at the closed-form x0 + v t (frame 0 at the
    start), folded into [0, 1] by exact reflection, p = (x0 + v t) mod 2, then
    min(p, 2 - p); the top-left pixel is round-half-to-even(position x free range). In
    that file the direction is a normalised Gaussian 2-vector and the speed 0.1; the
    caller draws those. With accel (not in tfds), v t becomes the running sum of the
    noisy velocities, still folded in closed form.

    start, velocity: [M, 2]; free: [M, 2] pixels; accel: [T, M, 2] or None.
    """
    x0 = np.asarray(start, dtype=np.float32)
    v = np.asarray(velocity, dtype=np.float32)
    t = np.arange(length, dtype=np.float32)[:, None, None]
    if accel is None:
        raw = x0[None] + v[None] * t
        vel = np.broadcast_to(v[None], raw.shape)
    else:
        vel = v[None] + np.cumsum(accel.astype(np.float32), axis=0)
        steps = np.concatenate([np.zeros_like(vel[:1]), np.cumsum(vel[:-1], axis=0)])
        raw = x0[None] + steps
    p = np.mod(raw, np.float32(2))
    position = np.minimum(p, np.float32(2) - p)
    pixels = np.round(position * np.asarray(free, dtype=np.float32)).astype(np.int64)
    # Each crossing of an integer by the unfolded path is one reflection: off the low wall
    # at even integers, off the high wall at odd ones. We record the last of a frame.
    fold = np.floor(raw).astype(np.int64)
    hits = np.zeros(raw.shape, dtype=np.int8)
    up, down = fold[1:] > fold[:-1], fold[1:] < fold[:-1]
    wall = np.where(up, fold[1:], fold[:-1])  # the integer crossed last
    hits[1:] = np.where(up | down, np.where(wall % 2 == 1, 1, -1), 0).astype(np.int8)
    sign = np.where(fold % 2 == 0, 1.0, -1.0)
    return Trajectory(position.astype(np.float64), (vel * sign).astype(np.float64), hits, pixels)


def svg(
    start: np.ndarray,
    velocity: np.ndarray,
    length: int,
    free: np.ndarray,
    top: np.ndarray,
    redraw: np.ndarray | None = None,
    accel: np.ndarray | None = None,
) -> Trajectory:
    """Denton & Fergus 2018 (SVG), edenton/svg `data/moving_mnist.py`, in integer pixels.

    Rules, per sprite, per frame, on the top-left pixel (row, col) with free range F:
    first the walls, row then col: a coordinate < 0 is set to 0, one >= F to F - 1 (the
    sprite never reaches the last column, as there); then the frame is recorded at that
    position; then the position steps by the velocity. At a wall hit the deterministic
    variant negates that component; the stochastic one (`redraw` given) draws a new
    velocity: the component normal to the wall away from it in {1..m}, the other in
    {-m..m} (a col hit after a row hit in the same frame redraws both again, as there).
    In SVG m = 4 px, starts are uniform integers in [0, F) and velocities in {-4..4}.

    start, velocity: [M, 2] int; free: [M, 2] int pixels; top: [M] int, m per sprite;
    redraw: [T, M, 4] uniforms in [0, 1) or None (deterministic); accel: [T, M, 2] int or None.
    """
    pos = np.array(start, dtype=np.int64, copy=True)
    vel = np.array(velocity, dtype=np.int64, copy=True)
    free = np.asarray(free, dtype=np.int64)
    m = np.asarray(top, dtype=np.int64)
    pixels = np.empty((length, *pos.shape), dtype=np.int64)
    velocities = np.empty_like(pixels)
    hits = np.zeros(pixels.shape, dtype=np.int8)
    for t in range(length):
        for axis in (0, 1):
            low, high = pos[:, axis] < 0, pos[:, axis] >= free[:, axis]
            pos[low, axis] = 0
            pos[high, axis] = free[high, axis] - 1
            hit = low | high
            hits[t, :, axis] = high.astype(np.int8) - low.astype(np.int8)
            if redraw is None:
                vel[hit, axis] = -vel[hit, axis]
            else:
                u_normal, u_other = redraw[t, :, 2 * axis], redraw[t, :, 2 * axis + 1]
                away = 1 + (u_normal * m).astype(np.int64)  # {1..m}
                other = (u_other * (2 * m + 1)).astype(np.int64) - m  # {-m..m}
                vel[hit, axis] = np.where(low, away, -away)[hit]
                vel[hit, 1 - axis] = other[hit]
        pixels[t] = pos
        if accel is not None:
            vel += accel[t]
        velocities[t] = vel
        pos += vel
    scale = free.astype(np.float64)
    return Trajectory(pixels / scale, velocities / scale, hits, pixels)


SRVP_EPS = 1e-8  # SRVP's tolerance at the walls (MovingMNIST.eps)
SRVP_REDRAWS = 4  # redraws pre-drawn per sprite and frame (see srvp_uniforms past them)
_GOLDEN = 0.6180339887498949


def srvp_uniforms(redraw: np.ndarray, bounce: int) -> np.ndarray:
    """[..., 2] uniforms of the `bounce`-th redraw (0-based) in a frame, from [..., 2 * SRVP_REDRAWS].

    Past the pre-drawn ones, bounce j takes those of j mod SRVP_REDRAWS shifted by
    (j div SRVP_REDRAWS) x the golden ratio, mod 1: a digit trapped in a corner (SRVP
    re-bounces it from the corner with the same time left until a draw lets it out) gets new
    numbers, never a cycle.
    """
    j = bounce % SRVP_REDRAWS
    u = redraw[..., 2 * j : 2 * j + 2]
    return u if bounce < SRVP_REDRAWS else np.asarray((u + (bounce // SRVP_REDRAWS) * _GOLDEN) % 1.0)


def srvp(
    start: np.ndarray,
    velocity: np.ndarray,
    length: int,
    free: np.ndarray,
    top: np.ndarray,
    redraw: np.ndarray | None = None,
) -> Trajectory:
    """Franceschi et al. 2020 (SRVP), edouardelasalles/srvp `data/mmnist.py` at 05661fa,
    `MovingMNIST._compute_trajectory` and `_process_collision`, vectorised over sprites.

    Rules, per sprite, on the top-left (row, col) with walls at 0 and F (inclusive): each
    frame, first the collisions, then the frame is recorded at the position rounded half to
    even (Python's `round`), then the exact position steps by the integer velocity. A
    position past a wall (by more than 1e-8) is traced back along its step to the first wall
    it crossed; the deterministic variant keeps the velocity, the stochastic one (`redraw`
    given) draws both components anew in {-m..m}; then the component normal to that wall is
    made to point away from it, and the rest of the step is travelled from the wall; repeated
    until the position is inside. In SRVP m = 4 px, starts are uniform integers in [0, F]
    and velocities in {-4..4}.

    start, velocity: [M, 2] int; free: [M, 2] int pixels; top: [M] int, m per sprite;
    redraw: [T, M, 2 * SRVP_REDRAWS] uniforms in [0, 1) or None (deterministic), pairs
    (row, col) for the 1st, 2nd, ... bounce of a frame.
    """
    pos = np.array(start, dtype=np.float64, copy=True)
    vel = np.array(velocity, dtype=np.int64, copy=True)
    high = np.asarray(free, dtype=np.float64)
    m = np.asarray(top, dtype=np.int64)
    positions = np.empty((length, *pos.shape), dtype=np.float64)
    velocities = np.empty((length, *pos.shape), dtype=np.int64)
    hits = np.zeros(positions.shape, dtype=np.int8)
    for t in range(length):
        low_hit, high_hit = pos < -SRVP_EPS, pos > high + SRVP_EPS
        bounce = 0
        while (out := np.flatnonzero((low_hit | high_hit).any(axis=1))).size:
            if bounce > 1000:  # the deterministic variant ends in two; the stochastic one by chance
                raise RuntimeError("srvp: a sprite kept bouncing within one frame")
            u = None if redraw is None else srvp_uniforms(redraw[t, out], bounce)
            low_hit[out], high_hit[out], pos[out], vel[out] = _srvp_bounce(
                pos[out], vel[out], high[out], low_hit[out], high_hit[out], None if u is None else (u, m[out])
            )
            hits[t, out] = np.where(high_hit[out], 1, np.where(low_hit[out], -1, hits[t, out]))
            low_hit[out], high_hit[out] = pos[out] < -SRVP_EPS, pos[out] > high[out] + SRVP_EPS
            bounce += 1
        positions[t] = pos
        velocities[t] = vel
        pos = pos + vel
    pixels = np.rint(positions).astype(np.int64)  # half to even, as Python's round
    return Trajectory(positions / high, velocities / high, hits, pixels)


def _srvp_bounce(
    pos: np.ndarray,
    vel: np.ndarray,
    high: np.ndarray,
    low_hit: np.ndarray,
    high_hit: np.ndarray,
    redraw: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass of SRVP's collision loop for sprites that are out: (low_hit, high_hit, pos, vel).

    The flags come back as SRVP leaves them (a wall whose line the step crosses outside the
    frame is not the one hit), which decides the signs and the `hits` recorded.
    """
    low_hit, high_hit = low_hit.copy(), high_hit.copy()
    sx, sy = pos[:, 0], pos[:, 1]
    dx, dy = vel[:, 0].astype(np.float64), vel[:, 1].astype(np.float64)
    xm, ym = high[:, 0], high[:, 1]
    cx, cy = sx.copy(), sy.copy()
    # SRVP's x is the row, y the column; a step along one axis meets that axis' wall.
    still_x, still_y = dx == 0, (dy == 0) & (dx != 0)
    cy = np.where(still_x, np.where(low_hit[:, 1], 0.0, ym), cy)
    cx = np.where(still_y, np.where(low_hit[:, 0], 0.0, xm), cx)
    slanted = ~(still_x | still_y)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(slanted, dy / np.where(dx == 0, 1, dx), 1.0)
        b = sy - a * sx
        for axis, wall in ((0, "low"), (0, "high"), (1, "low"), (1, "high")):  # SRVP: left, right, upper, bottom
            flags = low_hit if wall == "low" else high_hit
            lim = np.zeros_like(xm) if wall == "low" else (xm if axis == 0 else ym)
            if axis == 0:
                other, span = a * lim + b, ym
            else:
                other, span = (lim - b) / np.where(a == 0, 1, a), xm
            inside = (other >= -SRVP_EPS) & (other <= span + SRVP_EPS)
            test = slanted & flags[:, axis]
            flags[:, axis] = np.where(test, inside, flags[:, axis])
            take = test & inside
            if axis == 0:
                cx, cy = np.where(take, lim, cx), np.where(take, other, cy)
            else:
                cx, cy = np.where(take, other, cx), np.where(take, lim, cy)
        p = np.where(dx != 0, (sx - cx) / np.where(dx == 0, 1, dx), (sy - cy) / np.where(dy == 0, 1, dy))
    new = vel.copy()
    if redraw is not None:
        u, m = redraw
        new = (u * (2 * m[:, None] + 1)).astype(np.int64) - m[:, None]
    new = np.where(low_hit, np.abs(new), new)
    new = np.where(high_hit, -np.abs(new), new)
    moved = np.stack([cx, cy], axis=1) + new * p[:, None]
    return low_hit, high_hit, moved, new


def open_path(
    start: np.ndarray, velocity: np.ndarray, length: int, first_step: bool, accel: np.ndarray | None = None
) -> Trajectory:
    """No walls (motion.boundary: open or wrap): position = start + running sum of velocity.

    first_step: frame 0 is after one step (srivastava, tutorial) rather than at the start
    (tfds, svg). The caller wraps or clips the result.
    start, velocity: [M, 2]; accel: [T, M, 2] or None.
    """
    vel = np.broadcast_to(np.asarray(velocity, dtype=np.float64)[None], (length, *np.shape(start))).copy()
    if accel is not None:
        vel += np.cumsum(accel, axis=0)
    steps = np.cumsum(vel, axis=0)
    if not first_step:
        steps = np.concatenate([np.zeros_like(steps[:1]), steps[:-1]])
    return Trajectory(np.asarray(start, dtype=np.float64)[None] + steps, vel, np.zeros(vel.shape, dtype=np.int8))


def to_pixels(position: np.ndarray, free: tuple[int, int] | np.ndarray) -> np.ndarray:
    """Top-left pixel of each sprite: truncation of position x free range, as int16.

    position: [..., 2] normalised (row, col); free: (canvas_h - h, canvas_w - w), or per
    sprite [M, 2] broadcasting against position.
    """
    scale = np.asarray(free, dtype=np.float64)
    return (position * scale).astype(np.int16)


def direction(angle: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """[M, 2] (row, col) velocity for an angle in radians: row = sin, col = cos (as S15)."""
    return np.asarray(np.stack([np.sin(angle), np.cos(angle)], axis=-1) * speed[..., None])
