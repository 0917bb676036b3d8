"""The worker side of a build: one shard task, a pure function of (config, shard spec, directory).

Runs in engine worker processes. A worker receives plain data, opens its pool (or takes the
one the driver handed it at start-up), generates the shard's sequences a chunk at a time and
writes them under a temporary name (`store.shards`); it seals the file itself, or leaves that
to the driver (`driver`, local engine). Never imports the driver.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from movmnist import __version__
from movmnist.builder import engines
from movmnist.builder.plan import ShardSpec, make_plan
from movmnist.config import Config
from movmnist.core.generate import draws_lazily, generate
from movmnist.sources.pools import pool_for
from movmnist.store import manifest, records, shards
from movmnist.store.schema import Layout


@dataclass(frozen=True)
class ShardResult:
    """What a worker reports for a finished shard (or, if `temporary`, one still to seal)."""

    file: str
    split: str
    first: int
    sequences: int
    sha256: str  # "" until sealed
    bytes: int
    temporary: str | None = None  # the closed, unsealed file: the driver seals it


# Sequences generated at a time where frames are drawn lazily (generate.draws_lazily).
LAZY_CHUNK = 4096

# The buffers a worker process draws frames and masks into, kept from one chunk and shard to
# the next: a new one would be fresh pages each time, and faulting those in costs ~1 GB/s here.
_buffers: dict[str, np.ndarray] = {}


def _buffer(name: str, size: int) -> np.ndarray:
    if name not in _buffers or _buffers[name].size < size:
        _buffers[name] = np.empty(size, dtype=np.uint8)
    return _buffers[name]


def run_shard(
    cfg: Config, shard: ShardSpec, out: str, progress: engines.Progress | None = None, seal: bool = True
) -> ShardResult:
    """Generate and write one shard. Pure in its inputs: same arguments, same bytes.

    With `seal` False the shard is left closed under its temporary name, for the caller to
    pass to `records.seal` (the result's `temporary`, with an empty `sha256`).
    """
    report = progress or engines.worker_progress()
    pool = pool_for(cfg, shard.split)
    plan = make_plan(cfg, pool.shape)
    if draws_lazily(cfg):
        # Frames drawn a write block at a time as they are written: a chunk's frames are never
        # all in memory, so its motion can be planned for many sequences at once (each
        # `generate` call costs ~1 ms on caches the compressor left cold: ~3 us a sequence at
        # 256), and the buffer holds one block.
        step = max(cfg.build.chunk_size, LAZY_CHUNK)
        rows = min(step, shards.block_rows(plan.sequence_shape))
    else:
        step = rows = cfg.build.chunk_size
    # Two of each buffer, taken in turn by consecutive chunks: a chunk is still being
    # compressed while the next is drawn (shards.write_temporary's `alternating`); lazy
    # frames take the two halves of theirs in turn, a block at a time (generate.Frames).
    per = int(np.prod(plan.sequence_shape))
    frames_size = 2 * rows * per if draws_lazily(cfg) else rows * per
    masks_size = 0 if draws_lazily(cfg) else rows * int(np.prod(plan.sequence_shape[:3]))

    def chunks() -> Any:
        for turn, start in enumerate(range(shard.first, shard.first + shard.size, step)):
            stop = min(start + step, shard.first + shard.size)
            buffer, masks = _buffer(f"frames-{turn % 2}", frames_size), _buffer(f"masks-{turn % 2}", masks_size)
            chunk = generate(cfg, pool, shard.split, np.arange(start, stop), out=buffer, lazy=True, mask_out=masks)
            # Not dataclasses.asdict: it deep-copies every array (~25 us a sequence).
            yield {f.name: v for f in fields(chunk) if (v := getattr(chunk, f.name)) is not None}
            if report is not None:
                report(stop - start)

    path = Path(out) / shard.filename
    attrs = {
        "format": manifest.FORMAT,
        "format_version": manifest.FORMAT_VERSION,
        "movmnist_version": __version__,
        "split": shard.split,
        "first_index": shard.first,
        "seed": cfg.seed,
        "config": cfg.dataset_data(),
    }
    layout = Layout.of(cfg, plan.sequence_shape)
    tmp = shards.write_temporary(
        path,
        shard.size,
        layout,
        chunks(),
        attrs,
        cfg.output.compression,
        cfg.output.compression_level,
        alternating=True,
    )
    size = tmp.stat().st_size
    if not seal:
        return ShardResult(shard.filename, shard.split, shard.first, shard.size, "", size, str(tmp))
    digest = records.seal(tmp, path)
    return ShardResult(shard.filename, shard.split, shard.first, shard.size, digest, size)
