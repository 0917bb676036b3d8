"""Files written whole or not at all, their temporary names, and their digests.

The one place for atomic writes: every file of ours that a reader may see (a manifest, a
record, the card, an export) is written under `temporary_path` and renamed into place, so
a file with the asked-for name is always whole. `sync` also fsyncs it (and its directory)
first, so that a power cut cannot leave a named but empty file: the build's own files
need that; a preview or an export to the user's folder does not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temporary_path(path: Path) -> Path:
    """Where this process writes the file at `path` before it takes its name: `.{name}.tmp-{pid}`."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove_quietly(path: Path) -> None:
    """Remove `path` if it is there; a failure (the directory became read-only) is left for later cleanup."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make the renames inside directory `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: Path, sync: bool = True) -> Iterator[IO[bytes]]:
    """A binary file to write that takes the name `path` only once the block ends without error.

    sync: fsync the file before the rename and the directory after it. On any error the
    temporary file is removed and `path` is left as it was.
    """
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            yield f
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if sync:
            fsync_dir(path.parent)
    finally:
        remove_quietly(tmp)


def write_atomic(path: Path, data: bytes, sync: bool = True) -> None:
    """Write `data` to `path` through `atomic_file`."""
    with atomic_file(path, sync) as f:
        f.write(data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON (indented, in key order, newline-terminated) to `path`, durably and atomically."""
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """The hex sha256 of the file at `path`, read a block at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
