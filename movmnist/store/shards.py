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
import sys
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin  # registers the zstd and lz4 HDF5 filters, for writing and for reading
import numpy as np

from movmnist.errors import WriteFailed
from movmnist.files import remove_quietly, temporary_path
from movmnist.store import deflate, records, sinks
from movmnist.store.schema import BLOCK_ROWS, Layout

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


def fast_deflate(compression: str, level: int) -> Callable[[list[Any]], list[bytes]] | None:
    """The compressor of the per-sequence datasets of a shard (frames, masks, annotations), or None.

    For gzip: zlib-ng's deflate at the same level (zlib's API and level scale, its own
    faster implementation), a batch of chunks a call (`deflate.compress`). It writes zlib
    streams (RFC 1950), the format HDF5's deflate filter stores, each followed by the
    fletcher32 checksum HDF5's next filter would append, so each chunk is written as it is
    (`write_direct_chunk`) into a dataset that declares the standard filters at that level:
    any HDF5 reader opens and checks it. Each chunk is compressed from a reset stream, so
    the same chunk gives the same bytes in every process. None where HDF5's filters
    compress (other codecs, or zlib-ng not installed: then a notice on stderr, once per
    process).
    """
    global _warned
    if compression != "gzip":
        return None
    if deflate.zlib_ng is None:
        if not _warned:
            _warned = True
            warnings.warn(
                "zlib-ng is not installed: gzip shards are compressed by HDF5's zlib (~3.5x slower)", stacklevel=2
            )
        return None

    def compress(rows: list[Any]) -> list[bytes]:
        return deflate.compress(rows, level)

    return compress


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
    alternating: bool = False,
) -> Path:
    """Write n sequences, arriving as consecutive chunks, under a temporary name; return it.

    Each chunk maps dataset name -> array whose first axis is the sequence (for tables:
    the row, appended); `frames` may be a `generate.Frames`, drawn as it is sliced.
    `frames` and `masks` are chunked one sequence per HDF5 chunk, so random access
    decompresses one sequence. The file is closed but not yet durable: pass it to `seal`.
    On failure it is removed; storage failures raise WriteFailed.

    Where movmnist compresses (gzip through zlib-ng), it does so on a thread of its own
    (`sinks.Pipeline`), a block behind: a chunk's arrays are read until the next chunk's
    first block has been handed over, unless `alternating` is False, when every chunk is
    written whole before the next is asked for. Pass True only where consecutive chunks
    never share memory (the worker draws them into two buffers in turn).
    """
    tmp = temporary_path(path)
    try:
        _write_hdf5(tmp, path, n, layout, chunks, attrs, compression, level, alternating)
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
    alternating: bool,
) -> None:
    _quiet_failed_objects()
    f = h5py.File(tmp, "x")  # a fresh name (files.temporary_path), never a file or symlink that exists
    compress = fast_deflate(compression, level)
    pipeline = sinks.Pipeline(compress) if compress is not None else None
    try:
        done = _fill(f, n, layout, chunks, attrs, compression_args(compression, level), pipeline, alternating)
    except BaseException:
        if pipeline is not None:
            pipeline.abort()
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


def _quiet_failed_objects() -> None:
    """From now on, this process does not print HDF5's errors of freeing the objects of a file
    whose write failed: h5py prints a traceback per object whenever it is collected (through
    sys.excepthook, then sys.unraisablehook; some while the write's error unwinds), ahead of
    the one-line error that says why (disk full...). Other errors pass through."""
    if getattr(sys.unraisablehook, "quiets_hdf5", False):
        return
    excepthook, unraisablehook = sys.excepthook, sys.unraisablehook

    def failed_free(error: BaseException | None) -> bool:
        return isinstance(error, RuntimeError) and "decrement id ref count" in str(error)

    def quiet_except(kind: type[BaseException], error: BaseException, tb: Any) -> None:
        if not failed_free(error):
            excepthook(kind, error, tb)

    def quiet_unraisable(unraisable: Any) -> None:
        if not failed_free(unraisable.exc_value):
            unraisablehook(unraisable)

    quiet_unraisable.quiets_hdf5 = True  # type: ignore[attr-defined]
    sys.excepthook, sys.unraisablehook = quiet_except, quiet_unraisable


def _fill(
    f: h5py.File,
    n: int,
    layout: Layout,
    chunks: Iterable[dict[str, np.ndarray]],
    attrs: dict[str, Any],
    codec: dict[str, Any],
    pipeline: sinks.Pipeline | None,
    alternating: bool,
) -> int:
    """Write the attributes and the datasets, every one with `codec` (h5py keywords) and
    HDF5's fletcher32 checksum; return the number of sequences written. With a `pipeline`,
    the per-sequence datasets get their chunks compressed by it (`fast_deflate`), not by
    HDF5; it is closed (every chunk in the file) before this returns."""
    for key, value in attrs.items():
        f.attrs[key] = value if not isinstance(value, dict) else json.dumps(value, sort_keys=True)
    checked = {**codec, "fletcher32": True}  # after the codec: a checksum of each stored chunk
    outs: dict[str, sinks.Rows | sinks.Chunks] = {}
    shapes = layout.shapes()
    for spec in layout.specs():
        if spec.per != "sequence":
            continue
        name, (shape, dtype) = spec.name, shapes[spec.name]
        if spec.chunk == "sequence":
            # Chunks are whole sequences and written whole, so HDF5's chunk cache saves no
            # read; a cache smaller than a chunk (1 byte) makes HDF5 compress each chunk as it
            # is written, while it is in the CPU's cache, instead of holding ~12 in its 1 MB
            # cache and compressing them later (lz4: ~5 us a sequence).
            per_chunk, opts = 1, {"rdcc_nbytes": 1}
        else:
            per_chunk, opts = min(n, BLOCK_ROWS), {}
        ds = f.create_dataset(name, shape=(n, *shape), dtype=dtype, chunks=(per_chunk, *shape), **opts, **checked)
        outs[name] = sinks.Rows(ds) if pipeline is None else sinks.Chunks(ds, per_chunk, pipeline)
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
        for name, sink in outs.items():
            rows, step = chunk[name], block if name == "frames" else m
            for lo in range(0, m, step):  # a slice of lazy frames draws them (generate.Frames)
                sink.write(done + lo, rows[lo : lo + step])
        for name, ds in tables.items():
            rows = chunk[name]
            ds.resize(len(ds) + len(rows), axis=0)
            ds[len(ds) - len(rows) :] = rows
        if pipeline is not None and not alternating:
            pipeline.drain()
        done += m
    for sink in outs.values():
        sink.close()
    if pipeline is not None:
        pipeline.close()
    return done
