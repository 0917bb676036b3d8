"""Elastic collisions (motion.preset: elastic): invariants, not golden arrays.

Per collision (a frame in which two digits met each other and nothing else), momentum and
kinetic energy are the same before and after, from the velocities the core returns and from
those a build stores; at the contact instant, rebuilt from the stored positions and
velocities, the two boxes touch; no two boxes of a sequence ever overlap by more than
collide.TOUCH (and the integer `positions` never); a pair that would pass through each
other within one frame collides; three in a row at once resolve pairwise (Newton's cradle);
a build stores what the procedural dataset gives, with 1 worker or 2; the other presets keep
every array's bytes; bad values are one line and exit 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import movmnist
from movmnist.builder import build
from movmnist.config.presets import NAMES
from movmnist.core.annotate import ink_boxes
from movmnist.core.generate import generate
from movmnist.core.motion import collide
from movmnist.sources.pools import pool_for
from tests.conftest import refused_in_one_line, small_config
from tests.datasets import built_on_1_and_2_workers, chunk_digest, stored_as_computed


def _run(start, velocity, extent, mass, canvas=(20, 200), length=3, present=None):  # type: ignore[no-untyped-def]
    start, velocity = np.asarray([start], float), np.asarray([velocity], float)
    extent, mass = np.asarray([extent], float), np.asarray([mass], float)
    present = np.ones(mass.shape, bool) if present is None else np.asarray([present])
    path = collide.elastic(start, velocity, extent, canvas, mass, present, length)
    k = mass.shape[1]
    return (
        path.position.reshape(length, k, 2),
        path.velocity.reshape(length, k, 2),
        path.contacts.reshape(length, k),  # type: ignore[union-attr]
    )


def test_a_pair_that_would_pass_through_each_other_within_a_frame_collides() -> None:
    # 4 px boxes 6 px apart closing at 60 px a frame: they meet at t = 0.1 and swap velocities.
    q, v, met = _run([[8, 50], [8, 60]], [[0, 30], [0, -30]], [[4, 4], [4, 4]], [1, 1])
    np.testing.assert_allclose(q[1], [[8, 50 + 3 - 27], [8, 60 - 3 + 27]])
    np.testing.assert_allclose(v[1], [[0, -30], [0, 30]])
    assert met[1].tolist() == [0b10, 0b01] and met[0].tolist() == met[2].tolist() == [0, 0]


def test_unequal_masses_follow_the_1d_elastic_formula_along_the_normal_only() -> None:
    # m1 = 1 at (+2, 1) hits m2 = 3 at rest along the columns: v1 = (m1 - m2) / M x 2 = -1, v2 = 2 m1 / M x 2 = 1;
    # the row components are not along the contact and stay.
    _, v, met = _run([[8, 50], [8, 55]], [[0.5, 2], [0, 0]], [[4, 4], [4, 4]], [1, 3], canvas=(40, 200))
    np.testing.assert_allclose(v[1], [[0.5, -1], [0, 1]])
    assert met[1].tolist() == [0b10, 0b01]


def test_three_in_a_row_at_once_resolve_pairwise_like_newtons_cradle() -> None:
    q, v, met = _run([[8, 50], [8, 54], [8, 58]], [[0, 2], [0, 0], [0, 0]], [[4, 4]] * 3, [1, 1, 1])
    np.testing.assert_allclose(v[1], [[0, 0], [0, 0], [0, 2]])
    np.testing.assert_allclose(q[1], [[8, 50], [8, 54], [8, 60]])
    assert met[1].tolist() == [0b010, 0b101, 0b010]


def test_an_absent_slot_collides_with_no_one() -> None:
    _, v, met = _run([[8, 50], [8, 60]], [[0, 30], [0, -30]], [[4, 4], [4, 4]], [1, 1], present=[True, False])
    np.testing.assert_allclose(v[1], [[0, 30], [0, -30]])
    assert not met.any()


def _pairs(k: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(k) for j in range(i + 1, k)]


def _isolated(met: np.ndarray, hits: np.ndarray, i: int, j: int) -> np.ndarray:
    """[T - 1, n] where, in the step into frame t >= 1, digits i and j met each other and nothing else."""
    m, h = met[1:], hits[1:]
    return (m[..., i] == 1 << j) & (m[..., j] == 1 << i) & ~h[..., i, :].any(-1) & ~h[..., j, :].any(-1)


def _check_collisions(q, v, extent, mass, met, hits, atol):  # type: ignore[no-untyped-def]
    """Conservation per isolated collision, and the boxes touching at its rebuilt instant.

    q, v: [T, n, K, 2] px; extent: [n, K, 2]; mass: [n, K]; met: [T, n, K] ints; hits: [T, n, K, 2].
    """
    seen = 0
    for i, j in _pairs(q.shape[2]):
        t, s = np.nonzero(_isolated(met, hits, i, j))
        t = t + 1
        seen += len(t)
        mi, mj = mass[s, i, None], mass[s, j, None]
        before, after = (mi * v[t - 1, s, i] + mj * v[t - 1, s, j]), (mi * v[t, s, i] + mj * v[t, s, j])
        scale = 1 + np.nanmax(np.abs(v))
        np.testing.assert_allclose(after / (mi + mj), before / (mi + mj), rtol=0, atol=atol * scale)
        energy = [
            (mi[:, 0] * (w[:, i] ** 2).sum(-1) + mj[:, 0] * (w[:, j] ** 2).sum(-1)) for w in (v[t - 1, s], v[t, s])
        ]
        np.testing.assert_allclose(energy[1], energy[0], rtol=10 * atol, atol=10 * atol)
        # q(t) = q(t-1) + v(t-1) tau + v(t) (1 - tau): tau from the axis whose velocity changed most.
        dv = v[t - 1, s, i] - v[t, s, i]
        axis = np.abs(dv).argmax(-1)
        rows = np.arange(len(s))
        tau = (q[t, s, i] - q[t - 1, s, i] - v[t, s, i])[rows, axis] / dv[rows, axis]
        assert ((tau > -atol) & (tau < 1 + atol)).all()
        at_i, at_j = (q[t - 1, s, x] + v[t - 1, s, x] * tau[:, None] for x in (i, j))
        lo = np.maximum(at_i, at_j)
        hi = np.minimum(at_i + extent[s, i], at_j + extent[s, j])
        depth = hi - lo  # per axis: > 0 overlap, 0 touching, < 0 apart
        np.testing.assert_allclose(depth[rows, axis], 0, atol=100 * atol)  # touching along the normal
        assert (depth[rows, 1 - axis] >= -100 * atol).all()  # and side by side along the other axis
    return seen


def _overlap(q: np.ndarray, extent: np.ndarray, present: np.ndarray) -> float:
    """The deepest overlap of two present boxes of a sequence in any frame (<= 0: none)."""
    worst = -np.inf
    for i, j in _pairs(q.shape[2]):
        lo, hi = np.maximum(q[:, :, i], q[:, :, j]), np.minimum(q[:, :, i] + extent[:, i], q[:, :, j] + extent[:, j])
        depth = (hi - lo).min(-1)[:, present[:, i] & present[:, j]]
        worst = max(worst, float(depth.max(initial=-np.inf)))
    return worst


@pytest.mark.parametrize("seed", [0, 1])
def test_random_boxes_and_masses_conserve_momentum_and_energy_and_never_overlap(seed: int) -> None:
    g = np.random.default_rng(seed)
    n, k, length, canvas = 300, 4, 40, (64, 64)
    extent = g.integers(6, 20, (n, k, 2)).astype(float)
    present = np.ones((n, k), bool)
    present[::3, 3] = False
    free = (np.array(canvas) - extent)[:, :, None]
    start, placed = collide.place(g.random((n, k, collide.PLACE_TRIES, 2)) * free, extent, present)
    grid = collide.grid_start(g.random((n, 9)), g.random((n, k, 2)), extent, canvas, (3, 3))
    start = np.where(placed[:, None, None], start, grid)
    assert _overlap(start[None], extent, present) <= 0
    mass = g.uniform(0.5, 3, (n, k))
    path = collide.elastic(start, g.normal(size=(n, k, 2)) * 5, extent, canvas, mass, present, length)
    q, v = path.position.reshape(length, n, k, 2), path.velocity.reshape(length, n, k, 2)
    met = path.contacts.reshape(length, n, k).astype(np.int64)  # type: ignore[union-attr]
    assert _check_collisions(q, v, extent, mass, met, path.hits.reshape(length, n, k, 2), 1e-9) > 1000  # type: ignore[union-attr]
    assert _overlap(q, extent, present) <= collide.TOUCH
    assert (q >= 0).all() and (q <= np.array(canvas) - extent).all()
    for i, j in _pairs(k):
        assert (((met[..., i] >> j) & 1) == ((met[..., j] >> i) & 1)).all()  # both name each other
    assert not met[:, ~present].any()


def test_a_crowded_canvas_starts_from_the_grid_apart() -> None:
    g = np.random.default_rng(5)
    n, k = 200, 4
    extent = np.full((n, k, 2), 28.0)  # four 28 px patches on 64 x 64: rarely placed by redraws
    start, placed = collide.place(g.random((n, k, collide.PLACE_TRIES, 2)) * 36, extent, np.ones((n, k), bool))
    assert not placed.all()
    grid = collide.grid_start(
        g.random((n, 4)), g.random((n, k, 2)), extent, (64, 64), collide.grid_cells(64, 64, (28, 28))
    )
    assert _overlap(grid[None], extent, np.ones((n, k), bool)) < 0
    assert _overlap(start[None, placed], extent[placed], np.ones((int(placed.sum()), k), bool)) <= 0


ELASTIC = ("motion.preset=elastic", "digits.count=[1, 3]", "sequence.length=12", "splits.val.sequences=0")


def _per_pixel(chunk_traj: np.ndarray, free: np.ndarray) -> np.ndarray:
    """[n, T, K, 2] normalised -> [T, n, K, 2] px."""
    return np.asarray(chunk_traj, np.float64).swapaxes(0, 1) * np.maximum(free, 1)


def _met(events: np.ndarray) -> np.ndarray:
    return (np.asarray(events).astype(np.int64) >> 4).swapaxes(0, 1)


def _hits(events: np.ndarray) -> np.ndarray:
    e = np.asarray(events).swapaxes(0, 1).astype(np.int64)
    return np.stack([(e & 3) != 0, (e & 12) != 0], axis=-1)


def test_a_build_stores_collisions_that_conserve_and_the_procedural_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config(*ELASTIC)
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored_as_computed(built, fresh, split)
        assert built[split].events().tolist() == fresh[split].events().tolist()
    test = built["test"].with_annotations()[:]
    assert test["events"].dtype == np.uint8  # 4 wall bits and 3 slots
    present = test["labels"] >= 0
    free = np.array([40 - 14, 40 - 14], float)
    q = _per_pixel(test["trajectories"], free)
    v = _per_pixel(test["velocities"], free)
    extent = np.full((*present.shape, 2), 14.0)
    met, hits = _met(test["events"]), _hits(test["events"])
    assert _check_collisions(q, v, extent, np.ones(present.shape), met, hits, 1e-4) > 0
    assert _overlap(q, extent, present) <= 1e-4
    assert _overlap(test["positions"].swapaxes(0, 1).astype(float), extent, present) <= 0  # whole pixels too
    rows = built["test"].events()
    digit_rows = rows[rows[:, 3] >= 4]
    assert len(digit_rows)
    mirrored = {(s, t, k - 4, 4 + d) for s, t, d, k in digit_rows.tolist()}
    assert mirrored == {tuple(r) for r in digit_rows.tolist()}  # both digits name each other, same frame


def test_ink_boxes_and_ink_masses_conserve_in_the_generated_arrays() -> None:
    cfg = small_config(*ELASTIC, "render.bounce_on=ink", "motion.mass=ink", "digits.count=5", "canvas.height=64")
    pool = pool_for(cfg, "train")
    chunk = generate(cfg, pool, "train", np.arange(40))
    assert chunk.events is not None and chunk.events.dtype == np.uint16  # 4 + 5 bits
    choice = np.searchsorted(pool.source_index, chunk.source_index)
    boxes, count = ink_boxes(pool.images[choice], colour=False)
    extent = np.stack([boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]], axis=-1).astype(float)
    free = np.array([64, 40]) - extent  # [n, K, 2]
    q = _per_pixel(chunk.trajectories, free)  # type: ignore[arg-type]
    v = _per_pixel(chunk.velocities, free)  # type: ignore[arg-type]
    met, hits = _met(chunk.events), _hits(chunk.events)
    mass = np.maximum(count, 1).astype(float)
    assert len(np.unique(mass)) > 5
    assert _check_collisions(q, v, extent, mass, met, hits, 1e-4) > 0
    assert _overlap(q, extent, np.ones(mass.shape, bool)) <= 1e-4


# Every array of a chunk of each other preset, from main at d69974d (before the elastic preset).
OTHERS = {
    "srivastava": "ebf1a1e6ef863a1a",
    "tutorial": "950738c3a4a717b2",
    "tfds": "5c8008540c689c5b",
    "svg-deterministic": "675d86b2514aecc6",
    "svg-stochastic": "47ac28c0b8b7b68a",
    "srvp-deterministic": "90485f8190f7edfa",
    "srvp-stochastic": "20c942564b2087c7",
    "mmnist++": "4d809ffafb7fcd69",
}


@pytest.mark.parametrize("preset", [name for name in NAMES if name != "elastic"])
def test_the_other_presets_keep_every_arrays_bytes(preset: str) -> None:
    extra = () if preset == "mmnist++" else ("annotations.flow=true",)
    cfg = small_config(
        f"motion.preset={preset}", "digits.count=[1, 5]", "annotations.tracks=6", "render.combine=over", *extra
    )
    chunk = generate(cfg, pool_for(cfg, "train"), "train", np.arange(3, 15))
    assert chunk_digest(chunk) == OTHERS[preset]


@pytest.mark.parametrize(
    ("command", "sets", "message"),
    [
        (
            "config",
            ["motion.mass=ink"],
            "motion.mass is for a preset whose digits collide (elastic); set motion.preset: elastic"
            " or drop motion.mass",
        ),
        (
            "config",
            ["motion.preset=elastic", "motion.mass=heavy"],
            "motion.mass must be 'equal' or 'ink' (got 'heavy')",
        ),
        (
            "config",
            ["motion.preset=elastic", "motion.boundary=wrap"],
            "motion.preset elastic is its own walls and steps; leave motion.boundary: bounce"
            " and motion.acceleration: 0",
        ),
        (
            "config",
            ["motion.preset=elastic", "digits.count=61", "canvas.height=4096", "canvas.width=4096"],
            "motion.preset elastic records which digits collide in a 64-bit `events` value, so digits.count must be"
            " <= 60 (got 61)",
        ),
        (
            "plan",
            ["motion.preset=elastic", "digits.count=5"],
            "motion.preset elastic starts its digits apart, in a grid of cells larger than a digit at worst, and"
            " 28x28 digits on a 64x64 canvas leave 4 such cells for 5 digits; lower digits.count, set a smaller"
            " digits.size or enlarge the canvas",
        ),
    ],
)
def test_bad_values_are_one_line_and_exit_2(command: str, sets: list[str], message: str, tmp_path: Path) -> None:
    assert refused_in_one_line(["config", "show"] if command == "config" else ["plan"], sets).endswith(message)


def test_a_build_of_more_than_4_colliding_digits_stores_the_wider_events(tmp_path: Path) -> None:
    cfg = small_config(*ELASTIC, "canvas.height=64", "canvas.width=64", "digits.count=6", "splits.val.sequences=0")
    build(cfg, tmp_path, workers=1)
    stored = stored_as_computed(movmnist.open(tmp_path), movmnist.procedural(cfg), "test")
    assert stored["events"].dtype == np.uint16 and (stored["events"] > 255).any()  # slots 4 and 5 collide
