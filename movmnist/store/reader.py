"""Reading shards: a bounded set of open files per process, and reads at the speed of the disk.

Handles never cross processes: a reader opens its file in the process that reads it (and
again after a fork or a pickle), and at most MAX_OPEN files are open in one process at a
time, the least recently used closed first, so a dataset of thousands of shards reads
under `ulimit -n 1024`.

Two shortcuts past h5py, each taken only where it gives the same bytes:

- frames and masks are chunked one sequence per HDF5 chunk; where the chunk is the whole
  sequence and the only filter is deflate (or none), a read takes the chunk's stored bytes
  (`read_direct_chunk`) and inflates them with zlib, straight into the caller's array.
  Deflate's adler32 checksum still catches a damaged chunk. Any other case (lzf, zstd,
  lz4, shuffle, fletcher32, other chunk shapes) and any failure go through h5py, which
  gives its data or its error as before.
- annotations are chunked in blocks of up to 4096 sequences, so HDF5 inflates a whole
  block to give one item: the reader keeps the block it decoded last, per dataset, and
  serves the next items from it (one block per dataset per open shard).
"""

from __future__ import annotations

import contextlib
import os
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401  (registers the zstd and lz4 HDF5 filters, for reading)
import numpy as np

from movmnist.errors import DatasetError

# Open shard files per process: ~0.6 MB and one file descriptor each.
MAX_OPEN = 64

_DEFLATE = h5py.h5z.FILTER_DEFLATE


