"""zlib-ng's deflate and inflate of shard chunks, many chunks to one call.

The chunks of a gzip shard are zlib streams (RFC 1950) followed by HDF5's fletcher32
checksum (`checksum`), made and read by zlib-ng (`shards.fast_deflate`, `reader`) instead
of HDF5's zlib filter. `zlib_ng.compress` takes one buffer a call and gives the GIL back
and takes it again each time; the thread that writes chunks into HDF5 holds the GIL ~8 us a
chunk, so a compressing thread that needs it once a sequence waits for it (measured: 44 us a
sequence in a build against 33 us alone). The compiled kernel's `deflate_many` and
`inflate_many` (`core/_kernel.c`) loop over a whole batch with the GIL released, calling
zlib-ng's own functions, which the zlib_ng extension module exports: `BATCHED` says whether
they are bound here. They are bound only after a check that the library is zlib-ng 2 and
that they give zlib_ng.compress's bytes (levels 1-9); otherwise, and at level 0, the
per-call path runs, with the same bytes.

`compress(rows, level)`: a list of sealed chunks (stream + checksum), one per row;
`inflate_into(stored, places, out, checked)`: chunks into consecutive rows of `out`.
"""

from __future__ import annotations

import ctypes
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from movmnist.core import compiled
from movmnist.store import checksum

zlib_ng: Any
try:  # ~3.5x zlib's deflate at level 1, ~1.6x its inflate
    from zlib_ng import zlib_ng
except ImportError:
    zlib_ng = None

# zlib-ng's native functions that `_kernel.zng_bind` takes, in its order.
_FUNCTIONS = (
    "zng_deflateInit2",
    "zng_deflate",
    "zng_deflateReset",
    "zng_deflateEnd",
    "zng_deflateBound",
    "zng_inflateInit2",
    "zng_inflate",
    "zng_inflateReset",
    "zng_inflateEnd",
)


def _bind() -> bool:
    """Bind the kernel's batch loops to the zlib-ng inside zlib_ng's extension; True if they
    give zlib_ng.compress's bytes and inflate them back."""
    kernel = compiled.kernel
    if zlib_ng is None or kernel is None or not hasattr(kernel, "zng_bind"):
        return False
    try:
        lib = ctypes.CDLL(zlib_ng.__file__)
        lib.zlibng_version.restype = ctypes.c_char_p
        if not lib.zlibng_version().startswith(b"2."):  # the zng_stream layout of zlib-ng 2
            return False
        kernel.zng_bind([ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in _FUNCTIONS])
        probe = [np.arange(n, dtype=np.uint8) * 7 % 251 for n in (1, 4096, 80_000)]
        for level in (1, 6, 9):
            made = kernel.deflate_many(probe, level)
            if made != [checksum.seal(zlib_ng.compress(row, level)) for row in probe]:
                raise ValueError("zlib-ng's functions do not give zlib_ng.compress's bytes")
        out = np.empty(80_000, np.uint8)
        if kernel.inflate_many(made[2], np.array([0, len(made[2])], np.int64), out, True) != -1:
            raise ValueError("zlib-ng's inflate does not give the bytes back")
        if not np.array_equal(out, probe[2]):
            raise ValueError("zlib-ng's inflate does not give the bytes back")
    except (OSError, AttributeError, ValueError, RuntimeError):
        kernel.zng_bind([0] * len(_FUNCTIONS))
        return False
    return True


BATCHED = _bind()


def compress(rows: list[Any], level: int) -> list[bytes]:
    """Each row (a C-contiguous buffer) deflated by zlib-ng at `level` and sealed with its
    fletcher32 checksum: HDF5's deflate-then-fletcher32 chunk of it. Needs zlib_ng. Level 0
    (stored blocks, whose split depends on the output buffer) takes the per-call path."""
    if BATCHED and level > 0:
        assert compiled.kernel is not None
        return compiled.kernel.deflate_many(rows, level)  # type: ignore[no-any-return]
    return [checksum.seal(zlib_ng.compress(row, level)) for row in rows]


inflate: Any = zlib_ng.decompress if zlib_ng is not None else zlib.decompress


# Batches of at least this many chunks are inflated half on the caller's thread, half on one
# other (the kernel releases the GIL), where the machine has a second core.
PARALLEL_CHUNKS = 8
_CORES = os.cpu_count() or 1
_helper: tuple[int, ThreadPoolExecutor] | None = None  # (the pid that made it, the thread)


def _other_thread() -> ThreadPoolExecutor:
    """The process's one inflating thread, made again after a fork (threads do not survive one)."""
    global _helper
    if _helper is None or _helper[0] != os.getpid():
        _helper = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="movmnist-inflate"))
    return _helper[1]


def inflate_into(stored: Any, places: np.ndarray, out: np.ndarray, checked: bool) -> int:
    """Chunks of `stored` (bytes-like) into consecutive equal parts of `out` (C-contiguous):
    chunk i is stored[places[i, 0] : places[i, 0] + places[i, 1]], a zlib stream followed,
    if `checked`, by its fletcher32 checksum. Returns -1 when all checked and inflated to
    their part's size exactly, else 4 * i + why for the first chunk i that did not (why: 1
    its checksum, 2 its stream, 3 its size)."""
    places = np.ascontiguousarray(places, dtype=np.int64)
    flat = out.reshape(-1).view(np.uint8)
    if BATCHED:
        kernel = compiled.kernel
        assert kernel is not None
        n = len(places)
        if n < PARALLEL_CHUNKS or _CORES < 2:
            return kernel.inflate_many(stored, places, flat, checked)  # type: ignore[no-any-return]
        half, each = n // 2, len(flat) // n
        later = _other_thread().submit(kernel.inflate_many, stored, places[half:], flat[half * each :], checked)
        first = kernel.inflate_many(stored, places[:half], flat[: half * each], checked)
        second = later.result()
        if first >= 0:
            return first  # type: ignore[no-any-return]
        return -1 if second < 0 else second + 4 * half
    view, each = memoryview(stored), len(flat) // len(places)
    for i, (offset, size) in enumerate(places.tolist()):
        body: memoryview | bytes | None = view[offset : offset + size]
        if checked:
            body = checksum.unseal(body)  # type: ignore[arg-type]
            if body is None:
                return 4 * i + 1
        try:
            body = inflate(body, bufsize=each)
        except Exception:  # zlib's or zlib-ng's error: a damaged stream
            return 4 * i + 2
        if len(body) != each:
            return 4 * i + 3
        flat[i * each : (i + 1) * each] = np.frombuffer(body, np.uint8)
    return -1
