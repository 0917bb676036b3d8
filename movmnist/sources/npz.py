"""MNIST as the Keras `mnist.npz`: arrays x_train, y_train, x_test, y_test in one zip archive.

The archive is read with `zipfile` rather than `np.load` so that each member's bytes are
decompressed once and serve both the checksum and the array (`allow_pickle=False`
throughout: an npz from elsewhere must never run code).
"""

from __future__ import annotations

import functools
import hashlib
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from movmnist.errors import SourceError
from movmnist.files import open_regular
from movmnist.sources.base import (
    Images,
    check_declared,
    check_images,
    check_labels,
    check_same_shapes,
    npy_header,
    readonly,
    split_summary,
    unknown_split,
)

SPLIT_KEYS: dict[str, tuple[str, str]] = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
KEYS = tuple(key for pair in SPLIT_KEYS.values() for key in pair)
_EXPECTED = ", ".join(KEYS)


@dataclass(frozen=True, eq=False)
class NpzSource:
    """A Keras-layout npz file. Splits: 'train' (x_train, y_train) and 'test' (x_test, y_test)."""

    file: Path

    kind = "npz"
    synthetic = False

    def split_names(self) -> tuple[str, ...]:
        return tuple(SPLIT_KEYS)

    def load(self, split: str) -> Images:
        """The split's images [M, h, w] (or [M, h, w, C]) uint8 and labels [M] int64, decoded once."""
        return self._load(split)[0]

    def describe(self) -> dict[str, Any]:
        splits, sha256 = {}, {}
        for split in SPLIT_KEYS:
            images, digests = self._load(split)
            splits[split] = split_summary(images)
            sha256.update(digests)
        return {
            "kind": self.kind,
            "path": str(self.file),
            "synthetic": self.synthetic,
            "splits": splits,
            "sha256": dict(sorted(sha256.items())),  # of each member's decompressed .npy bytes
        }

    def _load(self, split: str) -> tuple[Images, dict[str, str]]:
        if split not in SPLIT_KEYS:
            raise unknown_split(f"the npz source {self.file}", split, SPLIT_KEYS)
        try:
            st = self.file.stat()
        except OSError as exc:
            raise SourceError(f"cannot read {self.file}: {exc.strerror or exc}") from None
        return _decode_split(self.file, split, (st.st_mtime_ns, st.st_size))


def open_npz(path: str | Path) -> NpzSource:
    """Check that `path` is a readable npz holding the four Keras keys; decode nothing yet."""
    file = Path(path).expanduser()
    if not file.exists():
        raise SourceError(f"source.path {file} does not exist; point it at an npz with {_EXPECTED}")
    if file.is_dir():
        raise SourceError(
            f"source.path {file} is a folder, but kind 'npz' needs one .npz file;"
            " for a folder of IDX files set source.kind=idx"
        )
    try:
        with open_regular(file) as raw, zipfile.ZipFile(raw) as archive:  # a FIFO would block forever
            members = archive.namelist()
    except zipfile.BadZipFile:
        raise SourceError(
            f"{file} is not an .npz (zip) archive; give a file written by numpy.savez with {_EXPECTED}"
        ) from None
    except PermissionError:
        raise SourceError(f"cannot read {file}: permission denied; check the file's permissions") from None
    except OSError as exc:
        raise SourceError(f"cannot read {file}: {exc.strerror or exc}") from None
    found = sorted(name.removesuffix(".npy") for name in members)
    missing = [key for key in KEYS if key not in found]
    if missing:
        raise SourceError(
            f"{file} has no {', '.join(missing)} (found: {', '.join(found) or 'nothing'});"
            f" an npz source needs the Keras mnist.npz keys {_EXPECTED}"
        )
    shapes = _image_shapes(file)
    if shapes:
        check_same_shapes(file, shapes)
    return NpzSource(file=file.resolve())


def _image_shapes(file: Path) -> dict[str, tuple[int, ...]]:
    """Each split's image shape (without M) as the .npy headers declare it; {} when a header cannot
    be read (decoding the split then says why)."""
    shapes = {}
    try:
        with open_regular(file) as raw, zipfile.ZipFile(raw) as archive:
            for x_key, _ in SPLIT_KEYS.values():
                with archive.open(f"{x_key}.npy") as entry:
                    shapes[x_key] = npy_header(entry)[0][1:]
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError, KeyError):
        return {}
    return shapes


