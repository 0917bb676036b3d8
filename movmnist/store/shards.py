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
from movmnist.store import records
from movmnist.store.schema import BLOCK_ROWS, Layout

isal_zlib: Any
try:  # the fast deflate of gzip shards (see `fast_deflate`)
    from isal import isal_zlib
except ImportError:  # then HDF5's own deflate filter: the same arrays, ~4x slower
    isal_zlib = None

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


# gzip levels whose sequences isal's level 1 compresses: its files are at least as small as
# zlib's at levels 1-3 on Moving MNIST frames, ~3.7x as fast as zlib's level 1 (README,
# "Codecs"). Level 0 (stored blocks) and 4-9 (smaller files than isal makes) keep zlib.
FAST_GZIP_LEVELS = range(1, 4)
FAST_LEVEL = 1

_warned = False


def fast_deflate(compression: str, level: int) -> Callable[[Any], bytes] | None:
    """The compressor of the sequence-chunked datasets (frames, masks) of a shard, or None.

    For gzip at FAST_GZIP_LEVELS: isal's deflate, which writes zlib streams (RFC 1950), the
    format HDF5's deflate filter stores, so each chunk is written compressed as it is
    (`write_direct_chunk`) into a dataset that declares the standard filter: any HDF5
    reader opens it. None where HDF5's filter compresses (other codecs and levels, or isal
    not installed: then a notice on stderr, once per process).
    """
    global _warned
    if compression != "gzip" or level not in FAST_GZIP_LEVELS:
        return None
    if isal_zlib is None:
        if not _warned:
            _warned = True
            warnings.warn("isal is not installed: gzip shards are compressed by HDF5's zlib (~4x slower)", stacklevel=2)
        return None
    compress = isal_zlib.compress

    def deflate(sequence: Any) -> bytes:
        return compress(sequence, FAST_LEVEL)  # type: ignore[no-any-return]

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
    """Write the attributes and the datasets, every one with `codec` (h5py keywords); return
    the number of sequences written. With `deflate`, the sequence-chunked datasets get their
    chunks compressed by it (`fast_deflate`), not by HDF5's filter."""
    for key, value in attrs.items():
        f.attrs[key] = value if not isinstance(value, dict) else json.dumps(value, sort_keys=True)
    sets = {}
    direct = set()
    for spec in layout.specs():
        if spec.per != "sequence":
            continue
        name, shape, dtype = spec.name, spec.resolve(layout.sequence, layout.digits), spec.dtype
        if spec.chunk == "sequence":
            # Chunks are whole sequences and written whole, so HDF5's chunk cache saves no
            # read; a cache smaller than a chunk (1 byte) makes HDF5 compress each chunk as it
            # is written, while it is in the CPU's cache, instead of holding ~12 in its 1 MB
            # cache and compressing them later (lz4: ~5 us a sequence).
            opts = {"chunks": (1, *shape), "rdcc_nbytes": 1, **codec}
            if deflate is not None:
                direct.add(name)
        else:
            opts = {"chunks": (min(n, BLOCK_ROWS), *shape), **codec}
        sets[name] = f.create_dataset(name, shape=(n, *shape), dtype=dtype, **opts)
    tables = {
        name: f.create_dataset(
            name, shape=(0, *row), maxshape=(None, *row), dtype=dtype, chunks=(BLOCK_ROWS, *row), **codec
        )
        for name, (row, dtype) in layout.tables().items()
    }
    block = block_rows(layout.sequence)
    done = 0
    for chunk in chunks:
        m = len(chunk["frames"])
        for name, ds in sets.items():
            rows, step = chunk[name], block if name == "frames" else m
            for lo in range(0, m, step):  # a slice of lazy frames draws them (generate.Frames)
                if deflate is not None and name in direct:
                    _write_chunks(ds, done + lo, rows[lo : lo + step], deflate)
                else:
                    _write_rows(ds, done + lo, rows[lo : lo + step])
        for name, ds in tables.items():
            rows = chunk[name]
            ds.resize(len(ds) + len(rows), axis=0)
            ds[len(ds) - len(rows) :] = rows
        done += m
    return done


def _write_rows(ds: h5py.Dataset, start: int, rows: np.ndarray) -> None:
    """`ds[start : start + len(rows)] = rows` through h5py's low-level interface: the same
    H5Dwrite, without the ~90 us a call that h5py's `__setitem__` spends in Python on
    selections and dtype checks (a build makes ~30 such writes per 1,000 sequences)."""
    rows = np.ascontiguousarray(rows)
    space = ds.id.get_space()
    space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
    ds.id.write(h5py.h5s.create_simple(rows.shape), space, rows)


def _write_chunks(ds: h5py.Dataset, start: int, rows: np.ndarray, deflate: Callable[[Any], bytes]) -> None:
    """Each sequence of `rows` as the compressed chunk `start + i` of `ds` (one sequence per
    chunk): its C-contiguous bytes through `deflate`, written as they are, HDF5's filter
    marked as applied (filter_mask 0), so a reader inflates it with the standard filter."""
    rows = np.ascontiguousarray(rows, dtype=ds.dtype)
    rest = (0,) * (rows.ndim - 1)
    for i in range(len(rows)):
        ds.id.write_direct_chunk((start + i, *rest), deflate(rows[i]), 0)
