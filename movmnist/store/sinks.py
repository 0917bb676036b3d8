"""Where the per-sequence datasets of a shard (frames, masks, annotations) are written from.

`Rows` writes through HDF5's own filters. `Chunks` writes whole chunks compressed here
(`shards.fast_deflate`), and a `Pipeline` compresses them on a thread of their own while
the caller draws what comes next: zlib-ng's deflate (a batch of chunks a call, `deflate`)
and the compiled kernel both release the GIL, so one worker process keeps about two cores
busy where there are two to spare.
Chunks reach the file in the order they were given, from one thread, so a shard's bytes
do not depend on the pipeline: the same as written one after the other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np

# A batch: the dataset, and the first row of each chunk with the chunk's rows.
_Batch = tuple[h5py.Dataset, list[int], list[np.ndarray]]


class Pipeline:
    """Chunks compressed on one thread, written by the caller's, in the order they came.

    `put` hands over a batch and returns once every earlier batch is in the file: one batch
    is compressed while the caller prepares the next. The arrays of a batch are read until
    the next `put` (or `close`) returns, so the caller must not change them before that:
    `generate.Frames` and the worker's buffers alternate between two halves for this.
    `drain` writes every batch given so far; `close` drains and stops the thread, `abort`
    (after a failure) drops what is left and stops it.
    """

    def __init__(self, compress: Callable[[list[Any]], list[bytes]]) -> None:
        self.compress = compress
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="movmnist-deflate")
        self.queue: deque[tuple[h5py.Dataset, list[int], Future[list[bytes]]]] = deque()

    def put(self, ds: h5py.Dataset, starts: list[int], rows: list[np.ndarray]) -> None:
        self.queue.append((ds, starts, self.pool.submit(self.compress, rows)))
        while len(self.queue) > 1:
            self._write_oldest()

    def _write_oldest(self) -> None:
        ds, starts, future = self.queue.popleft()
        rest = (0,) * (ds.ndim - 1)
        for start, stored in zip(starts, future.result(), strict=True):
            # filter mask 0: every filter of the dataset (deflate, fletcher32) applied
            ds.id.write_direct_chunk((start, *rest), stored, 0)

    def drain(self) -> None:
        while self.queue:
            self._write_oldest()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self.abort()

    def abort(self) -> None:
        for _, _, future in self.queue:
            future.cancel()
        self.queue.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)


class Rows:
    """Rows written through HDF5's own filters."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds = ds

    def write(self, start: int, rows: np.ndarray) -> None:
        """`ds[start : start + len(rows)] = rows` through h5py's low-level interface: the same
        H5Dwrite, without the ~90 us a call that h5py's `__setitem__` spends in Python on
        selections and dtype checks (a build makes ~30 such writes per 1,000 sequences)."""
        rows = np.ascontiguousarray(rows)
        space = self.ds.id.get_space()
        space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
        self.ds.id.write(h5py.h5s.create_simple(rows.shape), space, rows)

    def close(self) -> None:
        pass


class Chunks:
    """Rows written as whole chunks through the `Pipeline`: compressed by its deflate and
    sealed with their fletcher32 checksum (`checksum.seal`), HDF5's filters marked as applied
    (filter_mask 0), so a reader inflates and checks them with the standard filters.

    Rows arrive in order. A chunk of one sequence is handed over as it comes (its rows are
    the caller's: see `Pipeline`); a block of many is gathered first, and the last, partial
    block is padded with zeros to the chunk's shape, as HDF5 stores an edge chunk (a reader
    sees only the rows inside the dataset).
    """

    def __init__(self, ds: h5py.Dataset, rows: int, pipeline: Pipeline) -> None:
        self.ds, self.rows, self.pipeline = ds, rows, pipeline
        self.pending = np.zeros((rows, *ds.shape[1:]), ds.dtype) if rows > 1 else None
        self.first = self.filled = 0  # the gathered block: its first row, and how many it has

    def write(self, start: int, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.ds.dtype)
        if self.pending is None:
            # Slices, not `list(rows)`: a row of a 1-D dataset (captions, S{L}) would be a numpy
            # scalar, whose buffer drops the trailing nulls and whose chunk then inflates short.
            self.pipeline.put(
                self.ds, list(range(start, start + len(rows))), [rows[i : i + 1] for i in range(len(rows))]
            )
            return
        if start != self.first + self.filled:
            expected = self.first + self.filled
            raise ValueError(f"{self.ds.name}: rows must come in order (row {start}, expected {expected})")
        at = 0
        while at < len(rows):
            take = min(len(rows) - at, self.rows - self.filled)
            self.pending[self.filled : self.filled + take] = rows[at : at + take]
            self.filled += take
            at += take
            if self.filled == self.rows:
                self._flush()

    def _flush(self) -> None:
        assert self.pending is not None
        self.pending[self.filled :] = 0
        # A copy: the block is gathered again while the pipeline compresses this one.
        self.pipeline.put(self.ds, [self.first], [self.pending.copy()])
        self.first += self.rows
        self.filled = 0

    def close(self) -> None:
        if self.pending is not None and self.filled:
            self._flush()
