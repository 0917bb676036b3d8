"""Randomness keyed on the sequence index, vectorised over a chunk.

Every random number a sequence uses is a pure function of (seed, split, sequence index,
stream, draw). So sequence i is the same bytes whatever the chunk, shard or worker it is
generated in, which is the determinism contract of the whole tool.

numpy's guide says to key a generator on the index (`default_rng([index, seed])`); that
costs ~11 us per sequence here, a fifth of our whole per-sequence budget. We keep the
idea (a key per index, independent streams) but compute it as a counter-based hash,
SplitMix64's finaliser, over whole arrays of indices at once. The root key itself comes
from numpy's `SeedSequence`, so nearby seeds give unrelated keys.

Training epochs (`split.epoch(e)` of a procedural dataset): epoch 0 is the built dataset,
keyed on (seed, split) as above. Epoch e >= 1 takes its root key from the entropy
(seed, split's bytes, EPOCH_MARK, e): a split's bytes are < 256, so the mark makes that
entropy differ from every epoch-0 entropy and from every other epoch's, and each epoch is
a fresh, unrelated draw of every sequence; within it, sequence i is keyed on i as always.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)

# Streams: one per purpose, so adding a purpose never changes the numbers of another.
COUNT = 1
DIGIT = 2
START = 3
ANGLE = 4
SPEED = 5
VELOCITY = 6
TUTORIAL_VELOCITY = 7  # the tutorial preset's (v_row, v_col), each uniform in [0, 1)
ACCELERATION = 8  # motion.acceleration: per frame, per sprite, two Gaussians (Box-Muller: 4 uniforms)
TFDS_DIRECTION = 9  # tfds: a Gaussian 2-vector per sprite (4 uniforms), normalised
SVG_START = 10  # svg-*: integer top-left per sprite (2 uniforms)
SVG_VELOCITY = 11  # svg-*: integer velocity per sprite (2 uniforms)
SVG_REDRAW = 12  # svg-stochastic: per frame, per sprite, 4 uniforms for the redraws at wall hits
OPEN_START = 13  # motion.boundary: open: start top-left anywhere from fully off to fully on the canvas
Z_ORDER = 14  # render.combine: over: the drawing order of the digits
MMNIST_ROTATION = 15  # mmnist++: rotation per frame, per sprite
MMNIST_SCALE = 16  # mmnist++: scale variation per sprite
MMNIST_ILLUMINATION = 17  # mmnist++: illumination factor per sequence
SRVP_START = 18  # srvp-*: integer top-left per sprite (2 uniforms)
SRVP_VELOCITY = 19  # srvp-*: integer velocity per sprite (2 uniforms)
SRVP_REDRAW = 20  # srvp-stochastic: per frame, per sprite, 2 uniforms for each of up to 4 bounces
TRACKS = 21  # annotations.tracks: a key per sprite pixel of each digit slot, the query points' order
BLACKOUT = 22  # corruptions.perceptual: per input frame, the blacked-out square's top-left (row, col): 2 uniforms
MISSING = 23  # corruptions.missing: per input frame, 1 uniform (the frame is zeroed where it is < p)
DYNAMIC = 24  # corruptions.dynamic: per input frame, per sprite, two Gaussians (Box-Muller: 4 uniforms)
BACKGROUND = 25  # render.background: image: which image of the background pool (1 uniform)
BACKGROUND_DRIFT = 26  # render.background.drift: the direction and start shift (3 uniforms)
ELASTIC_PLACE = 28  # elastic: per digit slot, redrawn start top-lefts (2 uniforms each), to start apart
ELASTIC_GRID = 29  # elastic: a key per grid cell and 2 uniforms per slot, the start of a sequence no redraw placed
COLOUR = 30  # render.colour: per digit slot, a coin (label colour or not) then a pick among the other colours

# Separates an epoch number from the split's name in the root key's entropy (module docstring).
EPOCH_MARK = 256

# Draws (sequences x n) at or below which `bits` mixes in Python integers: one numpy ufunc
# costs ~1 us however small its array, and a call makes ~20 of them (~28 us); Python's
# exact integer arithmetic modulo 2**64 takes ~5 us for a handful of draws, the same bits.
_SMALL = 16
_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective avalanche on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return np.asarray(z ^ (z >> np.uint64(31)))


def _mix_int(z: int) -> int:
    """`_mix` on one Python integer in [0, 2**64)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class Keyed:
    """Random numbers for sequences of one split, keyed on (seed, split, index).

    >>> r = Keyed(seed=0, split="test")
    >>> u = r.uniform(np.arange(4), stream=START, n=2)   # [4, 2] float64 in [0, 1)

    epoch: 0 (the built dataset) or a training epoch >= 1 (see the module docstring).
    """

    def __init__(self, seed: int, split: str, epoch: int = 0) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0 (got {epoch})")
        entropy = [seed, *split.encode()] + ([EPOCH_MARK, epoch] if epoch else [])
        self.key = np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0]

    def bits(self, index: np.ndarray, stream: int, n: int) -> np.ndarray:
        """[len(index), n] uint64: draw j of `stream` for each sequence index."""
        idx = np.asarray(index, dtype=np.uint64)
        if idx.size * n <= _SMALL:
            return self._few_bits(idx, stream, n)
        with np.errstate(over="ignore"):
            per_seq = _mix(self.key + (idx + np.uint64(1)) * _GOLDEN)
            per_stream = _mix(per_seq + np.uint64(stream) * _GOLDEN)
            draws = (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
            return _mix(per_stream[:, None] + draws[None, :])

    def _few_bits(self, idx: np.ndarray, stream: int, n: int) -> np.ndarray:
        """`bits` in Python integers (the same SplitMix64 steps, wrapping at 2**64), for few draws."""
        key, golden = int(self.key), int(_GOLDEN)
        rows = []
        for i in idx.tolist():
            per_stream = _mix_int((_mix_int((key + (i + 1) * golden) & _MASK) + stream * golden) & _MASK)
            rows.append([_mix_int((per_stream + (j + 1) * golden) & _MASK) for j in range(n)])
        return np.array(rows, dtype=np.uint64).reshape(len(idx), n)

    def uniform(self, index: np.ndarray, stream: int, n: int) -> np.ndarray:
        """[len(index), n] float64, uniform in [0, 1) with 53 random bits."""
        return (self.bits(index, stream, n) >> np.uint64(11)).astype(np.float64) * (2.0**-53)

    def integers(self, index: np.ndarray, stream: int, n: int, high: int | np.ndarray) -> np.ndarray:
        """[len(index), n] int64, uniform in [0, high) (high may broadcast per sequence)."""
        u = self.uniform(index, stream, n)
        return np.minimum((u * high).astype(np.int64), np.asarray(high, dtype=np.int64) - 1)
