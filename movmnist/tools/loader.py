"""How fast a training loop receives sequences from a procedural dataset (`movmnist bench-loader`).

Measures what a user's loop sees: one epoch's stream (`split.epoch(e).stream(batch)`) read
in this process (workers 0), or through a PyTorch DataLoader with worker processes, timed
from the first request (worker start-up included) to the last batch. The pools are loaded
before the clock starts, as they are once per process in training.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from movmnist.config import Config
from movmnist.errors import ConfigError
from movmnist.read.procedural import ProceduralDataset


@dataclass(frozen=True)
class LoaderRate:
    """One measured epoch: `sequences` in `seconds`, the first batch after `first_batch_seconds`."""

    split: str
    epoch: int
    batch: int
    workers: int
    floats: bool
    sequences: int
    batches: int
    seconds: float
    first_batch_seconds: float

    @property
    def sequences_per_second(self) -> float:
        return self.sequences / max(self.seconds, 1e-9)

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self), "sequences_per_second": round(self.sequences_per_second, 1)}

    def format_text(self) -> str:
        kind = "float32 tensors" if self.floats else "uint8 arrays" if not self.workers else "uint8 tensors"
        where = f"{self.workers} DataLoader worker{'s' * (self.workers != 1)}" if self.workers else "in process"
        return (
            f"{self.split}, epoch {self.epoch}: {self.sequences} sequences in {self.batches} batches of {self.batch}"
            f" ({kind}, {where}) in {self.seconds:.2f} s: {self.sequences_per_second:,.0f} sequences/s"
            f" (first batch after {self.first_batch_seconds:.2f} s)"
        )


def bench_loader(
    config: Config,
    split: str = "train",
    batch: int = 32,
    workers: int = 0,
    epoch: int = 1,
    sequences: int | None = None,
    floats: bool = False,
) -> LoaderRate:
    """Time one epoch of `split` (its first `sequences`, default all) in batches of `batch`.

    workers 0 reads the stream in this process (floats: numpy float32 / 255); workers >= 1
    uses a PyTorch DataLoader over the stream's adapter (ConfigError if torch is missing).
    """
    if batch < 1 or workers < 0 or (sequences is not None and sequences < 1):
        raise ConfigError(f"batch >= 1, workers >= 0 and sequences >= 1 (got {batch}, {workers}, {sequences})")
    chosen = ProceduralDataset(config)[split].epoch(epoch)
    chosen[0]  # the pool (and its ink windows) before the clock, as once per process in training
    stream = chosen.stream(batch)
    count = len(stream) if sequences is None else min(len(stream), -(-sequences // batch))
    batches: Any
    if workers == 0:
        batches = (b.astype(np.float32) / np.float32(255) if floats else b for b in stream)
    else:
        try:
            from torch.utils.data import DataLoader
        except ImportError:
            raise ConfigError(
                f"--workers {workers} measures a PyTorch DataLoader, and torch is not installed;"
                " pip install torch, or pass --workers 0"
            ) from None
        batches = iter(DataLoader(stream.for_torch(floats), batch_size=None, num_workers=workers))
    started = time.perf_counter()
    first = 0.0
    n = 0
    for got in itertools.islice(batches, count):
        if not n:
            first = time.perf_counter() - started
        n += len(got)
    seconds = time.perf_counter() - started
    return LoaderRate(split, epoch, batch, workers, floats, n, count, round(seconds, 4), round(first, 4))
