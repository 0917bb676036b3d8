"""The srvp presets against a transcription of SRVP's trajectory code, fed the same numbers.

Transcribed from edouardelasalles/srvp data/mmnist.py at 05661faf767cdb33d40fc328679bbe50c3a1f938
(`MovingMNIST._compute_trajectory`, `_process_collision`, `_get_intersection_x/_y`), with
`np.random.randint(lo, hi)` replaced by `lo + floor(u * (hi - lo))` on our uniforms.
"""

from __future__ import annotations

import numpy as np
import pytest

from movmnist.core.generate import generate
from movmnist.core.motion import dynamics as dyn
from movmnist.errors import ConfigError
from movmnist.sources import load_pool
from tests.conftest import small_config

EPS = 1e-8


def _intersection_x(a: float, b: float, x_lim: float, by: tuple[float, float]) -> tuple[bool, tuple[float, float]]:
    y_inter = a * x_lim + b
    return (by[0] - EPS <= y_inter <= by[1] + EPS), (x_lim, y_inter)


def _intersection_y(a: float, b: float, y_lim: float, bx: tuple[float, float]) -> tuple[bool, tuple[float, float]]:
    x_inter = (y_lim - b) / a
    return (bx[0] - EPS <= x_inter <= bx[1] + EPS), (x_inter, y_lim)


def _srvp_trajectory(start, vel, length, x_max, y_max, max_speed, redraws):  # type: ignore[no-untyped-def]
    """SRVP's _compute_trajectory; redraws(t) gives the next (dx, dy) of a bounce in frame t, or None."""
    sx, sy = start
    dx, dy = vel
    out = []
    for t in range(length):
        left, upper, right, bottom = sx < -EPS, sy < -EPS, sx > x_max + EPS, sy > y_max + EPS
        while left or right or upper or bottom:
            if dx == 0:
                cx, cy = (sx, 0) if upper else (sx, y_max)
            elif dy == 0:
                cx, cy = (0, sy) if left else (x_max, sy)
            else:
                a = dy / dx
                b = sy - a * sx
                if left:
                    left, n = _intersection_x(a, b, 0, (0, y_max))
                    if left:
                        cx, cy = n
                if right:
                    right, n = _intersection_x(a, b, x_max, (0, y_max))
                    if right:
                        cx, cy = n
                if upper:
                    upper, n = _intersection_y(a, b, 0, (0, x_max))
                    if upper:
                        cx, cy = n
                if bottom:
                    bottom, n = _intersection_y(a, b, y_max, (0, x_max))
                    if bottom:
                        cx, cy = n
            p = ((sx - cx) / dx) if dx != 0 else ((sy - cy) / dy)
            new = redraws(t)
            if new is not None:
                dx, dy = new
            if left:
                dx = abs(dx)
            if right:
                dx = -abs(dx)
            if upper:
                dy = abs(dy)
            if bottom:
                dy = -abs(dy)
            sx, sy = cx + dx * p, cy + dy * p
            left, upper, right, bottom = sx < -EPS, sy < -EPS, sx > x_max + EPS, sy > y_max + EPS
        out.append([int(round(sx)), int(round(sy)), dx, dy])  # noqa: RUF046 (SRVP's own line)
        sy += dy
        sx += dx
    return out


@pytest.mark.parametrize("stochastic", [False, True])
def test_srvp_matches_its_transcription(stochastic: bool) -> None:
    g = np.random.default_rng(7)
    m, length, free, top = 300, 40, 36, 4
    start = g.integers(0, free + 1, (m, 2))
    vel = g.integers(-top, top + 1, (m, 2))
    redraw = g.random((length, m, 2 * dyn.SRVP_REDRAWS)) if stochastic else None
    path = dyn.srvp(start, vel, length, np.full((m, 2), free), np.full(m, top), redraw)
    assert path.pixels is not None and path.hits is not None
    bounced = 0
    for i in range(m):
        used = [0] * length

        def redraws(t: int, i: int = i, used: list[int] = used) -> tuple[int, int] | None:
            if redraw is None:
                return None
            u = dyn.srvp_uniforms(redraw[t, i], used[t])
            used[t] += 1
            return int(np.floor(u[0] * (2 * top + 1))) - top, int(np.floor(u[1] * (2 * top + 1))) - top

        want = np.array(_srvp_trajectory(tuple(start[i]), tuple(vel[i]), length, free, free, top, redraws))
        np.testing.assert_array_equal(path.pixels[:, i], want[:, :2], err_msg=f"sprite {i}")
        np.testing.assert_array_equal(np.rint(path.velocity[:, i] * free), want[:, 2:], err_msg=f"sprite {i}")
        bounced += sum(used)
    assert path.pixels.min() >= 0 and path.pixels.max() <= free
    assert (path.hits != 0).sum() > m  # the walls were exercised
    assert not stochastic or bounced > m


def test_srvp_preset_builds_and_refuses_what_it_does_not_do() -> None:
    cfg = small_config("motion.preset=srvp-stochastic", "digits.size=null", "canvas.height=64", "canvas.width=64")
    assert cfg.render.combine == "sum" and cfg.motion.speed == (0.111, 0.111)
    pool = load_pool(cfg.source, cfg.splits.train.pool, cfg.digits.size)
    chunk = generate(cfg, pool, "train", np.arange(30))
    assert chunk.positions.min() >= 0 and chunk.positions.max() <= 64 - 28
    steps = np.abs(np.diff(chunk.positions.astype(int), axis=1))
    assert steps.max() <= 2 * 4 and (steps == 4).any()  # up to 4 px a frame (8 across a bounce)
    with pytest.raises(ConfigError, match=r"srvp-stochastic is its own walls and steps"):
        small_config("motion.preset=srvp-stochastic", "motion.boundary=wrap")