@functools.lru_cache(maxsize=8)
def _decode_split(file: Path, split: str, stamp: tuple[int, int]) -> tuple[Images, dict[str, str]]:
    """Read and validate one split; `stamp` (mtime, size) keys the cache so a new file is re-read."""
    x_key, y_key = SPLIT_KEYS[split]
    (x, x_sha), (y, y_sha) = _read_member(file, x_key), _read_member(file, y_key)
    images = _as_images(file, x_key, x)
    labels = _as_labels(file, y_key, y)
    if len(labels) != len(images):
        raise SourceError(
            f"{file}: {y_key} has {len(labels)} labels but {x_key} has {len(images)} images;"
            " they must be the same length"
        )
    decoded = Images(images=readonly(images), labels=readonly(labels))
    return decoded, {f"{x_key}.npy": x_sha, f"{y_key}.npy": y_sha}


def _read_member(file: Path, key: str) -> tuple[np.ndarray, str]:
    """One array and the sha256 of its decompressed .npy bytes."""
    try:
        with open_regular(file) as raw, zipfile.ZipFile(raw) as archive:
            member = archive.getinfo(f"{key}.npy")
            stored = member.compress_size if member.compress_type != zipfile.ZIP_STORED else None
            check_declared(file, f"{key} declares {member.file_size} bytes", member.file_size, stored)  # a zip bomb
            with archive.open(member) as entry:
                _check_header(file, key, entry, stored)
            with archive.open(member) as entry:
                hashing = _Hashing(entry)
                array = np.lib.format.read_array(hashing, allow_pickle=False)  # into one array, no copy
                while hashing.read(1 << 20):  # to the end: zipfile checks the CRC there
                    pass
    except PermissionError:
        raise SourceError(f"cannot read {file}: permission denied; check the file's permissions") from None
    except KeyError:
        raise SourceError(f"{file} has no {key}; an npz source needs the keys {_EXPECTED}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError) as exc:
        # ValueError covers object (pickled) arrays and damaged .npy headers.
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"{file}: cannot read {key} ({reason}); re-create the file with numpy.savez") from None
    return array, hashing.digest.hexdigest()


class _Hashing:
    """A readable stream that hashes what is read through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f, self.digest = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        self.digest.update(data)
        return data


def _check_header(file: Path, key: str, entry: IO[bytes], stored: int | None) -> None:
    """SourceError if the .npy header declares more than a source may take (before any allocation)."""
    shape, _, dtype = npy_header(entry)
    nbytes = math.prod(shape) * dtype.itemsize
    check_declared(file, f"{key} declares an array of shape {list(shape)} {dtype}", nbytes, stored)


def _as_images(file: Path, key: str, x: np.ndarray) -> np.ndarray:
    """Validate images and return them as [M, h, w] or [M, h, w, C] uint8, C-contiguous.

    A trailing channel axis of 1 is dropped: single-channel images are grey.
    """
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4):
        raise SourceError(f"{file}: {key} has shape {list(x.shape)}; expected images [M, h, w] or [M, h, w, C]")
    if x.ndim == 4 and x.shape[-1] > 4:
        hint = "; it looks channels-first, transpose it to [M, h, w, C]" if x.shape[1] in (1, 3, 4) else ""
        raise SourceError(f"{file}: {key} has {x.shape[-1]} channels (shape {list(x.shape)}){hint}")
    check_images(file, key, x.shape)
    if x.dtype.kind == "f":
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        scale = "in [0, 1]; multiply by 255 and" if lo >= 0 and hi <= 1 else f"({lo:g}..{hi:g});"
        raise SourceError(f"{file}: {key} holds {x.dtype} images {scale} save them as uint8 0..255")
    if x.dtype.kind not in "ui":
        raise SourceError(f"{file}: {key} has dtype {x.dtype}; expected uint8 images 0..255")
    if x.dtype != np.uint8 and x.size:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise SourceError(f"{file}: {key} has values {lo}..{hi}, outside 0..255; save uint8 images")
    return np.ascontiguousarray(x, dtype=np.uint8)


def _as_labels(file: Path, key: str, y: np.ndarray) -> np.ndarray:
    """Validate labels and return them as [M] int64."""
    if y.ndim == 2 and y.shape[1] > 1:
        raise SourceError(
            f"{file}: {key} has shape {list(y.shape)}, which looks one-hot; save y.argmax(axis=1) instead"
        )
    if y.ndim != 1:
        raise SourceError(f"{file}: {key} has shape {list(y.shape)}; expected labels [M]")
    if y.dtype.kind not in "ui":
        raise SourceError(f"{file}: {key} has dtype {y.dtype}; expected integer labels")
    check_labels(file, key, y)
    return np.ascontiguousarray(y, dtype=np.int64)
