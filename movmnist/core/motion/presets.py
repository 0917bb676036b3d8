"""Each preset's random start state, drawn from keyed streams, then its rules from `dynamics`.

`PRESETS[name](draw, n, k, spec)` gives the Trajectory of the n x k sprites (sprite m of
sequence i at index i * k + m) with `pixels` set. `move` adds the free parameters that
apply on top of any preset: acceleration noise, and walls that wrap or are open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from movmnist.core import rng
from movmnist.core.motion import collide
from movmnist.core.motion import dynamics as dyn
from movmnist.core.motion import mmnistpp as pp
from movmnist.core.motion.dynamics import Trajectory

# draw(stream, count) -> [n, count] float64 uniform in [0, 1): stream `stream` of each of
# the n sequences being generated (rng.Keyed, bound to their indices).
Draw = Callable[[int, int], np.ndarray]


@dataclass(frozen=True)
class Spec:
    """What a preset needs besides its random numbers.

    free:   [M, 2] int pixels, each sprite's free range (canvas - extent) per axis.
    canvas: (H, W); sprite: (h, w) of the patch.
    boundary: 'bounce' (the preset's walls), 'wrap' (a torus) or 'open' (no walls; sprites
        start anywhere from fully off to fully on the canvas, and may enter and leave).
    acceleration: standard deviation of the Gaussian added to each velocity component
        every frame, in free ranges per frame (pixels per frame x F for pixel presets).
    """

    length: int
    speed: tuple[float, float]
    free: np.ndarray
    canvas: tuple[int, int]
    sprite: tuple[int, int]
    boundary: str = "bounce"
    acceleration: float = 0.0
    extent: np.ndarray | None = None  # mmnist++: [M, 2] (rows, cols) of each digit's ink crop
    present: np.ndarray | None = None  # elastic: [M] bool, the slots a sequence uses (only they collide)
    mass: np.ndarray | None = None  # elastic: [M] float64 > 0, each digit's mass (motion.mass)


def _speed(draw: Draw, n: int, k: int, speed: tuple[float, float]) -> np.ndarray:
    """[n * k] per-sprite speed: the fixed value, or uniform in [min, max) from stream SPEED."""
    lo, hi = speed
    if hi > lo:
        return (lo + draw(rng.SPEED, k) * (hi - lo)).reshape(-1)
    return np.full(n * k, lo)


def _normal(u: np.ndarray) -> np.ndarray:
    """Standard normals from pairs of uniforms (Box-Muller): [..., 2j] -> [..., j]."""
    j = u.shape[-1] // 2
    return np.asarray(np.sqrt(-2.0 * np.log1p(-u[..., :j])) * np.cos(2 * np.pi * u[..., j:]))


def _per_frame(draw: Draw, stream: int, n: int, k: int, length: int, width: int) -> np.ndarray:
    """[T, n * k, width] uniforms of `stream`: `width` per sprite per frame."""
    u = draw(stream, length * k * width).reshape(n, length, k, width)
    return u.transpose(1, 0, 2, 3).reshape(length, -1, width)


def _accel(draw: Draw, n: int, k: int, spec: Spec) -> np.ndarray | None:
    if spec.acceleration <= 0:
        return None
    return spec.acceleration * _normal(_per_frame(draw, rng.ACCELERATION, n, k, spec.length, 4))


def _start(draw: Draw, n: int, k: int, spec: Spec) -> np.ndarray:
    """[n * k, 2] normalised start: stream START in [0, 1), or for open walls, OPEN_START
    with the top-left pixel uniform in [-h, H) x [-w, W) (from fully off to fully on)."""
    if spec.boundary != "open":
        return draw(rng.START, 2 * k).reshape(-1, 2)
    extent = np.add(spec.canvas, spec.sprite).astype(np.float64)
    px = draw(rng.OPEN_START, 2 * k).reshape(-1, 2) * extent - np.asarray(spec.sprite, dtype=np.float64)
    return np.asarray(px / np.maximum(spec.free, 1))


def _walls(
    start: np.ndarray, velocity: np.ndarray, spec: Spec, first_step: bool, accel: np.ndarray | None, unit: np.ndarray
) -> Trajectory:
    """The path with wrapping or open walls, in the normalised units of `unit` pixels."""
    path = dyn.open_path(start, velocity, spec.length, first_step, accel)
    pixels = np.floor(path.position * unit).astype(np.int64)
    if spec.boundary == "wrap":
        canvas = np.asarray(spec.canvas, dtype=np.int64)
        pixels %= canvas
        position = np.mod(path.position, canvas / unit)
        return Trajectory(position, path.velocity, path.hits, pixels)
    return Trajectory(path.position, path.velocity, path.hits, pixels)


def _srivastava_velocity(draw: Draw, n: int, k: int, spec: Spec) -> np.ndarray:
    angle = draw(rng.ANGLE, k).reshape(-1) * (2 * np.pi)
    return dyn.direction(angle, _speed(draw, n, k, spec.speed))


def _tutorial_velocity(draw: Draw, n: int, k: int, spec: Spec) -> np.ndarray:
    # x, y, v_x, v_y uniform in [0, 1): the velocity is neither normalised nor signed.
    return np.asarray(draw(rng.TUTORIAL_VELOCITY, 2 * k).reshape(-1, 2) * _speed(draw, n, k, spec.speed)[:, None])


# The presets run by `_clamped` (S15's loop), by their start velocity [n * k, 2].
CLAMPED: dict[str, Callable[[Draw, int, int, Spec], np.ndarray]] = {
    "srivastava": _srivastava_velocity,
    "tutorial": _tutorial_velocity,
}


def _srivastava(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    return _clamped(draw, n, k, spec, _srivastava_velocity(draw, n, k, spec))


def _tutorial(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    return _clamped(draw, n, k, spec, _tutorial_velocity(draw, n, k, spec))


def input_jitter(preset: str, draw: Draw, n: int, k: int, spec: Spec, frames: int, sigma: float) -> Trajectory:
    """The first `frames` frames of a `CLAMPED` preset's bounce (motion.boundary: bounce) with
    OpenSTL's `dynamic` noise, `pixels` set (corruptions.dynamic; `core.corrupt`).

    The same start, velocity and acceleration as `move` draws (the same streams), plus, in
    each of those steps, a Gaussian of sd `sigma` x the sprite's speed per velocity component
    (stream DYNAMIC): OpenSTL's v = (sin theta + N(0, sigma), cos theta + N(0, sigma)) x the
    step length for the input steps; the steps after them are `move`'s, noise-free. With
    sigma 0 the frames are `move`'s own.
    """
    velocity = CLAMPED[preset](draw, n, k, spec)
    speed = _speed(draw, n, k, spec.speed)
    accel = _accel(draw, n, k, spec)
    noise = _normal(_per_frame(draw, rng.DYNAMIC, n, k, frames, 4)) * (sigma * speed)[None, :, None]
    start = _start(draw, n, k, spec)
    path = dyn.srivastava(start, velocity, frames, None if accel is None else accel[:frames], noise)
    return Trajectory(path.position, path.velocity, path.hits, dyn.to_pixels(path.position, spec.free).astype(np.int64))


def _clamped(draw: Draw, n: int, k: int, spec: Spec, velocity: np.ndarray) -> Trajectory:
    """Step first, then clamp and reverse per axis (S15's rules), from stream START; with
    wrap or open walls instead, the same first step and no clamp."""
    start = _start(draw, n, k, spec)
    accel = _accel(draw, n, k, spec)
    if spec.boundary != "bounce":
        return _walls(start, velocity, spec, True, accel, np.maximum(spec.free, 1))
    path = dyn.srivastava(start, velocity, spec.length, accel)
    return Trajectory(path.position, path.velocity, path.hits, dyn.to_pixels(path.position, spec.free).astype(np.int64))


def _tfds(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    start = _start(draw, n, k, spec).astype(np.float32)
    g = _normal(draw(rng.TFDS_DIRECTION, 4 * k).reshape(-1, 4))  # [M, 2] Gaussian
    unit = g / np.linalg.norm(g, axis=-1, keepdims=True)
    velocity = (unit * _speed(draw, n, k, spec.speed)[:, None]).astype(np.float32)
    accel = _accel(draw, n, k, spec)
    if spec.boundary != "bounce":
        return _walls(start, velocity, spec, False, accel, np.maximum(spec.free, 1))
    return dyn.tfds(start, velocity, spec.length, spec.free, accel)


def _svg(stochastic: bool) -> Callable[[Draw, int, int, Spec], Trajectory]:
    def preset(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
        free = np.asarray(spec.free, dtype=np.int64)
        patch_free = min(spec.canvas[0] - spec.sprite[0], spec.canvas[1] - spec.sprite[1])
        top = np.maximum(1, np.round(_speed(draw, n, k, spec.speed) * max(patch_free, 1))).astype(np.int64)
        if spec.boundary == "open":
            start = np.floor(_start(draw, n, k, spec) * np.maximum(free, 1)).astype(np.int64)
        else:
            start = (draw(rng.SVG_START, 2 * k).reshape(-1, 2) * np.maximum(free, 1)).astype(np.int64)
        velocity = (draw(rng.SVG_VELOCITY, 2 * k).reshape(-1, 2) * (2 * top[:, None] + 1)).astype(np.int64)
        velocity -= top[:, None]
        accel = _accel(draw, n, k, spec)
        accel_px = None if accel is None else np.round(accel * np.maximum(free, 1)).astype(np.int64)
        if spec.boundary != "bounce":
            path = _walls(start, velocity, spec, False, accel_px, np.ones_like(free))
            scale = np.maximum(free, 1)
            return Trajectory(path.pixels / scale, path.velocity / scale, path.hits, path.pixels)
        redraw = _per_frame(draw, rng.SVG_REDRAW, n, k, spec.length, 4) if stochastic else None
        return dyn.svg(start, velocity, spec.length, np.maximum(free, 1), top, redraw, accel_px)

    return preset


def _srvp(stochastic: bool) -> Callable[[Draw, int, int, Spec], Trajectory]:
    def preset(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
        free = np.maximum(np.asarray(spec.free, dtype=np.int64), 1)
        patch_free = min(spec.canvas[0] - spec.sprite[0], spec.canvas[1] - spec.sprite[1])
        top = np.maximum(1, np.round(_speed(draw, n, k, spec.speed) * max(patch_free, 1))).astype(np.int64)
        # randint(0, F + 1): the far wall is a start too; velocities randint(-m, m + 1)
        start = (draw(rng.SRVP_START, 2 * k).reshape(-1, 2) * (free + 1)).astype(np.int64)
        velocity = (draw(rng.SRVP_VELOCITY, 2 * k).reshape(-1, 2) * (2 * top[:, None] + 1)).astype(np.int64)
        velocity -= top[:, None]
        redraw = None
        if stochastic:
            redraw = _per_frame(draw, rng.SRVP_REDRAW, n, k, spec.length, 2 * dyn.SRVP_REDRAWS)
        return dyn.srvp(start, velocity, spec.length, free, top, redraw)

    return preset


def _mmnistpp(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    if spec.extent is None:
        raise ValueError("mmnist++ needs each digit's crop (Spec.extent)")
    crop = np.asarray(spec.extent, dtype=np.float64)
    canvas = np.asarray(spec.canvas, dtype=np.float64)
    unit = float(max(min(spec.canvas[0] - spec.sprite[0], spec.canvas[1] - spec.sprite[1]), 1))
    start = draw(rng.START, 2 * k).reshape(-1, 2) * (canvas - crop)
    angle = draw(rng.ANGLE, k).reshape(-1) * (2 * np.pi)
    velocity = dyn.direction(angle, _speed(draw, n, k, spec.speed) * unit)
    accel = _accel(draw, n, k, spec)
    shift, vel, hits = pp.mmnistpp(
        start, velocity, crop, spec.canvas, spec.length, spec.speed[1] * unit, None if accel is None else accel * unit
    )
    look = pp.appearance(
        draw(rng.MMNIST_ROTATION, k).reshape(-1) * 60.0 - 30.0,
        1 / 1.1 + draw(rng.MMNIST_SCALE, k).reshape(-1) * (1.1 - 1 / 1.1),
        np.repeat(0.6 + draw(rng.MMNIST_ILLUMINATION, 1)[:, 0] * 0.4, k),
        spec.length,
    )
    span = canvas - 2 * pp.MARGIN  # trajectories: the crop's centre within the margins, 0..1
    position = (shift + crop / 2 - pp.MARGIN) / span
    return Trajectory(position, vel / span, hits, np.floor(shift).astype(np.int64), shift, look)


def _elastic(draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    """srivastava's direction and speed (px: speed x the patch's smaller free range, as svg
    and mmnist++), boxes of the free range's complement, starts apart (collide.place, then
    collide.grid_start), then collide.elastic; positions normalised to each free range."""
    if spec.present is None or spec.mass is None:
        raise ValueError("elastic needs the slots in use and the masses (Spec.present, Spec.mass)")
    height, width = spec.canvas
    free = np.asarray(spec.free, dtype=np.float64).reshape(n, k, 2)
    extent = np.asarray(spec.canvas, dtype=np.float64) - free
    present = np.asarray(spec.present, dtype=bool).reshape(n, k)
    unit = float(max(min(height - spec.sprite[0], width - spec.sprite[1]), 1))
    angle = draw(rng.ANGLE, k) * (2 * np.pi)
    velocity = dyn.direction(angle, _speed(draw, n, k, spec.speed).reshape(n, k) * unit)
    tries = collide.PLACE_TRIES
    first = draw(rng.START, 2 * k).reshape(n, k, 1, 2)
    again = draw(rng.ELASTIC_PLACE, 2 * k * (tries - 1)).reshape(n, k, tries - 1, 2)
    start, placed = collide.place(np.concatenate([first, again], axis=2) * free[:, :, None], extent, present)
    if not placed.all():
        rows, cols = collide.grid_cells(height, width, spec.sprite)
        u = draw(rng.ELASTIC_GRID, rows * cols + 2 * k)
        jitter = u[:, rows * cols :].reshape(n, k, 2)
        grid = collide.grid_start(u[:, : rows * cols], jitter, extent, spec.canvas, (rows, cols))
        start = np.where(placed[:, None, None], start, grid)
    mass = np.asarray(spec.mass, dtype=np.float64).reshape(n, k)
    path = collide.elastic(start, velocity, extent, spec.canvas, mass, present, spec.length)
    scale = np.maximum(free.reshape(-1, 2), 1.0)
    pixels = np.floor(path.position).astype(np.int64)
    return Trajectory(path.position / scale, path.velocity / scale, path.hits, pixels, contacts=path.contacts)


PRESETS: dict[str, Callable[[Draw, int, int, Spec], Trajectory]] = {
    "srivastava": _srivastava,
    "tutorial": _tutorial,
    "tfds": _tfds,
    "svg-deterministic": _svg(stochastic=False),
    "svg-stochastic": _svg(stochastic=True),
    "srvp-deterministic": _srvp(stochastic=False),
    "srvp-stochastic": _srvp(stochastic=True),
    "mmnist++": _mmnistpp,
    "elastic": _elastic,
}


def move(preset: str, draw: Draw, n: int, k: int, spec: Spec) -> Trajectory:
    """The trajectory of n x k sprites under `preset`, with `pixels` set."""
    return PRESETS[preset](draw, n, k, spec)
