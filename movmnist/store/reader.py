"""Reading shards: a bounded set of open files per process, and reads at the speed of the disk.

Handles never cross processes: a reader opens its file in the process that reads it (and
again after a fork or a pickle), and at most MAX_OPEN files are open in one process at a
time, the least recently used closed first, so a dataset of thousands of shards reads
under `ulimit -n 1024`.

One shortcut past h5py, taken only where it gives the same bytes: where a dataset is
chunked along its first axis only (frames and masks one sequence a chunk, annotations a
block of sequences) and its filters are deflate and/or fletcher32 (what movmnist writes for
gzip and none), the reader lists the chunks' places in the file once (`chunk_iter`), then
reads a chunk's stored bytes itself (`os.pread`), checks its fletcher32 checksum
(`checksum.unseal`: a damaged chunk is an error, as in HDF5) and inflates it (zlib-ng,
else zlib) straight into the caller's array: ~5 us a chunk less than h5py's path. Any other case
(lzf, zstd, lz4, shuffle, a chunk never written) goes through h5py, which gives its data or
its error as before.

Annotations are chunked in blocks of sequences (schema.BLOCK_ROWS), so one item's
annotations come from a decoded block: the reader keeps the block it decoded last, per
dataset, and serves the next items from it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # noqa: F401  (registers the zstd and lz4 HDF5 filters, for reading)
import numpy as np

from movmnist.errors import DatasetError
from movmnist.store import checksum, deflate, guard

_inflate = deflate.inflate  # zlib-ng's, ~1.6x zlib's; else zlib's

# Open shard files per process: ~0.6 MB and two file descriptors each (HDF5's and ours).
MAX_OPEN = 64

_DEFLATE, _FLETCHER32 = h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_FLETCHER32
# The filter pipelines the reader decodes itself: (inflate, check the checksum).
_OWN_FILTERS = {(): (False, False), (_DEFLATE,): (True, False), (_FLETCHER32,): (False, True)}
_OWN_FILTERS[(_DEFLATE, _FLETCHER32)] = (True, True)


# What `deflate.inflate_into`'s codes say of a chunk.
_WHY = {1: "fails its checksum", 2: "does not inflate", 3: "does not inflate to its size"}


class Damaged(DatasetError):
    """A chunk whose stored bytes fail their checksum or do not inflate to its size."""


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
        self.name = ds.name.lstrip("/")
        self.shape: tuple[int, ...] = tuple(ds.shape)
        self.dtype = ds.dtype
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
        chunks = ds.chunks
        self.block_rows = int(chunks[0]) if chunks is not None else 0
        self.chunk_bytes = self.block_rows * self.row_bytes
        # "own": chunks read, checked and inflated here (see the module docstring); "h5py":
        # everything else. Either way a chunk of many rows is decoded whole, the last one kept.
        self.mode = "h5py"
        self.inflate = self.checked = False
        self.places: np.ndarray | None = None  # [chunks, 3] int64: file offset, stored size, filter mask
        if chunks is not None and len(self.shape) >= 1 and tuple(chunks[1:]) == self.shape[1:]:
            own = _OWN_FILTERS.get(tuple(_filters(ds)))
            if own is not None and self.dtype.isnative and self.row_bytes > 0 and self.shape[0] > 0:
                self.places = _places(ds, self.block_rows)
                if self.places is not None:
                    self.mode, (self.inflate, self.checked) = "own", own
        self.block: tuple[int, np.ndarray] | None = None  # (first row, rows) of the last block decoded


def _filters(ds: h5py.Dataset) -> list[int]:
    plist = ds.id.get_create_plist()
    return [int(plist.get_filter(i)[0]) for i in range(plist.get_nfilters())]


def _places(ds: h5py.Dataset, rows: int) -> np.ndarray | None:
    """Where each chunk of `ds` (chunked along axis 0 only) is stored: [chunks, 3] int64 rows of
    (file offset, stored size, filter mask); offset -1 for a chunk never written. None where
    this HDF5 cannot list them."""
    count = -(-ds.shape[0] // rows)
    places = np.full((count, 3), -1, dtype=np.int64)

    def note(info: Any) -> None:
        c = info.chunk_offset[0] // rows
        if 0 <= c < count:
            places[c] = (info.byte_offset, info.size, info.filter_mask)

    try:
        ds.id.chunk_iter(note)
    except (AttributeError, NotImplementedError):  # HDF5 before 1.14 / h5py before 3.8
        return None
    return places


class ShardReader:
    """Read access to one shard file, opened lazily in the process that reads it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: h5py.File | None = None
        self._fd = -1  # our own descriptor of the file, for reading chunks (`_Plan` "own")
        self._pid = -1
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file first opened
        self._plans: dict[str, _Plan] = {}
        self._busy = 0  # reads under way in this process's threads

    def _open(self) -> h5py.File:
        """The open file; call it pinned (`_pinned`, or `OPEN.pin`) so no other thread closes it."""
        with OPEN.lock:  # one thread opens it; the others wait and use that handle
            if self._file is None or self._pid != os.getpid():
                self._plans = {}
                self._file, self._fd = None, -1  # a forked child's inherited handles are not its own
                opened = None
                identity = guard.check_path(self.path)  # a regular file of the dataset's own
                if self._identity not in (None, identity):  # reopened (evicted, forked): the same file?
                    raise DatasetError(
                        f"shard {self.path} was replaced after it was first read; open the dataset again"
                    )
                try:
                    opened = h5py.File(self.path, "r")
                    self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    if opened is not None:
                        opened.close()
                    if isinstance(exc, FileNotFoundError):
                        raise DatasetError(f"shard {self.path} is missing; rebuild the dataset") from None
                    raise DatasetError(f"shard {self.path} cannot be read as HDF5 ({exc}); rebuild it") from None
                try:
                    guard.check_contained(opened, self.path)
                except BaseException:
                    opened.close()
                    os.close(self._fd)
                    self._fd = -1
                    raise
                self._file = opened
                self._pid, self._identity = os.getpid(), identity
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

    def _unreadable(self, name: str, exc: BaseException) -> DatasetError:
        """h5py's error reading dataset `name` of a damaged file, as one line."""
        return DatasetError(f"shard {self.path}: cannot read {name!r} ({exc}); run movmnist verify")

    @contextlib.contextmanager
    def _reading(self, name: list[str]) -> Iterator[None]:
        """Pinned while it runs; h5py's errors for damaged files become one line naming the
        dataset being read (`name[0]`, which the body may update)."""
        OPEN.pin(self, 1)
        try:
            yield
        except (OSError, KeyError, RuntimeError, ValueError) as exc:
            raise self._unreadable(name[0], exc) from None
        finally:
            OPEN.pin(self, -1)

    def read(self, name: str, sel: slice | np.ndarray | int) -> np.ndarray:
        """`file[name][sel]` as an array (a slice with step 1 takes the shortcuts)."""
        with self._reading([name]):
            if isinstance(sel, slice) and sel.step in (None, 1):
                plan = self._plan(name)
                lo, hi, _ = sel.indices(plan.shape[0])
                out = np.empty((max(hi - lo, 0), *plan.shape[1:]), plan.dtype)
                self._read_rows(plan, lo, hi, out)
                return out
            return np.asarray(self._open()[name][sel])

    def row_shape(self, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """(shape without the first axis, dtype) of dataset `name`."""
        with self._reading([name]):
            plan = self._plan(name)
        return plan.shape[1:], plan.dtype

    def read_into(self, name: str, lo: int, hi: int, out: np.ndarray) -> None:
        """Rows lo:hi of dataset `name` into `out` (C-contiguous, of their shape and dtype)."""
        self.read_many({name: out}, lo, hi)

    def read_many(self, outs: dict[str, np.ndarray], lo: int, hi: int) -> None:
        """Rows lo:hi of each dataset named in `outs` into its array (as `read_into`), in one
        pass over the open file: an item's frames and annotations."""
        # `_reading` inlined: this is every read's path, and a generator's context costs ~1 µs a read.
        name = ""
        OPEN.pin(self, 1)
        try:
            self._open()
            for name, out in outs.items():
                plan = self._plans.get(name) or self._plan(name)
                if plan.shape[1:] != out.shape[1:] or plan.dtype != out.dtype:
                    raise DatasetError(
                        f"shard {self.path}: {name!r} is {list(plan.shape[1:])} {plan.dtype} a row, the other shards"
                        f" {list(out.shape[1:])} {out.dtype}; run movmnist verify"
                    )
                if not 0 <= lo <= hi <= plan.shape[0] or hi - lo != len(out):
                    raise IndexError(f"rows {lo}:{hi} of {plan.shape[0]} do not fill {len(out)}")
                self._read_rows(plan, lo, hi, out)
        except (OSError, KeyError, RuntimeError, ValueError) as exc:
            raise self._unreadable(name, exc) from None
        finally:
            OPEN.pin(self, -1)

    def _read_rows(self, plan: _Plan, lo: int, hi: int, out: np.ndarray) -> None:
        if hi <= lo:
            return
        if (
            plan.mode == "own"
            and plan.block_rows == 1
            and plan.inflate
            and hi - lo > 1
            and self._run(plan, lo, hi, out)
        ):
            return
        if plan.mode == "own" and plan.block_rows == 1:
            for j, row in enumerate(range(lo, hi)):
                if not self._own(plan, row, out[j : j + 1]):
                    plan.ds.read_direct(out[j : j + 1], np.s_[row : row + 1])
        elif plan.block_rows > 1:
            at = lo
            while at < hi:
                first, rows = self._block(plan, at)
                stop = min(hi, first + len(rows))
                out[at - lo : stop - lo] = rows[at - first : stop - first]
                at = stop
        else:
            plan.ds.read_direct(out, np.s_[lo:hi])

    def _run(self, plan: _Plan, lo: int, hi: int, out: np.ndarray) -> bool:
        """Chunks lo:hi of `plan` (one row each, deflated) into `out` in one read of the file and
        one call of the batch inflate (`deflate.inflate_into`), where they are all written with
        every filter applied and lie close together in the file (as a build writes them). False
        where the chunk-by-chunk path must read them instead. Raises Damaged."""
        assert plan.places is not None
        places = plan.places[lo:hi]
        if (places[:, 0] < 0).any() or places[:, 2].any():
            return False
        start = int(places[:, 0].min())
        span = int((places[:, 0] + places[:, 1]).max()) - start
        if span > 2 * int(places[:, 1].sum()) + (64 << 10):  # far apart: not worth the bytes between
            return False
        stored = os.pread(self._fd, span, start)
        if len(stored) != span:
            raise self._damaged(plan, lo, "is cut short")
        inner = np.stack([places[:, 0] - start, places[:, 1]], axis=1)
        bad = deflate.inflate_into(stored, inner, out, plan.checked)
        if bad >= 0:
            raise self._damaged(plan, lo + bad // 4, _WHY[bad % 4])
        return True

    def _own(self, plan: _Plan, chunk: int, out: np.ndarray) -> bool:
        """Chunk number `chunk` of `plan` (block_rows rows) into `out`: read, checked, inflated
        here. False where h5py must read it instead (a chunk never written). Raises Damaged."""
        assert plan.places is not None
        offset, size, skipped = plan.places[chunk].tolist()
        if offset < 0:
            return False
        stored = os.pread(self._fd, size, offset)
        if len(stored) != size:
            raise self._damaged(plan, chunk, "is cut short")
        if plan.inflate and not skipped and out.nbytes == plan.chunk_bytes and out.flags.c_contiguous:
            bad = deflate.inflate_into(stored, np.array([[0, size]], np.int64), out, plan.checked)
            if bad >= 0:
                raise self._damaged(plan, chunk, _WHY[bad % 4])
            return True
        body: bytes | memoryview = stored
        if plan.checked and not skipped & (2 if plan.inflate else 1):
            checked = checksum.unseal(stored)
            if checked is None:
                raise self._damaged(plan, chunk, "fails its checksum")
            body = checked
        if plan.inflate and not skipped & 1:
            try:
                body = _inflate(body, bufsize=plan.chunk_bytes)
            except Exception:  # zlib's or zlib-ng's error: a damaged stream
                raise self._damaged(plan, chunk, "does not inflate") from None
        if len(body) != plan.chunk_bytes:
            raise self._damaged(plan, chunk, f"holds {len(body)} bytes, not {plan.chunk_bytes}")
        out.reshape(-1).view(np.uint8)[:] = np.frombuffer(body, np.uint8)[: out.nbytes]
        return True

    def _damaged(self, plan: _Plan, chunk: int, what: str) -> Damaged:
        rows = f"sequence {chunk}" if plan.block_rows == 1 else f"rows {chunk * plan.block_rows}+"
        return Damaged(
            f"shard {self.path} is damaged: {plan.name!r} ({rows}) {what}; restore or rebuild it"
            " (movmnist verify lists every damaged shard)"
        )

    def _block(self, plan: _Plan, row: int) -> tuple[int, np.ndarray]:
        """The chunk-aligned block of rows holding `row`: (its first row, its rows), decoded once."""
        if plan.block is not None and plan.block[0] <= row < plan.block[0] + len(plan.block[1]):
            return plan.block
        chunk = row // plan.block_rows
        first = chunk * plan.block_rows
        count = min(plan.block_rows, plan.shape[0] - first)
        if plan.mode == "own":
            whole = np.empty((plan.block_rows, *plan.shape[1:]), plan.dtype)  # the edge chunk too
            if self._own(plan, chunk, whole):
                plan.block = (first, whole[:count])
                return plan.block
        rows = np.empty((count, *plan.shape[1:]), plan.dtype)
        plan.ds.read_direct(rows, np.s_[first : first + count])
        plan.block = (first, rows)
        return plan.block

    def attrs(self) -> dict[str, Any]:
        """The file's attributes; they live in a global heap, checked first (`guard.check_heaps`)."""
        guard.check_heaps(self.path)
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
        if self._pid == os.getpid():
            self._drop()
        self._file, self._fd = None, -1
        self._plans = {}

    def _drop(self) -> None:
        """Close this process's handles of the file."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._file, self._fd = None, -1

    def close(self) -> None:
        OPEN.forget(self)
        self._release()

    def __getstate__(self) -> dict[str, Any]:
        # h5py handles must not cross processes: a pickled reader reopens on first use.
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]
