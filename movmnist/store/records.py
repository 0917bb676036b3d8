"""Sealing a shard, and its sha256 record `{shard}.sha256`.

`seal` takes a closed temporary shard (`shards.write_temporary`), makes it durable and gives
it its name, then its record. A build seals in the driver process, which is otherwise idle,
while the worker goes on to the next shard. Guarantees:

- a file with a shard's name is always whole: its bytes are fsynced before the rename
  that gives it the name, so neither a kill nor a power cut can leave a partial file there;
- the sha256 record `{shard}.sha256` is renamed into place after the shard, so a record
  never names a shard that is not there yet (kill -9 at any moment). After a power cut the
  two renames are made durable together by one fsync of the directory: a record may then
  outlive its shard's rename, but `--resume` re-hashes every shard against its record and
  removes records without a shard, so that only costs rebuilding that shard;
- temporary files of writers that died are left for `--resume` (or the build's own
  cleanup) to remove: nothing with a temporary name is ever read as data;
- storage failures (disk full, read-only, no permission) raise WriteFailed, which the CLI
  reports in one line.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from movmnist.errors import WriteFailed
from movmnist.files import (
    create_new,
    fsync_dir,
    read_bounded,
    remove_quietly,
    sha256_file,
    temporary_path,
    write_atomic,
)

RECORD_SUFFIX = ".sha256"


def record_path(path: Path) -> Path:
    """Where the sha256 record of the shard at `path` lives."""
    return path.with_name(path.name + RECORD_SUFFIX)


def write_record(path: Path, digest: str) -> None:
    """Write `{shard}.sha256` in `sha256sum` format (so `sha256sum -c` checks it), atomically."""
    write_atomic(record_path(path), _record_line(path, digest).encode("ascii"))


def _record_line(path: Path, digest: str) -> str:
    return f"{digest}  {path.name}\n"


def _write_synced(path: Path, text: str) -> None:
    with create_new(path) as f:
        f.write(text.encode("ascii"))
        f.flush()
        os.fsync(f.fileno())


def read_record(path: Path) -> str | None:
    """The sha256 recorded for the shard at `path`, or None when there is no well-formed record."""
    try:
        text = read_bounded(record_path(path), 4096).decode("ascii")  # a FIFO planted there blocks nobody
    except (OSError, UnicodeDecodeError):
        return None
    digest, _, name = text.strip().partition("  ")
    if name != path.name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        return None
    return digest


def seal(tmp: Path, path: Path) -> str:
    """Make the closed temporary shard `tmp` durable and rename it to `path`, then write its
    sha256 record; return the sha256. See the module docstring for the guarantees.

    The fsync (an I/O wait) runs while the file is hashed from the page cache (CPU). On
    failure the temporary files are removed; storage failures raise WriteFailed.
    """
    record = record_path(path)
    record_tmp = temporary_path(record)
    try:
        with open(tmp, "rb") as f:
            digest = _hash_while_syncing(f.fileno(), tmp)
        _write_synced(record_tmp, _record_line(path, digest))
        os.replace(tmp, path)
        os.replace(record_tmp, record)  # after the shard: a record never names a missing shard
        fsync_dir(path.parent)  # both renames at once
        return digest
    except BaseException as exc:
        remove_quietly(tmp)
        remove_quietly(record_tmp)
        if isinstance(exc, OSError):
            raise WriteFailed.from_os_error(path, exc) from None
        raise


def _hash_while_syncing(fd: int, path: Path) -> str:
    failed: list[OSError] = []

    def sync() -> None:
        try:
            os.fsync(fd)
        except OSError as exc:
            failed.append(exc)

    syncing = threading.Thread(target=sync, name="fsync")
    syncing.start()
    try:
        digest = sha256_file(path)
    finally:
        syncing.join()
    if failed:
        raise failed[0]
    return digest
