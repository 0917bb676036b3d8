"""Digit sources: where the sprites come from, and the pools of them that the splits draw on.

A source (`open_source`) is one of the kinds of `config/source_kinds.py`: a TensorFlow
Datasets image set by name (downloaded and cached on first use; `movmnist.sources.tfds`), a
folder of MNIST IDX files, a Keras-layout npz, the small MNIST sample shipped in the package,
the built-in synthetic digits, or a folder of PNG/JPEG images. It hands out its own splits
whole (`DigitSource.load`); a pool (`load_pool`) is a slice of one of them, resampled to the
sprite size. Every source decodes a split once per process and `load_pool` is memoised,
because build workers call it once per shard. Arrays handed out are shared, hence read-only.
`pools` holds what a build and a procedural dataset share: the pools of a config's splits,
checked once (`check_pools`), and one split's pool in this process (`pool_for`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from movmnist.config import PoolSpec, Source
from movmnist.core.pool import Pool
from movmnist.errors import SourceError
from movmnist.sources.base import DigitSource, Images, check_declared, readonly
from movmnist.sources.idx import open_idx
from movmnist.sources.images import open_images
from movmnist.sources.npz import open_npz
from movmnist.sources.sample import open_sample
from movmnist.sources.synthetic import open_synthetic
from movmnist.sources.tfds import open_tfds
from movmnist.text import local_name

__all__ = [
    "OPENERS",
    "DigitSource",
    "Images",
    "load_pool",
    "open_source",
    "pool_bounds",
    "recorded_description",
    "resize_images",
]


def _path(cfg: Source) -> str:
    if not cfg.path:
        raise SourceError(f"source.path is required for kind {cfg.kind!r}; set source.path=...")
    return cfg.path


# kind -> opener. Relative paths are taken from the current directory.
_OPENERS: dict[str, Callable[[Source], DigitSource]] = {
    "tfds": lambda cfg: open_tfds(cfg.name, cfg.data_dir, cfg.mirror),
    "idx": lambda cfg: open_idx(_path(cfg)),
    "npz": lambda cfg: open_npz(_path(cfg)),
    "sample": lambda cfg: open_sample(),
    "synthetic": lambda cfg: open_synthetic(cfg.seed, cfg.colour),
    "images": lambda cfg: open_images(_path(cfg)),
}
OPENERS = MappingProxyType(_OPENERS)  # one per row of config/source_kinds.py (tests/config/test_catalogues.py)


def recorded_description(source: DigitSource) -> dict[str, Any]:
    """`source.describe()` as a manifest records it: a path (and a TFDS cache's data dir) by its
    name only, so that no folder of the builder's machine leaves it (`verify --regenerate`
    compares the two this way)."""
    described = source.describe()
    for key in ("path", "data_dir"):
        if described.get(key):
            described[key] = local_name(described[key])
    return described


def open_source(cfg: Source, download: bool = True) -> DigitSource:
    """Open (and check, without decoding) the source a config names; SourceError if unusable.

    download=False: a tfds set that is not cached is refused instead of downloaded."""
    opener = _OPENERS.get(cfg.kind)
    if opener is None:
        raise SourceError(f"source.kind {cfg.kind!r} is not known; use one of: {', '.join(_OPENERS)}")
    if cfg.kind == "tfds" and not download:
        return open_tfds(cfg.name, cfg.data_dir, download=False)
    return opener(cfg)


@functools.lru_cache(maxsize=16)
def load_pool(cfg: Source, pool: PoolSpec, size: int | None) -> Pool:
    """Slice a pool out of the source's split and resample it to size x size (None: keep).

    Memoised per process on the (frozen, hashable) arguments. Raises SourceError when the
    split is unknown or the slice is empty or runs past the split.
    """
    source = open_source(cfg)
    names = source.split_names()
    if pool.split not in names:
        raise SourceError(
            f"pool {pool} names split {pool.split!r}, but the {source.kind} source has only"
            f" {', '.join(names)}; use one of those"
        )
    whole = source.load(pool.split)
    start, stop = pool_bounds(pool, len(whole))
    images = whole.images[start:stop]
    if size is not None and images.shape[1:3] != (size, size):
        n, channels = len(images), int(np.prod(images.shape[3:]))
        what = f"digits.size={size} makes its {n} digits {size}x{size}"
        check_declared(f"pool {pool}", what, n * size * size * channels, fix="use a smaller digits.size or pool")
        images = readonly(resize_images(images, size))
    return Pool(
        images=images,
        labels=whole.labels[start:stop],
        source_index=readonly(np.arange(start, stop, dtype=np.int64)),
        spec=str(pool),
    )


def pool_bounds(pool: PoolSpec, count: int) -> tuple[int, int]:
    """The (start, stop) a pool takes from a split of `count` images; SourceError if it does not fit.

    Negative bounds count from the split's end, as in Python, but a slice must lie inside
    the split: it is refused rather than silently clipped.
    """
    start, stop = pool.bounds(count)
    where = f"the source's {pool.split} split ({count} images)"
    if start < 0 or stop < 0:
        raise SourceError(f"pool {pool} starts before the beginning of {where}; shorten the slice")
    if stop > count:
        raise SourceError(f"pool {pool} ends past {where}; shorten the slice")
    if start >= count:
        raise SourceError(f"pool {pool} starts past the end of {where}; shorten the slice")
    if start >= stop:
        raise SourceError(f"pool {pool} is empty; give a slice with start < stop")
    return start, stop


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resample [M, h, w] (or [M, h, w, C]) uint8 images to [M, size, size(, C)] uint8.

    Pillow's BILINEAR: when shrinking, Pillow widens the filter to the scale, so it averages
    (no aliasing); when enlarging it is smooth and, unlike LANCZOS, never rings, so the
    background stays exactly 0 and no halo is clipped into the ink.
    """
    out = np.empty((images.shape[0], size, size, *images.shape[3:]), np.uint8)
    planes = images[..., None] if images.ndim == 3 else images
    target = out[..., None] if images.ndim == 3 else out
    for i in range(images.shape[0]):
        for c in range(planes.shape[-1]):
            plane = Image.fromarray(np.ascontiguousarray(planes[i, :, :, c]))  # uint8 2-D: mode L
            target[i, :, :, c] = np.asarray(plane.resize((size, size), Image.Resampling.BILINEAR))
    return out
