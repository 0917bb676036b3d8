"""HDF5 shards: writing them (reading them is `store.reader`).

Handles never cross processes: writers and readers open files themselves, in the process
that uses them.

Writing a shard has two steps, which may run in different processes of one machine:
`write_temporary` writes the HDF5 file under a temporary name (`.{shard}.tmp-{pid}`) and
closes it; `records.seal` makes it durable, gives it its name and writes its sha256 record
(the guarantees are stated there). Storage failures (disk full, read-only, no permission)
raise WriteFailed, which the CLI reports in one line.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # registers the zstd and lz4 HDF5 filters, for writing and for reading
import numpy as np

from movmnist.errors import WriteFailed
from movmnist.files import remove_quietly, temporary_path
from movmnist.store import checksum, records
from movmnist.store.schema import BLOCK_ROWS, Layout

zlib_ng: Any
try:  # the fast deflate of gzip shards (see `fast_deflate`)
    from zlib_ng import zlib_ng
except ImportError:  # then HDF5's own deflate filter: the same arrays, ~3.5x slower at level 1
    zlib_ng = None

# Frames go to HDF5 (and its compressor) in blocks of about this many bytes, small enough
# to be compressed while still in the CPU's cache after they are drawn.
WRITE_BLOCK = 5 << 20


def block_rows(sequence: tuple[int, ...]) -> int:
    """Sequences of this shape per frames write: WRITE_BLOCK bytes (~64 of 64x64x20), at least 1."""
    return max(1, WRITE_BLOCK // int(np.prod(sequence)))


def compression_args(compression: str, level: int) -> dict[str, Any]:
    """h5py create_dataset keywords for a codec of the catalogue (`config.codecs`)."""
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": level}
    if compression == "lzf":
        return {"compression": "lzf"}
    if compression == "zstd":
        return dict(hdf5plugin.Zstd(clevel=level))
    if compression == "lz4":
        return dict(hdf5plugin.LZ4())
    if compression == "none":
        return {}
    raise ValueError(f"unknown compression {compression!r}")


_warned = False


def fast_deflate(compression: str, level: int) -> Callable[[Any], bytes] | None:
    """The compressor of the per-sequence datasets of a shard (frames, masks, annotations), or None.

    For gzip: zlib-ng's deflate at the same level (zlib's API and level scale, its own
    faster implementation). It writes zlib streams (RFC 1950), the format HDF5's deflate
    filter stores, so each chunk is written compressed as it is (`write_direct_chunk`, with
    the fletcher32 checksum HDF5's next filter would append: `checksum.seal`) into a dataset
    that declares the standard filters at that level: any HDF5 reader opens and checks it.
    zlib-ng compresses each chunk from a fresh stream, so the same chunk gives the same
    bytes in every process. None where HDF5's filters compress (other codecs, or zlib-ng
    not installed: then a notice on stderr, once per process).
    """
    global _warned
    if compression != "gzip":
        return None
    if zlib_ng is None:
        if not _warned:
            _warned = True
            warnings.warn(
                "zlib-ng is not installed: gzip shards are compressed by HDF5's zlib (~3.5x slower)", stacklevel=2
            )
        return None
    compress = zlib_ng.compress

    def deflate(sequence: Any) -> bytes:
        return compress(sequence, level)  # type: ignore[no-any-return]

    return deflate


def write_shard(
    path: Path,
    n: int,
    layout: Layout,
    chunks: Iterable[dict[str, np.ndarray]],
    attrs: dict[str, Any],
    compression: str = "gzip",
    level: int = 1,
) -> str:
    """`write_temporary`, then `seal`, in this process: the shard at `path`; return its sha256."""
    return records.seal(write_temporary(path, n, layout, chunks, attrs, compression, level), path)


def write_temporary(
    path: Path,
    n: int,
    layout: Layout,
    chunks: Iterable[dict[str, np.ndarray]],
    attrs: dict[str, Any],
    compression: str = "gzip",
    level: int = 1,
) -> Path:
    """Write n sequences, arriving as consecutive chunks, under a temporary name; return it.

    Each chunk maps dataset name -> array whose first axis is the sequence (for tables:
    the row, appended); `frames` may be a `generate.Frames`, drawn as it is sliced.
    `frames` and `masks` are chunked one sequence per HDF5 chunk, so random access
    decompresses one sequence. The file is closed but not yet durable: pass it to `seal`.
    On failure it is removed; storage failures raise WriteFailed.
    """
    tmp = temporary_path(path)
    try:
        _write_hdf5(tmp, path, n, layout, chunks, attrs, compression, level)
        return tmp
    except OSError as exc:
        remove_quietly(tmp)
        raise WriteFailed.from_os_error(path, exc) from None
    except BaseException:
        remove_quietly(tmp)
        raise


def _write_hdf5(
    tmp: Path,
    path: Path,
    n: int,
    layout: Layout,
    chunks: Iterable[dict[str, np.ndarray]],
    attrs: dict[str, Any],
    compression: str,
    level: int,
) -> None:
    f = h5py.File(tmp, "x")  # a fresh name (files.temporary_path), never a file or symlink that exists
    try:
        codec, deflate = compression_args(compression, level), fast_deflate(compression, level)
        done = _fill(f, n, layout, chunks, attrs, codec, deflate)
    except BaseException:
        # After a failed write HDF5 cannot flush either, and the error of the close would
        # hide the write's own (an OSError that names the cause: disk full, read-only).
        with contextlib.suppress(Exception):
            f.close()
        raise
    try:
        f.close()
    except RuntimeError as exc:  # a failed flush (disk full...): h5py gives the errno only as text
        raise OSError(str(exc)) from None
    if done != n:
        raise RuntimeError(f"shard {path.name}: expected {n} sequences, got {done}")


def _fill(
    f: h5py.File,
    n: int,
    layout: Layout,
    chunks: Iterable[dict[str, np.ndarray]],
    attrs: dict[str, Any],
    codec: dict[str, Any],
    deflate: Callable[[Any], bytes] | None = None,
) -> int:
    """Write the attributes and the datasets, every one with `codec` (h5py keywords) and
    HDF5's fletcher32 checksum; return the number of sequences written. With `deflate`, the
    per-sequence datasets get their chunks compressed by it (`fast_deflate`), not by HDF5."""
    for key, value in attrs.items():
        f.attrs[key] = value if not isinstance(value, dict) else json.dumps(value, sort_keys=True)
    checked = {**codec, "fletcher32": True}  # after the codec: a checksum of each stored chunk
    sinks: dict[str, _Rows | _Chunks] = {}
    for spec in layout.specs():
        if spec.per != "sequence":
            continue
        name, shape, dtype = spec.name, spec.resolve(layout.sequence, layout.digits), spec.dtype
        if spec.chunk == "sequence":
            # Chunks are whole sequences and written whole, so HDF5's chunk cache saves no
            # read; a cache smaller than a chunk (1 byte) makes HDF5 compress each chunk as it
            # is written, while it is in the CPU's cache, instead of holding ~12 in its 1 MB
            # cache and compressing them later (lz4: ~5 us a sequence).
            per_chunk, opts = 1, {"rdcc_nbytes": 1}
        else:
            per_chunk, opts = min(n, BLOCK_ROWS), {}
        ds = f.create_dataset(name, shape=(n, *shape), dtype=dtype, chunks=(per_chunk, *shape), **opts, **checked)
        sinks[name] = _Rows(ds) if deflate is None else _Chunks(ds, per_chunk, deflate)
    tables = {
        name: f.create_dataset(
            name, shape=(0, *row), maxshape=(None, *row), dtype=dtype, chunks=(BLOCK_ROWS, *row), **checked
        )
        for name, (row, dtype) in layout.tables().items()
    }
    block = block_rows(layout.sequence)
    done = 0
    for chunk in chunks:
        m = len(chunk["frames"])
        for name, sink in sinks.items():
            rows, step = chunk[name], block if name == "frames" else m
            for lo in range(0, m, step):  # a slice of lazy frames draws them (generate.Frames)
                sink.write(done + lo, rows[lo : lo + step])
        for name, ds in tables.items():
            rows = chunk[name]
            ds.resize(len(ds) + len(rows), axis=0)
            ds[len(ds) - len(rows) :] = rows
        done += m
    for sink in sinks.values():
        sink.close()
    return done


class _Rows:
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


class _Chunks:
    """Rows written as whole chunks compressed here (`fast_deflate`) and sealed with their
    fletcher32 checksum (`checksum.seal`), HDF5's filters marked as applied (filter_mask 0),
    so a reader inflates and checks them with the standard filters.

    Rows arrive in order. A chunk of one sequence is written as it comes; a block of many is
    gathered first, and the last, partial block is padded with zeros to the chunk's shape,
    as HDF5 stores an edge chunk (a reader sees only the rows inside the dataset).
    """

    def __init__(self, ds: h5py.Dataset, rows: int, deflate: Callable[[Any], bytes]) -> None:
        self.ds, self.rows, self.deflate = ds, rows, deflate
        self.rest = (0,) * (ds.ndim - 1)
        self.pending = np.zeros((rows, *ds.shape[1:]), ds.dtype) if rows > 1 else None
        self.first = self.filled = 0  # the gathered block: its first row, and how many it has

    def _put(self, row: int, data: np.ndarray) -> None:
        self.ds.id.write_direct_chunk((row, *self.rest), checksum.seal(self.deflate(data)), 0)

    def write(self, start: int, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=self.ds.dtype)
        if self.pending is None:
            for i in range(len(rows)):
                self._put(start + i, rows[i])
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
        self._put(self.first, self.pending)
        self.first += self.rows
        self.filled = 0

    def close(self) -> None:
        if self.pending is not None and self.filled:
            self._flush()
