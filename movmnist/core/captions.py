"""Captions: one English sentence per sequence, from a fixed grammar (the README's "Captions").

A caption is a pure function of a sequence's labels, its velocities in pixels and its
`events` (no randomness), so the same sequence has the same caption in every build,
worker count and procedural read. The grammar, with the words below:

    caption  = clause                                  one digit
             | clause { ", " clause } " while " clause  two or more, in slot order
    clause   = subject " " motion [ " and bounces off " wall { " and " wall } ]
                                  [ " and collides with " other { " and " other } ]
    subject  = "the " [ ordinal " " ] label             ordinal only where a label repeats
    motion   = "moves " [ speed " " ] direction | "stays still"
    wall     = "the " ("top" | "bottom" | "left" | "right") " wall" [ times ]
    other    = subject [ times ]                        a digit of a later slot
    times    = " twice" | " " count " times"           left out for once

- direction: one of DIRECTIONS, the 45-degree sector of the mean velocity in pixels, in
  screen terms (up = decreasing row, right = increasing column); "stays still" when that
  mean is shorter than STILL pixels a frame.
- speed: "slowly" below SLOW pixels a frame, "quickly" above FAST, none between; the mean
  over frames of each frame's speed (so a digit bouncing to and fro is not slow).
- walls and collisions: the frames with each bit of `events` set (annotate.WALLS), walls in
  that order; a collision is said once, in the clause of the earlier slot.

Event captions (annotations.event_captions, `per_event`): one sentence for each frame t and
digit that bounced or collided right before frame t, with the frames it lies between:

    event    = subject " bounces off " wall { " and " wall } [ " and collides with " others ]
             | subject " collides with " others
    others   = subject { " and " subject }               digits of later slots

(walls and others without `times`: each is once). They are listed in frame order, then slot
order, each with (first, last) = (t - 1, t), or (0, 0) right before frame 0.

The text is ASCII (UTF-8). Shards store it as fixed-width bytes `S{L}`, null-padded, where
L = `width(K, T, collisions)` bounds every caption of such sequences (`event_width(K,
collisions)` every event caption).
"""

from __future__ import annotations

import numpy as np

from movmnist.core.annotate import WALLS

DIRECTIONS = (
    "right",
    "up-right",
    "up",
    "up-left",
    "left",
    "down-left",
    "down",
    "down-right",
)  # from 0 deg, counter-clockwise
SLOW = 2.0  # px a frame: "slowly" below
FAST = 5.0  # px a frame: "quickly" above
STILL = 1e-3  # px a frame: a mean velocity shorter than this "stays still"
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
_LABEL = 6  # characters of the widest int16 label, -32768


def ordinal(i: int) -> str:
    """'first' for 0, ... 'tenth', then '11th', '12th', '21st' ..."""
    if i < len(_ORDINALS):
        return _ORDINALS[i]
    n = i + 1
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def times(count: int) -> str:
    """The count after a wall or a digit: '' for once, ' twice', ' 3 times'."""
    return "" if count == 1 else " twice" if count == 2 else f" {count} times"


def direction(mean: np.ndarray) -> np.ndarray:
    """The index into DIRECTIONS of each mean (row, col) velocity [..., 2] in pixels (row down),
    -1 where it is shorter than STILL."""
    dy, dx = mean[..., 0], mean[..., 1]
    sector = np.floor(np.degrees(np.arctan2(-dy, dx)) / 45.0 + 0.5).astype(np.int64) % 8
    return np.where(np.hypot(dy, dx) < STILL, -1, sector)


def speed_word(speed: np.ndarray) -> np.ndarray:
    """'slowly', 'quickly' or '' for each mean speed [...] in pixels a frame."""
    return np.where(speed < SLOW, "slowly", np.where(speed > FAST, "quickly", ""))


def _clauses(labels: np.ndarray, way: np.ndarray, fast: np.ndarray, counts: np.ndarray) -> str:
    """One sequence's caption from its labels [K], direction indices [K], speed words [K] and
    the frames with each `events` bit set [K, bits]."""
    names = _names(labels)
    clauses = []
    for s in names:
        if way[s] < 0:
            text = f"{names[s]} stays still"
        else:
            text = f"{names[s]} moves {fast[s] + ' ' if fast[s] else ''}{DIRECTIONS[way[s]]}"
        clauses.append(text + "".join(f" and {action}" for action in _actions(names, s, counts[s])))
    if len(clauses) <= 1:
        return "".join(clauses)
    return ", ".join(clauses[:-1]) + " while " + clauses[-1]


def _names(labels: np.ndarray) -> dict[int, str]:
    """slot -> subject ('the 7', 'the second 7') of each present slot, in slot order."""
    slots = [int(s) for s in np.flatnonzero(labels >= 0)]
    names = {}
    for s in slots:
        same = [t for t in slots if labels[t] == labels[s]]
        names[s] = f"the {ordinal(same.index(s))} {labels[s]}" if len(same) > 1 else f"the {labels[s]}"
    return names


