"""Where an export goes: a file or a directory that takes its name only once it is whole.

Every export is written under a random temporary name beside its target (`files.temporary_path`
for a file, `tempfile.mkdtemp` for a directory: both fresh, so nothing is ever written through
a link planted there) and renamed into place at the end; a failed or interrupted export leaves
the target as it was. A directory export also holds `MARKER`, a small JSON record of what made
it: `--overwrite` replaces only a directory that has one, never someone's folder that happens
to have the name, and never a symlink (which is refused, not followed).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import IO, Any, BinaryIO

from movmnist import __version__
from movmnist.errors import OutputError
from movmnist.files import atomic_file, create_new
from movmnist.store.outdir import replace_with

MARKER = ".movmnist-export.json"  # in every directory export: its format, splits and files


def _check(out: Path, overwrite: bool, directory: bool) -> bool:
    """Whether `out` exists (and may be replaced); OutputError (exit 2) when it may not be written."""
    if not out.parent.is_dir():
        raise OutputError(f"cannot write {out}: its folder {out.parent} does not exist; create it or choose another -o")
    try:
        st = os.lstat(out)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise OutputError(f"{out} is a symlink; refusing to write through it: remove it or choose another -o")
    if not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it, or choose another -o")
    if directory and not (stat.S_ISDIR(st.st_mode) and (out / MARKER).is_file()):
        raise OutputError(
            f"{out} exists and is not a movmnist export (it has no {MARKER}); refusing to replace it:"
            " remove it yourself or choose another -o"
        )
    if not directory and not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{out} exists and is not a plain file; refusing to replace it: choose another -o")
    return True


@contextmanager
def new_file(out: str | PathLike[str] | BinaryIO, overwrite: bool = True) -> Iterator[IO[bytes]]:
    """A binary stream for the export `out`: a path (written whole or not at all), '-' for stdout,
    or a stream of the caller's. overwrite=False: refuse a path that exists."""
    if not isinstance(out, str | PathLike):
        yield out
        return
    if str(out) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(out)
    if not overwrite:
        _check(path, overwrite, directory=False)
    try:
        with atomic_file(path, sync=False) as f:  # a file with the asked-for name is always whole
            yield f
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror}; choose another -o") from None


@contextmanager
def new_directory(out: Path, overwrite: bool, record: dict[str, Any]) -> Iterator[Path]:
    """An empty private directory to write the export `out` into; it becomes `out` when the block ends.

    record: what MARKER says of the export (format, splits, ...); the names and sizes of the
    files written are added. An existing `out` is replaced in one exchange (see
    `store.outdir.replace_with`) only with `overwrite` and only if it is an export of ours.
    """
    exists = _check(out, overwrite, directory=True)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror}; choose another -o") from None
    try:
        yield stage
        listed = {str(p.relative_to(stage)): p.stat().st_size for p in sorted(stage.rglob("*")) if p.is_file()}
        text = json.dumps({**record, "movmnist_version": __version__, "files": listed}, indent=2) + "\n"
        with create_new(stage / MARKER) as f:
            f.write(text.encode("utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)  # mkdtemp's 0700 was for while it was being written
        if exists:
            replace_with(out, stage)
        else:
            os.rename(stage, out)  # fails if `out` appeared meanwhile with something in it
    except OSError as exc:
        shutil.rmtree(stage, ignore_errors=True)
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}; choose another -o") from None
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def create(path: Path) -> IO[bytes]:
    """A new file inside a `new_directory` stage (its folders made as needed); never an existing name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return create_new(path)
