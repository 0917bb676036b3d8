"""What a shard file must be before h5py opens it, and what it may hold once open.

A shard is read only if it is a regular file in its dataset's directory (a symlink may
point to another file of that directory, never outside it; a FIFO would block forever),
that starts with the HDF5 signature (where every shard of ours has it). Once open it must
be self-contained: only hard links (no soft or external links), no dataset stored in
external raw files, no virtual dataset. Each of those would make HDF5 read the bytes of a
file that the manifest's sha256 does not cover, and `export` copy them out.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import h5py

from movmnist.errors import DatasetError
from movmnist.files import open_regular

SIGNATURE = b"\x89HDF\r\n\x1a\n"


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
