"""Planning: what a build will write, as frozen plain data. No I/O."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from movmnist.config import ALL, Config, PoolSpec
from movmnist.config.codecs import CODECS
from movmnist.core.generate import sequence_shape
from movmnist.errors import ConfigError
from movmnist.text import human_bytes

SHARD_TEMPLATE = "{split}-{index:05d}-of-{count:05d}.h5"
MAX_SHARDS = 99_999  # per split: the template's five digits

# Resident bytes of a process before its first task: the interpreter with numpy, h5py and the
# builder imported (bench/bench_scale.py measures ~70-100 MB). Only `movmnist plan` uses it.
RUNTIME_BYTES = 100_000_000


def _chunk_limit() -> int:
    value = os.environ.get("MOVMNIST_MAX_CHUNK_BYTES", "")
    return int(value) if value.isdigit() else 4 << 30


# What the sequences a worker generates at a time (build.chunk_size) may take, checked when
# planning, before any buffer is allocated; MOVMNIST_MAX_CHUNK_BYTES raises it.
MAX_CHUNK_BYTES = _chunk_limit()


def shard_boundaries(n: int, shard_size: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard for n sequences: full shards, the last one shorter."""
    return [(start, min(start + shard_size, n)) for start in range(0, n, shard_size)]


@dataclass(frozen=True)
class ShardSpec:
    """One shard file: sequences [first, first + size) of a split."""

    split: str
    index: int
    count: int
    first: int
    size: int

    @property
    def filename(self) -> str:
        return SHARD_TEMPLATE.format(split=self.split, index=self.index, count=self.count)


@dataclass(frozen=True)
class SplitPlan:
    """One split: its sequence count, its digit pool and its shards."""

    name: str
    sequences: int
    pool: PoolSpec
    shards: tuple[ShardSpec, ...]