class _OpenShards:
    """The readers whose files are open in this process, least recently used first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pid = os.getpid()
        self.readers: OrderedDict[int, ShardReader] = OrderedDict()
        self.lock = threading.Lock()

    def touch(self, reader: ShardReader) -> None:
        """Mark `reader` (whose file is open) the most recently used; close the oldest past the
        limit. The caller holds `lock`."""
        if self.pid != os.getpid():  # a forked child: the parent's handles are not ours to use
            self.readers = OrderedDict()
            self.pid = os.getpid()
        key = id(reader)
        if key in self.readers:
            self.readers.move_to_end(key)
            return
        self.readers[key] = reader
        if len(self.readers) > self.limit:
            # Oldest first, but never a file another thread is reading from (then the bound
            # is exceeded until that read ends and the next file is opened).
            for old in [k for k, r in self.readers.items() if not r._busy][: len(self.readers) - self.limit]:
                self.readers.pop(old)._release()

    def pin(self, reader: ShardReader, by: int) -> None:
        """Count a read of `reader` starting (+1) or ending (-1): a reader being read is not closed."""
        with self.lock:
            reader._busy += by

    def forget(self, reader: ShardReader) -> None:
        with self.lock:
            if self.pid == os.getpid():
                self.readers.pop(id(reader), None)

    def __len__(self) -> int:
        return len(self.readers) if self.pid == os.getpid() else 0


OPEN = _OpenShards(MAX_OPEN)


class _Plan:
    """How one dataset of an open shard is read: its h5py dataset and the shortcut it allows."""

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds = ds
        self.shape: tuple[int, ...] = tuple(ds.shape)
        self.dtype = ds.dtype
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
        chunks = ds.chunks
        # "direct": one sequence a chunk, inflated by zlib here; "block": chunks of many whole
        # rows, the last one decoded kept; "h5py": everything else.
        self.mode = "h5py"
        self.deflate = False
        if chunks is not None and len(self.shape) >= 1 and tuple(chunks[1:]) == self.shape[1:]:
            if chunks[0] == 1 and self.dtype.isnative and self.row_bytes > 0:
                filters = _filters(ds)
                if filters in ([], [_DEFLATE]):
                    self.mode, self.deflate = "direct", bool(filters)
            elif chunks[0] > 1:
                self.mode = "block"
        self.block_rows = int(chunks[0]) if chunks is not None else 0
        self.block: tuple[int, np.ndarray] | None = None  # (first row, rows) of the last block decoded


def _filters(ds: h5py.Dataset) -> list[int]:
    plist = ds.id.get_create_plist()
    return [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]


class ShardReader:
    """Read access to one shard file, opened lazily in the process that reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: h5py.File | None = None
        self._pid = -1
        self._plans: dict[str, _Plan] = {}
        self._busy = 0  # reads under way in this process's threads

    def _open(self) -> h5py.File:
        """The open file; call it pinned (`_pinned`, or `OPEN.pin`) so no other thread closes it."""
        with OPEN.lock:  # one thread opens it; the others wait and use that handle
            if self._file is None or self._pid != os.getpid():
                self._plans = {}
                try:
                    self._file = h5py.File(self.path, "r")
                except FileNotFoundError:
                    raise DatasetError(f"shard {self.path} is missing; rebuild the dataset") from None
                except OSError as exc:
                    raise DatasetError(f"shard {self.path} cannot be read as HDF5 ({exc}); rebuild it") from None
                self._pid = os.getpid()
            OPEN.touch(self)
            return self._file

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[h5py.File]:
        OPEN.pin(self, 1)
        try:
            yield self._open()
        finally:
            OPEN.pin(self, -1)

    def _plan(self, name: str) -> _Plan:
        f = self._open()
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = _Plan(f[name])
        return plan

    def read(self, name: str, sel: slice | np.ndarray | int) -> np.ndarray:
        """`file[name][sel]` as an array (a slice with step 1 takes the shortcuts)."""
        OPEN.pin(self, 1)
        try:
            if isinstance(sel, slice) and sel.step in (None, 1):
                plan = self._plan(name)
                lo, hi, _ = sel.indices(plan.shape[0])
                out = np.empty((max(hi - lo, 0), *plan.shape[1:]), plan.dtype)
                self._read_rows(plan, lo, hi, out)
                return out
            return np.asarray(self._open()[name][sel])
        except (OSError, KeyError, RuntimeError, ValueError) as exc:  # h5py's errors for damaged files
            raise DatasetError(f"shard {self.path}: cannot read {name!r} ({exc}); run movmnist verify") from None
        finally:
            OPEN.pin(self, -1)

    def row_shape(self, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """(shape without the first axis, dtype) of dataset `name`."""
        try:
            with self._pinned():
                plan = self._plan(name)
        except (OSError, KeyError, RuntimeError, ValueError) as exc:
            raise DatasetError(f"shard {self.path}: cannot read {name!r} ({exc}); run movmnist verify") from None
        return plan.shape[1:], plan.dtype

    def read_into(self, name: str, lo: int, hi: int, out: np.ndarray) -> None:
        """Rows lo:hi of dataset `name` into `out` (C-contiguous, of their shape and dtype)."""
        OPEN.pin(self, 1)
        try:
            plan = self._plan(name)
            if plan.shape[1:] != out.shape[1:] or plan.dtype != out.dtype:
                raise DatasetError(
                    f"shard {self.path}: {name!r} is {list(plan.shape[1:])} {plan.dtype} a row, the other shards"
                    f" {list(out.shape[1:])} {out.dtype}; run movmnist verify"
                )
            if not 0 <= lo <= hi <= plan.shape[0] or hi - lo != len(out):
                raise IndexError(f"rows {lo}:{hi} of {plan.shape[0]} do not fill {len(out)}")
            self._read_rows(plan, lo, hi, out)
        except (OSError, KeyError, RuntimeError, ValueError) as exc:  # h5py's errors for damaged files
            raise DatasetError(f"shard {self.path}: cannot read {name!r} ({exc}); run movmnist verify") from None
        finally:
            OPEN.pin(self, -1)

    def _read_rows(self, plan: _Plan, lo: int, hi: int, out: np.ndarray) -> None:
        if hi <= lo:
            return
        if plan.mode == "direct":
            for j, row in enumerate(range(lo, hi)):
                if not self._direct(plan, row, out[j]):
                    plan.ds.read_direct(out[j : j + 1], np.s_[row : row + 1])
        elif plan.mode == "block":
            at = lo
            while at < hi:
                first, rows = self._block(plan, at)
                stop = min(hi, first + len(rows))
                out[at - lo : stop - lo] = rows[at - first : stop - first]
                at = stop
        else:
            plan.ds.read_direct(out, np.s_[lo:hi])

    def _direct(self, plan: _Plan, row: int, out: np.ndarray) -> bool:
        """Inflate sequence `row`'s chunk into `out`; False where h5py must read it instead."""
        offset = (row,) + (0,) * (len(plan.shape) - 1)
        try:
            if not plan.deflate:  # stored as they are: straight into `out`
                raw = plan.ds.id.read_direct_chunk(offset, out=out.reshape(-1).view(np.uint8))[1]
                return bool(len(raw) == plan.row_bytes)
            mask, raw = plan.ds.id.read_direct_chunk(offset)
            if mask == 0:
                data = zlib.decompress(raw, bufsize=plan.row_bytes)
            elif mask == 1:  # deflate skipped: the chunk did not shrink
                data = raw
            else:
                return False
        except Exception:  # a chunk never written, a damaged stream: h5py gives its fill value or its error
            return False
        if len(data) != plan.row_bytes:
            return False
        out[...] = np.frombuffer(data, plan.dtype).reshape(out.shape)
        return True

    def _block(self, plan: _Plan, row: int) -> tuple[int, np.ndarray]:
        """The chunk-aligned block of rows holding `row`: (its first row, its rows), decoded once."""
        if plan.block is not None and plan.block[0] <= row < plan.block[0] + len(plan.block[1]):
            return plan.block
        first = row - row % plan.block_rows
        rows = np.empty((min(plan.block_rows, plan.shape[0] - first), *plan.shape[1:]), plan.dtype)
        plan.ds.read_direct(rows, np.s_[first : first + len(rows)])
        plan.block = (first, rows)
        return plan.block

    def attrs(self) -> dict[str, Any]:
        with self._pinned() as f:
            return dict(f.attrs)

    def datasets(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Every dataset in the file, by path ('frames', 'labels', 'a/b'), as (shape, dtype name)."""
        found: dict[str, tuple[tuple[int, ...], str]] = {}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                found[name] = (tuple(obj.shape), str(obj.dtype))

        try:
            with self._pinned() as f:
                f.visititems(visit)
        except (OSError, RuntimeError) as exc:  # h5py's errors for damaged files
            raise DatasetError(f"shard {self.path}: cannot list its datasets ({exc}); run movmnist verify") from None
        return found

    def filters(self, name: str) -> dict[str, Any]:
        """The HDF5 filters of dataset `name`: compression, fletcher32 checksum, chunk shape."""
        with self._pinned() as f:
            ds = f[name]
            return {"compression": ds.compression, "fletcher32": bool(ds.fletcher32), "chunks": ds.chunks}

    def is_open(self) -> bool:
        """Whether this process holds the file open."""
        return self._file is not None and self._pid == os.getpid()

    def _release(self) -> None:
        """Close the file (if this process opened it) and drop what was read from it."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        self._plans = {}

    def close(self) -> None:
        OPEN.forget(self)
        self._release()

    def __getstate__(self) -> dict[str, Any]:
        # h5py handles must not cross processes: a pickled reader reopens on first use.
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]
