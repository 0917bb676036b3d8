"""A chunk of sequences as a pure function of (config, digit pool, split, indices)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from movmnist import motion, render, rng
from movmnist.config import Config
from movmnist.sources import Pool


@dataclass(frozen=True)
class Chunk:
    """Generated sequences and their annotations; K is the maximum digit count.

    frames:       [n, T, H, W] uint8 ([n, T, H, W, C] for colour sources)
    labels:       [n, K] int16, the digit class, -1 where the sequence has fewer digits
    positions:    [n, T, K, 2] int16, top-left (row, col) pixel of each digit, -1 if absent
    source_index: [n, K] int32, index of the digit image in the source's own split, -1 if absent
    """

    frames: np.ndarray
    labels: np.ndarray
    positions: np.ndarray
    source_index: np.ndarray

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def frame_shape(cfg: Config, pool: Pool) -> tuple[int, ...]:
    """Shape of one sequence: (T, H, W) or (T, H, W, C)."""
    return (cfg.sequence.length, cfg.canvas.height, cfg.canvas.width, *pool.images.shape[3:])


@functools.lru_cache(maxsize=16)
def _ink(pool: Pool) -> render.Ink:
    """Each pool image's ink window, once per pool (pools are memoised, so by identity)."""
    return render.ink_windows(pool.images)


def generate(cfg: Config, pool: Pool, split: str, indices: np.ndarray, out: np.ndarray | None = None) -> Chunk:
    """Generate the sequences `indices` (global, within `split`) of the dataset.

    `out`, if given, is a reusable uint8 buffer with room for at least len(indices)
    sequences; the returned frames are a view of it (so the caller must consume them
    before the next call).
    """
    idx = np.asarray(indices, dtype=np.int64)
    n, length = len(idx), cfg.sequence.length
    k_lo, k_hi = cfg.digits.count
    keyed = rng.Keyed(cfg.seed, split)

    if k_lo == k_hi:
        count = np.full(n, k_hi, dtype=np.int64)
    else:
        count = k_lo + keyed.integers(idx, rng.COUNT, 1, k_hi - k_lo + 1)[:, 0]
    present = np.arange(k_hi)[None, :] < count[:, None]  # [n, K]

    choice = keyed.integers(idx, rng.DIGIT, k_hi, len(pool.labels))  # [n, K]
    if cfg.digits.assign == "each":  # sequence i shows image i of the pool as its first digit
        if n and idx.max() >= len(pool.labels):
            raise ValueError(f"digits.assign: each: sequence {idx.max()} has no image in a pool of {len(pool.labels)}")
        choice[:, 0] = idx

    def draw(stream: int, count: int) -> np.ndarray:
        return keyed.uniform(idx, stream, count)

    path = motion.PRESETS[cfg.motion.preset](draw, n, k_hi, length, cfg.motion.speed)
    h, w = pool.images.shape[1:3]
    free = (cfg.canvas.height - h, cfg.canvas.width - w)
    pixels = motion.to_pixels(path.position, free).reshape(length, n, k_hi, 2).transpose(1, 0, 2, 3)

    shape = (n, *frame_shape(cfg, pool))
    if out is None:
        frames = np.zeros(shape, dtype=np.uint8)
    else:
        frames = out.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        frames.fill(0)
    top, left, window = _ink(pool)
    for k in range(k_hi):
        seq = np.flatnonzero(present[:, k])
        image = choice[seq, k]
        ink = (top[image], left[image], window)
        render.paste_max(
            frames, seq, pool.images[image], pixels[seq, :, k, 0], pixels[seq, :, k, 1], first=k == 0, ink=ink
        )

    absent = ~present
    labels = pool.labels[choice].astype(np.int16)
    labels[absent] = -1
    source_index = pool.source_index[choice].astype(np.int32)
    source_index[absent] = -1
    pixels = np.ascontiguousarray(pixels)
    pixels.transpose(0, 2, 1, 3)[absent] = -1  # [n, K, T, 2] view: absent digits, every frame
    return Chunk(frames=frames, labels=labels, positions=pixels, source_index=source_index)
