"""The background images of render.background, fitted to a split's digit pool.

`dressed_pool` is a split's digit pool with its backgrounds attached (`Pool.backgrounds`), taken
from the background's own source through the same `load_pool` as digits: a slice of one of its
splits (render.background.pool, or the digit pool's own slice, so that splits that share no
digits share no backgrounds either), kept at the source's size. Digits and backgrounds are made
alike in colour (grey ones repeated to RGB), and binarised when the config says so. Digits that
render.colour tints stay grey (the tint makes them RGB per slot), and their backgrounds RGB.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from movmnist.config import PoolSpec
from movmnist.config.sections import Background, Source
from movmnist.core.pool import Pool
from movmnist.errors import SourceError
from movmnist.sources import load_pool
from movmnist.sources.base import readonly


def _rgb(images: np.ndarray) -> np.ndarray:
    """Grey [M, h, w] repeated to [M, h, w, 3]; RGB as it is."""
    return images if images.ndim == 4 else np.repeat(images[..., None], 3, axis=-1)


@functools.lru_cache(maxsize=16)
def dressed_pool(
    source: Source, pool: PoolSpec, size: int | None, background: Background, tinted: bool, warped: bool
) -> Pool:
    """`load_pool(source, pool, size)` with `background`'s images attached; memoised per process.

    tinted: render.colour is on, so the digits are kept grey and the backgrounds made RGB.
    warped: mmnist++ warps grey digits every frame, so they are kept grey and the backgrounds as they are."""
    digits = load_pool(source, pool, size)
    spec = PoolSpec.parse(background.pool) if background.pool is not None else pool
    try:
        below = load_pool(background.source, spec, None)
    except SourceError as exc:
        raise SourceError(f"render.background: {exc}") from None
    images, backgrounds = digits.images, below.images
    if tinted:
        backgrounds = _rgb(backgrounds)
    elif not warped and images.ndim != backgrounds.ndim:
        images, backgrounds = _rgb(images), _rgb(backgrounds)
    if background.binarize:  # OpenSTL's `digit_image[digit_image > 1] = 255`
        images = np.where(images > 1, np.uint8(255), images)
    return replace(
        digits,
        images=readonly(np.ascontiguousarray(images)) if images is not digits.images else images,
        backgrounds=below.images if backgrounds is below.images else readonly(backgrounds),
        background_index=below.source_index,
    )
