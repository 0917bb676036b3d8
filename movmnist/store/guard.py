"""What a shard file must be before h5py opens it, and what it may hold once open.

A shard is read only if it is a regular file in its dataset's directory (a symlink may
point to another file of that directory, never outside it; a FIFO would block forever),
that starts with the HDF5 signature (where every shard of ours has it). Once open it must
be self-contained: only hard links (no soft or external links), no dataset stored in
external raw files, no virtual dataset. Each of those would make HDF5 read the bytes of a
file that the manifest's sha256 does not cover, and `export` copy them out.

Before HDF5 reads a shard's attributes (variable-length strings, kept in a global heap),
`check_heaps` walks each global heap collection the way HDF5's parser does: a zeroed or
forged object header there (index 0, size 0) makes that parser loop forever at 100% CPU.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from pathlib import Path
from typing import Any

import h5py

from movmnist.errors import DatasetError
from movmnist.files import open_regular

SIGNATURE = b"\x89HDF\r\n\x1a\n"
HEAP = b"GCOL\x01\x00\x00\x00"  # a global heap collection: signature, version 1, reserved
_HEAP_MIN = 4096  # HDF5 never writes a smaller collection
_OBJECT_HEADER = 16  # index (2), reference count (2), reserved (4), size (8): 8-byte lengths, as ours


def check_path(path: Path) -> tuple[int, int]:
    """The (device, inode) of the shard file at `path`; DatasetError if it may not be opened."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        raise DatasetError(f"shard {path} is missing; rebuild the dataset") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission
        raise DatasetError(f"shard {path} cannot be opened ({exc}); rebuild it") from None
    if real.parent != path.parent.resolve():
        raise DatasetError(f"shard {path} is a link to {real}, outside the dataset; refusing to read it")
    try:
        with open_regular(real) as f:
            st = os.fstat(f.fileno())
            head = f.read(len(SIGNATURE))
    except OSError as exc:
        raise DatasetError(f"shard {path} cannot be read ({exc.strerror or exc}); rebuild it") from None
    if not stat.S_ISREG(st.st_mode) or head != SIGNATURE:
        raise DatasetError(f"shard {path} does not start with the HDF5 signature (damaged?); run movmnist verify")
    return st.st_dev, st.st_ino


def check_contained(f: h5py.File, path: Path) -> None:
    """DatasetError if the open shard `f` reaches outside its own bytes."""
    found: list[str] = []

    def visit(name: str, link: Any) -> None:
        if not isinstance(link, h5py.HardLink):
            found.append(f"{name!r} is a {type(link).__name__}")
            return
        obj = f.get(name)
        if isinstance(obj, h5py.Dataset):
            if obj.external:
                found.append(f"{name!r} is stored in external files")
            elif obj.is_virtual:
                found.append(f"{name!r} is a virtual dataset")

    f.visititems_links(visit)
    if found:
        raise DatasetError(
            f"shard {path} is not self-contained ({found[0]}): it would read another file's bytes; refusing to read it"
        )


def check_heaps(path: Path) -> None:
    """DatasetError if a global heap collection in the shard at `path` would make HDF5's parser loop
    or run past the collection (an object of index 0 and size 0 never advances it)."""
    try:
        with open_regular(path) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            at = data.find(HEAP)
            while at >= 0:
                problem = _heap_problem(data, at)
                if problem:
                    raise DatasetError(f"shard {path}: the global heap at byte {at} is damaged ({problem}); rebuild it")
                at = data.find(HEAP, at + 1)
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        reason = getattr(exc, "strerror", None) or exc
        raise DatasetError(f"shard {path} cannot be read ({reason}); rebuild it") from None


def _heap_problem(data: mmap.mmap, at: int) -> str:
    """Why the collection at `at` cannot be parsed, or '' (also for bytes that only look like one)."""
    if at + 16 > len(data):
        return ""
    (size,) = struct.unpack_from("<Q", data, at + 8)
    if size < _HEAP_MIN or at + size > len(data):
        return ""  # not a collection HDF5 would accept (a chance match in compressed data)
    p, end = at + 16, at + size
    while p < end:
        if p + _OBJECT_HEADER > end:
            return ""  # the tail, too small for an object: free space
        index, _, _, length = struct.unpack_from("<HHIQ", data, p)
        need = _OBJECT_HEADER + (-(-length // 8) * 8) if index > 0 else length
        if need <= 0:
            return f"an object of size {length} at byte {p}"
        if p + need > end:
            return f"an object at byte {p} runs past the collection"
        p += need
    return ""
