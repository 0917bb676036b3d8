"""The pools a config's splits draw on, checked once: what a build and a procedural dataset share.

`check_pools` opens the source, loads every active split's pool and checks the rules a build
and `movmnist.procedural` both obey (pools that share source images are refused, the digits
fit the canvas). `pool_for` is the pool of one split in this process: one the builder handed
over at a worker's start-up (`take_pools`), else `load_pool`'s memoised one.
"""

from __future__ import annotations

from typing import Any

from movmnist.config import Config
from movmnist.config.presets import PRESETS
from movmnist.core.motion.collide import grid_cells
from movmnist.core.pool import Pool
from movmnist.errors import ConfigError
from movmnist.sources import load_pool, open_source
from movmnist.sources.backgrounds import dressed_pool
from movmnist.sources.synthetic import IMAGE_SIZE
from movmnist.sources.tfds import IDX_SET_IMAGE, IDX_SETS

# Pools handed to this process (the builder's local workers get the driver's), so that it
# need not decode or render them again; keyed like `load_pool`'s arguments.
_given_pools: dict[tuple[Any, ...], Pool] = {}


def take_pools(pools: dict[tuple[Any, ...], Pool]) -> None:
    """Keep pools made elsewhere (keys: `pool_key`) for `pool_for` in this process."""
    _given_pools.update(pools)


def pool_key(cfg: Config, split: str) -> tuple[Any, ...]:
    """`load_pool`'s arguments for a split of `cfg` (and `dressed_pool`'s, with a background):
    what identifies its pool."""
    key = (cfg.source, getattr(cfg.splits, split).pool, cfg.digits.size)
    background = cfg.render.background
    if background.kind == "none":
        return key
    return (*key, background, cfg.render.colour is not None, PRESETS[cfg.motion.preset].warped)


def pool_for(cfg: Config, split: str) -> Pool:
    """The digit pool of `split` (with its backgrounds, if any), loaded at most once per process."""
    key = pool_key(cfg, split)
    return _given_pools.get(key) or (load_pool(*key) if len(key) == 3 else dressed_pool(*key))


def check_pools(cfg: Config) -> tuple[dict[str, int], tuple[int, ...]]:
    """Load and check the pools of every active split: (pool sizes by split, sprite shape).

    The sprite shape is (h, w) or (h, w, C). ConfigError when two pools share source images
    or the digits do not fit the canvas; SourceError when the source or a slice is unusable.
    """
    known = known_sprite(cfg)
    if known is not None:  # refused before the source is opened (or downloaded): offline too
        check_fits(cfg, known)
    sizes: dict[str, int] = {}
    sprite: tuple[int, ...] = ()
    active = cfg.splits.active()
    for name, _ in active:
        pool = pool_for(cfg, name)
        sizes[name] = len(pool.labels)
        sprite = pool.shape
    # The config refused pools that overlap in any large split; slices counted from different
    # ends (train[:50000], train[-20000:]) are decided here, with the split's real size.
    for i, (a, sa) in enumerate(active):
        for b, sb in active[i + 1 :]:
            if sa.pool.split == sb.pool.split:
                count = len(open_source(cfg.source).load(sa.pool.split))
                if sa.pool.overlap_at(sb.pool, count):
                    raise ConfigError(
                        f"splits.{b}.pool ({sb.pool}) shares source images with splits.{a}.pool ({sa.pool})"
                        f" in the source's {sa.pool.split} split of {count} images; give the splits disjoint slices"
                    )
    check_fits(cfg, sprite)
    return sizes, sprite


def known_sprite(cfg: Config) -> tuple[int, int] | None:
    """The digits' (h, w) as the config alone tells: digits.size, or the size every copy of its
    source has (TFDS's IDX sets and the MNIST sample: 28x28, the synthetic digits); else None."""
    src = cfg.source
    if cfg.digits.size is not None:
        return cfg.digits.size, cfg.digits.size
    if src.kind == "sample" or (src.kind == "tfds" and src.name in IDX_SETS):
        return IDX_SET_IMAGE
    if src.kind == "synthetic":
        return IMAGE_SIZE, IMAGE_SIZE
    return None


def check_fits(cfg: Config, sprite: tuple[int, ...]) -> None:
    """ConfigError unless sprites of `sprite` ((h, w) or (h, w, C)) fit on the config's canvas."""
    h, w = sprite[:2] if sprite else (0, 0)
    if h > cfg.canvas.height or w > cfg.canvas.width:
        raise ConfigError(
            f"digits are {h}x{w} but the canvas is {cfg.canvas.height}x{cfg.canvas.width}; "
            "enlarge canvas.height/width or set digits.size"
        )
    if PRESETS[cfg.motion.preset].collides:
        k, (rows, cols) = cfg.digits.count[1], grid_cells(cfg.canvas.height, cfg.canvas.width, (h, w))
        if rows * cols < k:
            raise ConfigError(
                f"motion.preset {cfg.motion.preset} starts its digits apart, in a grid of cells larger than a"
                f" digit at worst, and {h}x{w} digits on a {cfg.canvas.height}x{cfg.canvas.width} canvas leave"
                f" {rows * cols} such cells for {k} digits; lower digits.count, set a smaller digits.size or"
                " enlarge the canvas"
            )