@dataclass(frozen=True)
class Plan:
    """Everything `build` will write, derived from the config and the sprite shape."""

    config: Config
    sprite_shape: tuple[int, ...]
    splits: tuple[SplitPlan, ...]
    pool_images: int = 0  # images in all the splits' pools: every local worker holds them
    sampled_bytes: int | None = None  # the size on disk measured on a few sequences built (builder.estimate)

    @property
    def sequence_shape(self) -> tuple[int, ...]:
        """(T, H, W) or (T, H, W, C)."""
        return sequence_shape(self.config, self.sprite_shape)

    def _bytes(self) -> tuple[int, int]:
        """Raw bytes per sequence: (frames and masks, which compress alike; everything else)."""
        from movmnist.store.schema import Layout

        cfg = self.config
        layout = Layout.of(cfg, self.sequence_shape)
        sizes = {
            name: int(np.prod(shape)) * np.dtype(dtype).itemsize for name, (shape, dtype) in layout.shapes().items()
        }
        images = sizes.pop("frames") + sizes.pop("masks", 0)
        return images, sum(sizes.values())

    @property
    def sequence_bytes(self) -> int:
        """Raw bytes of one sequence and its annotations."""
        return sum(self._bytes())

    @property
    def sequences(self) -> int:
        return sum(s.sequences for s in self.splits)

    @property
    def shards(self) -> tuple[ShardSpec, ...]:
        return tuple(shard for split in self.splits for shard in split.shards)

    def part(self, index: int, count: int) -> tuple[ShardSpec, ...]:
        """Part `index` of `count` (`build --shard-index/--num-shards`): the plan's shards in plan
        order (train, val, test; each split by index) from `index * S // count` to
        `(index + 1) * S // count`, for S shards in all. Parts are contiguous, cover every shard
        once, and differ in size by one shard at most."""
        total = len(self.shards)
        limit = min(total, MAX_SHARDS)  # a part's files name it in five digits
        if not 1 <= count <= limit:
            fix = f"use at most {limit}, or a smaller output.shard_size" if count > limit else "use 1 or more"
            raise ConfigError(f"--num-shards {count}: the plan has {total} shards; {fix}")
        if not 0 <= index < count:
            raise ConfigError(f"--shard-index {index} is out of range for --num-shards {count}: use 0 to {count - 1}")
        return self.shards[index * total // count : (index + 1) * total // count]

    @property
    def filenames(self) -> tuple[str, ...]:
        """Every shard's file name, in plan order."""
        return tuple(shard.filename for shard in self.shards)

    @property
    def raw_bytes(self) -> int:
        return self.sequences * self.sequence_bytes

    @property
    def estimated_bytes(self) -> int:
        """Estimated size on disk: `sampled_bytes` where measured, else from the codec's typical
        ratio on standard MNIST frames (frames and masks compressed, the rest raw)."""
        if self.sampled_bytes is not None:
            return self.sampled_bytes
        ratio = CODECS[self.config.output.compression].ratio
        images, rest = self._bytes()
        return int(self.sequences * (images * ratio + rest))

    @property
    def pool_bytes(self) -> int:
        sprite = 1
        for d in self.sprite_shape:
            sprite *= d
        return self.pool_images * (sprite + 16)  # + labels and source indices (int64)

    def worker_memory(self) -> int:
        """Rough peak resident bytes of one worker: its runtime, the pools (twice while they
        arrive), and a chunk with its copies. Independent of the number of sequences."""
        return RUNTIME_BYTES + 2 * self.pool_bytes + 4 * self.config.build.chunk_size * self.sequence_bytes

    def driver_memory(self) -> int:
        """Rough peak resident bytes of the driver and the process server its workers fork from:
        two runtimes, the source's splits, the pools and their copy on the way to a worker."""
        return 2 * RUNTIME_BYTES + 3 * self.pool_bytes

    def to_data(self) -> dict[str, Any]:
        """Plain data for `movmnist plan --json`."""
        return {
            "sequence_shape": list(self.sequence_shape),
            "sprite_shape": list(self.sprite_shape),
            "sequences": self.sequences,
            "raw_bytes": self.raw_bytes,
            "estimated_bytes": self.estimated_bytes,
            "estimate": "sampled" if self.sampled_bytes is not None else "codec ratio",
            "worker_memory_bytes": self.worker_memory(),
            "driver_memory_bytes": self.driver_memory(),
            "splits": {
                s.name: {
                    "sequences": s.sequences,
                    "pool": str(s.pool),
                    "shards": [{"file": sh.filename, "first": sh.first, "sequences": sh.size} for sh in s.shards],
                }
                for s in self.splits
            },
        }


def make_plan(cfg: Config, sprite_shape: tuple[int, ...], pool_images: int = 0) -> Plan:
    """Plan the build of `cfg` for sprites of `sprite_shape` ((h, w) or (h, w, C)); `pool_images`
    (the pools' total size, when known) only feeds the memory estimate."""
    splits = []
    for name, split in cfg.splits.active():
        if split.sequences == ALL:
            raise ValueError(f"splits.{name}.sequences is 'all': resolve it first (Config.resolve_counts)")
        count = -(-split.sequences // cfg.output.shard_size)
        if count > MAX_SHARDS:
            least = -(-split.sequences // MAX_SHARDS)
            raise ConfigError(
                f"splits.{name}: {split.sequences} sequences in shards of output.shard_size={cfg.output.shard_size}"
                f" make {count} shards, more than the {MAX_SHARDS} a split may have; set output.shard_size >= {least}"
            )
        bounds = shard_boundaries(split.sequences, cfg.output.shard_size)
        shards = tuple(
            ShardSpec(split=name, index=i, count=len(bounds), first=start, size=stop - start)
            for i, (start, stop) in enumerate(bounds)
        )
        splits.append(SplitPlan(name=name, sequences=split.sequences, pool=split.pool, shards=shards))
    plan = Plan(config=cfg, sprite_shape=tuple(sprite_shape), splits=tuple(splits), pool_images=pool_images)
    _check_chunk(plan)
    return plan


def _check_chunk(plan: Plan) -> None:
    """ConfigError if a chunk of build.chunk_size sequences would take more than MAX_CHUNK_BYTES."""
    per, chunk = plan.sequence_bytes, plan.config.build.chunk_size
    if chunk * per <= MAX_CHUNK_BYTES:
        return
    shape = "x".join(map(str, plan.sequence_shape))
    fits = MAX_CHUNK_BYTES // per
    fix = f"set build.chunk_size <= {fits}" if fits else "shorten sequence.length or shrink the canvas"
    raise ConfigError(
        f"build.chunk_size={chunk} sequences of {shape} take {human_bytes(chunk * per)} at a time in each worker,"
        f" more than the {human_bytes(MAX_CHUNK_BYTES)} allowed (MOVMNIST_MAX_CHUNK_BYTES); {fix}"
    )
