"""Files written whole or not at all, their temporary names, and their digests.

The one place for atomic writes: every file of ours that a reader may see (a manifest, a
record, the card, an export) is written under `temporary_path` and renamed into place, so
a file with the asked-for name is always whole. `sync` also fsyncs it (and its directory)
first, so that a power cut cannot leave a named but empty file: the build's own files
need that; a preview or an export to the user's folder does not.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def temporary_path(path: Path) -> Path:
    """A fresh name to write the file at `path` under before it takes its name: `.{name}.tmp-{pid}-{random}`.

    The random part makes it unguessable, so nobody can plant a symlink there in advance;
    open it with `create_new`, which refuses a name that exists (a symlink included).
    """
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(8)}")


def create_new(path: Path, mode: int = 0o644) -> IO[bytes]:
    """Open `path` for writing, binary; it must not exist yet (never follows or truncates anything there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    return os.fdopen(fd, "wb")


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
        with create_new(tmp) as f:
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
    """Write `data` to `path` through `atomic_file` (a symlink at `path` is replaced, never written through)."""
    with atomic_file(path, sync) as f:
        f.write(data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON (indented, in key order, newline-terminated) to `path`, durably and atomically."""
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def open_regular(path: Path) -> io.BufferedReader:
    """Open `path` to read, binary, only if it is a regular file: a FIFO or a device would block or
    never end. OSError (EINVAL) otherwise, as for any file that cannot be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO opens at once, unread
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file (a FIFO or a device)", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path`; OSError (EFBIG) if there are more than `limit`."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes, more than this kind of file ever holds", str(path))
    return data


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    """The hex sha256 of the file at `path`, read a block at a time."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()
