"""The sprite pool: the images one split draws its digits from, as the core receives them.

The type lives in the core so that the generator never imports `sources`, which makes
pools (from files, downloads or fonts) and hands them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Pool:
    """The images one dataset split draws its digits from.

    images:       [M, s, s] (or [M, s, s, C]) uint8, C-contiguous, read-only; s is the sprite size.
    labels:       [M] int64.
    source_index: [M] int64, each image's index in the source's own split (start..stop-1).
    spec:         the slice, as written in the config, e.g. 'train[:50000]'.
    backgrounds:  [B, h, w(, C)] uint8, read-only: the images render.background draws beneath the
                  digits, at their source's size (resized per chunk); None without a background.
    background_index: [B] int64, each background's index in its source's own split.
    """

    images: np.ndarray
    labels: np.ndarray
    source_index: np.ndarray
    spec: str
    backgrounds: np.ndarray | None = None
    background_index: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def shape(self) -> tuple[int, ...]:
        """(h, w) or (h, w, C) of what its frames are drawn from: a sprite's shape, with the backgrounds'
        3 channels where digits kept grey (render.colour tints them, mmnist++ warps them) lie over RGB."""
        shape = tuple(self.images.shape[1:])
        if self.backgrounds is not None and self.backgrounds.ndim == 4 and self.images.ndim == 3:
            return (*shape, 3)
        return shape

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.images.shape[1:])
        return f"<Pool {self.spec}: {len(self)} x {shape} {self.images.dtype}>"
