"""Elastic digit-digit collisions (motion.preset: elastic), in pixels, vectorised over sequences.

The reference is Moving Symbols (rszeto/moving-symbols, `moving_symbols/moving_symbols.py`
at 4f221cd): each symbol is a pymunk body of mass 1 and infinite moment (`pm.Body(1, pm.inf)`:
a hit never turns it), with elasticity 1.0 against the other symbols and the four walls; a
frame is `fidelity` = 10 sub-steps of the physics "to stop symbols from phasing through
objects"; and each new symbol's start is redrawn until it overlaps none placed before it
(`while ... shape_query(symbol.shape)`). Here, as there: elastic, translation only, starts
apart by per-digit redraws. Unlike there:

- the shapes are axis-aligned boxes, a digit's patch or its ink box (render.bounce_on),
  not convex hulls;
- instead of fixed sub-steps, each frame is simulated event by event at the exact time of
  each contact (a box meeting a wall or another box, from the linear motion since the last
  event), so a pair that would pass through each other within one frame always collides,
  however fast; events of a frame are recorded on that frame (`contacts`, `hits`);
- at a contact the velocity components along its normal (the axis whose gap closed last)
  are those of a 1D elastic collision of the two masses (equal masses swap them), the other
  components unchanged: momentum and kinetic energy are conserved per collision; a
  corner-to-corner contact (both gaps closing at once) is resolved along the row axis;
- several contacts at the same instant (3+ digits at once, or a digit touching a wall and
  a digit) are resolved one at a time, walls first, then pairs (a, b) in ascending order,
  each re-tested after the last: simultaneous multi-body contact has no unique elastic
  outcome, and this pairwise rule gives one that conserves energy and momentum at each step;
- walls reflect a box exactly at the time it meets them (the rest of the step is travelled
  back), as the `tfds` preset's closed form does;
- Moving Symbols redraws a start without bound; we redraw each digit PLACE_TRIES - 1 times,
  and a sequence where some digit found no room starts from a grid instead (`grid_start`).

Boxes touch within TOUCH pixels (float rounding): closer than that counts as touching, so
boxes of a sequence never overlap by more than TOUCH.
"""

from __future__ import annotations

import numpy as np

from movmnist.core.motion.dynamics import Trajectory

TOUCH = 1e-9  # px: a gap within this of 0 is a contact (float rounding of the event times)
PLACE_TRIES = 32  # start draws per digit: the preset's own, then PLACE_TRIES - 1 redraws
MAX_EVENTS = 10_000  # contacts in one frame past which the digits are jammed (never seen)


def grid_cells(height: int, width: int, sprite: tuple[int, int]) -> tuple[int, int]:
    """(rows, cols) of the fallback start grid: the most cells each strictly larger than a
    `sprite` (h, w) patch (so a box has room to move in its cell and never fills an axis)."""
    h, w = sprite
    return (height - 1) // max(h, 1), (width - 1) // max(w, 1)