def _actions(names: dict[int, str], s: int, n: np.ndarray) -> list[str]:
    """What slot `s` did, from the count n [bits] of each `events` bit: 'bounces off ...' and
    'collides with ...' (later slots only), each left out when there is nothing to say."""
    walls = [f"the {w} wall{times(int(n[b]))}" for b, w in enumerate(WALLS) if n[b]]
    others = [f"{names[j]}{times(int(n[len(WALLS) + j]))}" for j in names if j > s and n[len(WALLS) + j]]
    return [
        f"{lead} {' and '.join(said)}" for lead, said in (("bounces off", walls), ("collides with", others)) if said
    ]


def caption(labels: np.ndarray, velocity: np.ndarray, events: np.ndarray) -> str:
    """The caption of one sequence: labels [K] int, -1 for an empty slot (never mentioned);
    velocity [T, K, 2] (row, col) pixels a frame; events [T, K] unsigned (annotate.events:
    bit w wall w, bit 4 + j a collision with slot j)."""
    size = width(len(labels), len(velocity), collisions=True)
    return bytes(compute(labels[None], velocity[None], events[None], size)[0]).decode("ascii")


def width(digits: int, length: int, collisions: bool) -> int:
    """L, the bytes that hold any caption of `digits` slots over `length` frames."""
    subject = len("the ") + max(len(ordinal(i)) for i in range(digits)) + 1 + _LABEL
    count = len(f" {length} times")
    motion = len(" moves quickly ") + max(map(len, DIRECTIONS))
    walls = len(" and bounces off ") + sum(len(f"the {w} wall") + count for w in WALLS) + 3 * len(" and ")
    total = len(", ") * max(digits - 2, 0) + len(" while ")
    for s in range(digits):
        total += subject + motion + walls
        later = digits - 1 - s
        if collisions and later:
            total += len(" and collides with ") + later * (subject + count) + (later - 1) * len(" and ")
    return total


def compute(labels: np.ndarray, velocity: np.ndarray, events: np.ndarray, size: int) -> np.ndarray:
    """captions [n] `S{size}` of a chunk: labels [n, K], velocity [n, T, K, 2] pixels a frame,
    events [n, T, K] (`caption`'s arguments, stacked). Numbers for the whole chunk at once;
    only the words are joined per sequence."""
    v = velocity.astype(np.float64)
    way = direction(v.mean(axis=1))  # [n, K]
    fast = speed_word(np.hypot(v[..., 0], v[..., 1]).mean(axis=1))  # [n, K]
    bits = events.astype(np.uint64)
    kinds = np.arange(events.dtype.itemsize * 8, dtype=np.uint64)
    counts = ((bits[..., None] >> kinds) & np.uint64(1)).sum(axis=1)  # [n, K, bits]
    text = [_clauses(labels[i], way[i], fast[i], counts[i]).encode("ascii") for i in range(len(labels))]
    assert all(len(t) <= size for t in text), "captions.width bounds every caption"
    return np.array(text, dtype=f"S{size}").reshape(len(labels))


def event_width(digits: int, collisions: bool) -> int:
    """M, the bytes that hold any event caption of `digits` slots."""
    subject = len("the ") + max(len(ordinal(i)) for i in range(digits)) + 1 + _LABEL
    total = subject + len(" bounces off ") + sum(len(f"the {w} wall") for w in WALLS) + 3 * len(" and ")
    if collisions and digits > 1:
        total += len(" and collides with ") + (digits - 1) * subject + (digits - 2) * len(" and ")
    return total


def per_event(labels: np.ndarray, events: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The event captions of a chunk, from labels [n, K] and events [n, T, K] (`compute`'s):
    captions [n, T * K] `S{size}` and their frames [n, T * K, 2] int32 (first, last).

    One caption for each (frame t, slot k) with something to say, in frame then slot order:
    `event`, the digit's bounces right before frame t and its collisions with later slots (an
    earlier slot says a collision); frames (t - 1, t), the two frames the event lies between,
    (0, 0) for one right before frame 0. Rows after the last are b"" and (-1, -1)."""
    n, length, k = events.shape
    texts = np.zeros((n, length * k), dtype=f"S{size}")
    frames = np.full((n, length * k, 2), -1, dtype=np.int32)
    bits = events.astype(np.uint64)[..., None] >> np.arange(events.dtype.itemsize * 8, dtype=np.uint64)
    on = bits & np.uint64(1)  # [n, T, K, bits]
    for i in range(n):
        names, row = _names(labels[i]), 0
        for t, s in zip(*np.nonzero(events[i]), strict=True):  # frame, then slot
            actions = _actions(names, int(s), on[i, t, s]) if s in names else []
            if actions:
                text = f"{names[s]} {' and '.join(actions)}".encode("ascii")
                assert len(text) <= size, "captions.event_width bounds every event caption"
                texts[i, row], frames[i, row] = text, (max(t - 1, 0), t)
                row += 1
    return texts, frames
