"""What `movmnist plan` adds to the plan: its size measured on a few sequences built for
real, and a plan made without the source where a known TFDS set is not downloaded yet."""

from __future__ import annotations

import dataclasses
import tempfile
from typing import Any

from movmnist.builder.plan import Plan, ShardSpec, make_plan
from movmnist.builder.worker import run_shard
from movmnist.config import Config
from movmnist.sources import pool_bounds
from movmnist.sources.pools import check_fits, known_sprite
from movmnist.sources.tfds import IDX_SET_SPLITS, IDX_SETS, cache_path, read_cache

SAMPLE = (8, 40)  # sequences in the two sample shards: their difference is one sequence's bytes


def with_sampled_size(plan: Plan) -> Plan:
    """The plan with `sampled_bytes`: two shards of its first split's first sequences built in a
    temporary folder; bytes per sequence from their difference, the rest per shard (HDF5's own)."""
    if not plan.splits or plan.sequences == 0:
        return plan
    split = plan.splits[0]
    small, large = (min(n, split.sequences) for n in SAMPLE)
    measured = []
    with tempfile.TemporaryDirectory(prefix="movmnist-plan-") as tmp:
        for n in dict.fromkeys((small, large)):
            spec = ShardSpec(split=split.name, index=0, count=1, first=0, size=n)
            measured.append((n, run_shard(plan.config, spec, tmp, progress=lambda _: None, seal=False).bytes))
    (n0, b0), (n1, b1) = measured[0], measured[-1]
    per = (b1 - b0) / (n1 - n0) if n1 > n0 else b0 / n0
    fixed = max(b0 - per * n0, 0.0)
    return dataclasses.replace(plan, sampled_bytes=int(plan.sequences * per + len(plan.shards) * fixed))


def offline_plan(cfg: Config) -> tuple[Plan, dict[str, Any]] | None:
    """For a TFDS IDX set (mnist, fashion_mnist, kmnist) not downloaded yet: (plan, source
    description) from the sizes every copy of it has, without downloading; else None.

    The pools' slices are checked against those sizes; whether two pools share images is
    left to the build, which has the images.
    """
    src = cfg.source
    if src.kind != "tfds" or src.name not in IDX_SETS or read_cache(cache_path(src.name, src.data_dir)) is not None:
        return None
    sizes: dict[str, int] = {}
    for name, split in cfg.splits.active():
        if split.pool.split not in IDX_SET_SPLITS:
            return None  # let the build say what is wrong
        start, stop = pool_bounds(split.pool, IDX_SET_SPLITS[split.pool.split])
        sizes[name] = stop - start
    sprite = known_sprite(cfg)
    assert sprite is not None  # an IDX set's digits are 28x28
    check_fits(cfg, sprite)
    resolved = cfg.resolve_counts(sizes)
    source = {"kind": "tfds", "name": src.name, "synthetic": False, "cached": False}
    return make_plan(resolved, sprite, sum(sizes.values())), source