def place(candidates: np.ndarray, extent: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts apart: digit m takes its first candidate whose box overlaps none of digits 0..m-1.

    candidates: [n, K, R, 2] top-left (row, col) px, R per digit in the order tried;
    extent: [n, K, 2] box (rows, cols) px; present: [n, K] bool (absent slots take their
    first candidate and stand in no one's way).
    Returns start [n, K, 2] and placed [n] bool: whether every digit of the sequence found room.
    """
    n, k = present.shape
    rows = np.arange(n)
    start = candidates[:, :, 0].copy()
    placed = np.ones(n, dtype=bool)
    for m in range(1, k):
        c = candidates[:, m, :, None]  # [n, R, 1, 2]
        before, size = start[:, None, :m], extent[:, None, :m]  # [n, 1, m, 2]
        clash = ((c < before + size) & (before < c + extent[:, None, m : m + 1])).all(axis=-1)
        room = ~(clash & present[:, None, :m]).any(axis=-1)  # [n, R]
        pick = room.argmax(axis=1)
        start[:, m] = candidates[rows, m, pick]
        placed &= room[rows, pick] | ~present[:, m]
    return start, placed


def grid_start(
    keys: np.ndarray, jitter: np.ndarray, extent: np.ndarray, canvas: tuple[int, int], cells: tuple[int, int]
) -> np.ndarray:
    """Starts in distinct cells of a (rows, cols) grid, at a uniform place within each cell.

    keys: [n, rows * cols] uniforms (the cells' random order); jitter: [n, K, 2] uniforms;
    extent: [n, K, 2] box px, each at most a cell. Returns [n, K, 2] top-left px.
    """
    rows, cols = cells
    k = extent.shape[1]
    if k > rows * cols:
        raise ValueError(f"elastic: {k} digits need as many start cells, and the grid has {rows * cols}")
    cell = np.argsort(keys, axis=1, kind="stable")[:, :k]
    size = np.asarray(canvas, dtype=np.float64) / (rows, cols)
    corner = np.stack([cell // cols, cell % cols], axis=-1) * size
    return np.asarray(corner + jitter * np.maximum(size - extent, 0.0))


def _wall_times(q: np.ndarray, v: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Time until each box meets the wall it moves toward: [..., 2], inf when still."""
    return np.where(v < 0, np.maximum(q, 0.0) / -v, np.where(v > 0, np.maximum(high - q, 0.0) / v, np.inf))


def _pair_times(
    q: np.ndarray, v: np.ndarray, e: np.ndarray, ii: np.ndarray, jj: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Time until boxes ii and jj of each sequence touch, and the contact's normal axis.

    q, v, e: [n, K, 2] top-left, velocity, extent; ii, jj: [P] the pairs. Returns [n, P]
    times (inf when they never meet in straight lines) and [n, P] axes. Per axis, the pair
    overlaps while -e_j < d < e_i (d = q_j - q_i); the contact is when the last axis to close
    closes, while every other still overlaps.
    """
    d = q[:, jj] - q[:, ii]
    u = v[:, jj] - v[:, ii]  # [n, P, 2]
    ei, ej = e[:, ii], e[:, jj]
    above, below = d - ei, -d - ej  # the gap with j past i's far side, or before its near side
    on_high, on_low = above >= -TOUCH, below >= -TOUCH
    gap_high, gap_low = np.maximum(above, 0.0), np.maximum(below, 0.0)
    span = ei + ej
    closing_high, closing_low = on_high & (u < 0), on_low & (u > 0)
    t_in = np.where(
        closing_high, gap_high / -u, np.where(closing_low, gap_low / u, np.where(on_high | on_low, np.inf, -np.inf))
    )
    inside = np.where(u > 0, -above / u, np.where(u < 0, below / u, np.inf))  # leaving an overlap
    t_out = np.where(closing_high, (gap_high + span) / -u, np.where(closing_low, (gap_low + span) / u, inside))
    when, axis = t_in.max(axis=-1), t_in.argmax(axis=-1)
    meet = (when >= 0) & (when < t_out.min(axis=-1))
    return np.where(meet, when, np.inf), axis


# x / 0 where a velocity component is 0: those times are never chosen (np.where picks inf).
@np.errstate(divide="ignore", invalid="ignore")
def elastic(
    start: np.ndarray,
    velocity: np.ndarray,
    extent: np.ndarray,
    canvas: tuple[int, int],
    mass: np.ndarray,
    present: np.ndarray,
    length: int,
) -> Trajectory:
    """Boxes that bounce off the walls and, elastically, off one another (module docstring).

    start: [n, K, 2] top-left (row, col) px, boxes apart; velocity: [n, K, 2] px per frame;
    extent: [n, K, 2] box (rows, cols) px; canvas: (H, W); mass: [n, K] > 0; present:
    [n, K] bool (absent slots move and meet walls but no box). Frame 0 is the start.
    Returns a Trajectory in pixels, arrays [T, n * K, ...] (sprite i * K + m is slot m of
    sequence i): position the top-left, velocity after each frame, hits as `srivastava`'s,
    and contacts [T, n * K] uint64, bit j set where the box met slot j of its sequence in
    the step into that frame.
    """
    n, k = present.shape
    q = np.array(start, dtype=np.float64)
    v = np.array(velocity, dtype=np.float64)
    e = np.asarray(extent, dtype=np.float64)
    high = np.maximum(np.asarray(canvas, dtype=np.float64) - e, 0.0)
    m = np.asarray(mass, dtype=np.float64)
    ii, jj = np.triu_indices(k, 1)
    live = present[:, ii] & present[:, jj]
    share = 2 * m[:, jj] / (m[:, ii] + m[:, jj])  # of the relative velocity along the normal, what i gains
    bit = np.left_shift(np.uint64(1), np.arange(k, dtype=np.uint64))
    positions = np.empty((length, n, k, 2))
    velocities = np.empty_like(positions)
    hits = np.zeros((length, n, k, 2), dtype=np.int8)
    contacts = np.zeros((length, n, k), dtype=np.uint64)
    positions[0], velocities[0] = q, v
    for t in range(1, length):
        left = np.ones(n)
        act = np.arange(n)
        for _ in range(MAX_EVENTS):
            qa, va = q[act], v[act]
            pairs, axis = _pair_times(qa, va, e[act], ii, jj)
            times = np.concatenate(
                [_wall_times(qa, va, high[act]).reshape(len(act), -1), np.where(live[act], pairs, np.inf)], axis=1
            )
            first = times.argmin(axis=1)
            when = times[np.arange(len(act)), first]
            due = when <= left[act]
            step = np.where(due, when, left[act])
            q[act] = qa + va * step[:, None, None]
            left[act] -= step
            act, first, axis = act[due], first[due], axis[due]
            if not act.size:
                break
            wall = first < 2 * k
            r, slot, a = act[wall], first[wall] // 2, first[wall] % 2
            low = v[r, slot, a] < 0
            q[r, slot, a] = np.where(low, 0.0, high[r, slot, a])  # exactly on the wall
            v[r, slot, a] = -v[r, slot, a]
            hits[t, r, slot, a] = np.where(low, -1, 1)
            r, p = act[~wall], first[~wall] - 2 * k
            i, j, a = ii[p], jj[p], axis[~wall, p]
            dv = v[r, j, a] - v[r, i, a]
            s = share[r, p]
            v[r, i, a] += s * dv
            v[r, j, a] -= (2 - s) * dv
            contacts[t, r, i] |= bit[j]
            contacts[t, r, j] |= bit[i]
        else:
            raise RuntimeError(f"elastic: digits kept colliding within frame {t} (more than {MAX_EVENTS} contacts)")
        positions[t], velocities[t] = q, v
    flat = (length, n * k)
    return Trajectory(
        positions.reshape(*flat, 2),
        velocities.reshape(*flat, 2),
        hits.reshape(*flat, 2),
        contacts=contacts.reshape(flat),
    )
