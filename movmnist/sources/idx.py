"""MNIST in its original IDX format: a folder with the four files, each raw or gzip-compressed.

IDX layout (big-endian): two zero bytes, a type code (0x08 = uint8), the number of
dimensions, one uint32 per dimension, then the values in C order. The MNIST images files
have magic 2051 (uint8, 3 dims), the labels files 2049 (uint8, 1 dim).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import math
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import SourceError
from movmnist.files import open_regular
from movmnist.sources.base import (
    Images,
    check_declared,
    check_images,
    check_same_shapes,
    file_stamp,
    readonly,
    split_summary,
    unknown_split,
)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FILE_NAMES = tuple(name for pair in SPLIT_FILES.values() for name in pair)
_EXPECTED = ", ".join(FILE_NAMES)
_DTYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 22
_GZIP_MAGIC = b"\x1f\x8b"


# --- one file ------------------------------------------------------------------------


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, raw or gzip (detected by content or a .gz suffix).

    Returns an array with the header's shape and element type in native byte order
    (uint8 for MNIST), read-only. Raises SourceError naming the file for anything wrong
    with it: missing, unreadable, bad gzip, bad magic, truncated or over-long.
    """
    array, _ = read_idx_with_digest(Path(path))
    return array


def read_idx_with_digest(path: Path) -> tuple[np.ndarray, str]:
    """`read_idx`, plus the sha256 of the file's decompressed bytes (hex)."""
    try:
        with _open(path) as (f, stored):
            return _parse(f, path, stored)
    except SourceError:
        raise
    except FileNotFoundError:
        raise SourceError(f"{path} does not exist; check source.path") from None
    except PermissionError:
        raise SourceError(f"cannot read {path}: permission denied; check the file's permissions") from None
    except IsADirectoryError:
        raise SourceError(f"{path} is a directory, not an IDX file; remove or rename it") from None
    except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
        raise SourceError(
            f"{path} is not a valid gzip file ({exc}); re-download it, or gunzip it to see the damage"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[io.BufferedIOBase, int | None]]:
    """Open for reading, transparently gunzipping; gzip is sniffed so a misnamed file still works.
    Yields the stream and, for gzip, the compressed size (None for a raw file)."""
    with open_regular(path) as f:  # a FIFO would block forever
        head = f.read(2)
        f.seek(0)
        if head == _GZIP_MAGIC or path.suffix == ".gz":
            with gzip.GzipFile(fileobj=f, mode="rb") as unzipped:
                yield unzipped, os.fstat(f.fileno()).st_size
        else:
            yield f, None


def _parse(f: io.BufferedIOBase, path: Path, stored: int | None) -> tuple[np.ndarray, str]:
    digest = hashlib.sha256()
    what = "decompressed " if path.suffix == ".gz" else ""
    head = _read_upto(f, 4, digest)
    if len(head) < 4:
        problem = "is empty" if not head else f"is only {len(head)} {what}bytes long"
        raise SourceError(f"{path} {problem}; an IDX file starts with a 4-byte magic number. Re-download it")
    if head[0] or head[1] or head[2] not in _DTYPES or head[3] == 0:
        raise SourceError(
            f"{path} is not an IDX file (it starts with {head.hex(' ')}, expected 00 00 08 03 for images"
            " or 00 00 08 01 for labels); give the original MNIST files"
        )
    ndim, dtype = head[3], _DTYPES[head[2]]
    raw_dims = _read_upto(f, 4 * ndim, digest)
    if len(raw_dims) < 4 * ndim:
        raise SourceError(f"{path} ends inside its header ({ndim} dimensions announced); re-download it")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    expected = math.prod(dims) * dtype.itemsize
    check_declared(path, f"its header declares {'x'.join(map(str, dims))} {dtype.name}", expected, stored)
    payload, actual = _read_payload(f, expected, digest)
    if actual != expected:
        shape = "x".join(str(d) for d in dims)
        state = "truncated" if actual < expected else "longer than its header says"
        found = f"found {actual}" if actual - expected < _CHUNK else f"found at least {actual}"
        raise SourceError(
            f"{path} is {state}: its header ({shape} {dtype.name}) needs {expected} {what}bytes of data"
            f" after the header, {found}; re-download it"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    if dtype.byteorder == ">":
        array = array.astype(dtype.newbyteorder("="))
    return readonly(array), digest.hexdigest()


def _read_upto(f: io.BufferedIOBase, n: int, digest: Any) -> bytes:
    data = f.read(n)
    digest.update(data)
    return data


def _read_payload(f: io.BufferedIOBase, expected: int, digest: Any) -> tuple[bytearray, int]:
    """Read the `expected` data bytes and count any excess without keeping it.

    Read in chunks into the one buffer the array will use (no second copy), after
    `check_declared` allowed its size; then one chunk more, so that gzip verifies its CRC.
    """
    payload = bytearray(expected)
    view = memoryview(payload)
    kept = 0
    while kept < expected:
        got = f.readinto(view[kept : min(kept + _CHUNK, expected)])
        if not got:
            break
        digest.update(view[kept : kept + got])
        kept += got
    # One more read tells whether there is more than the header says (the error reports that much);
    # reading on to the end would let a small gzip file that inflates to gigabytes keep us busy.
    extra = len(f.read(_CHUNK))  # at the end (b""), gzip has checked its CRC
    return payload, kept + extra


# --- the folder ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IdxSource:
    """A folder with the four MNIST IDX files. Splits: 'train' and 'test' (the t10k files)."""

    directory: Path
    files: dict[str, Path]  # canonical (uncompressed) file name -> the file on disk

    kind = "idx"
    synthetic = False

    def split_names(self) -> tuple[str, ...]:
        return tuple(SPLIT_FILES)

    def load(self, split: str) -> Images:
        """The split's images [M, 28, 28] uint8 and labels [M] int64, decoded once per process."""
        return self._load(split)[0]

    def describe(self) -> dict[str, Any]:
        splits, sha256 = {}, {}
        for split in SPLIT_FILES:
            images, digests = self._load(split)
            splits[split] = split_summary(images)
            sha256.update(digests)
        return {
            "kind": self.kind,
            "path": str(self.directory),
            "synthetic": self.synthetic,
            "splits": splits,
            "sha256": dict(sorted(sha256.items())),
        }

    def _load(self, split: str) -> tuple[Images, dict[str, str]]:
        if split not in SPLIT_FILES:
            raise unknown_split(f"the idx source {self.directory}", split, SPLIT_FILES)
        images_name, labels_name = SPLIT_FILES[split]
        images_file, labels_file = self.files[images_name], self.files[labels_name]
        return _decode_split(images_file, labels_file, file_stamp(images_file), file_stamp(labels_file))


def open_idx(path: str | Path) -> IdxSource:
    """Check that `path` is a readable folder with the four MNIST IDX files; decode nothing yet.

    Each file may be raw or .gz (raw wins if both exist). Relative paths are taken from the
    current directory.
    """
    directory = Path(path).expanduser()
    if not directory.exists():
        raise SourceError(
            f"source.path {directory} does not exist; point it at the folder holding {_EXPECTED} (raw or .gz)"
        )
    if not directory.is_dir():
        hint = "; for an .npz file set source.kind=npz" if directory.suffix == ".npz" else ""
        raise SourceError(
            f"source.path {directory} is a file, but kind 'idx' needs the folder holding {_EXPECTED}{hint}"
        )
    try:
        names = set(os.listdir(directory))
    except PermissionError:
        raise SourceError(f"cannot list {directory}: permission denied; check the folder's permissions") from None
    except OSError as exc:
        raise SourceError(f"cannot list {directory}: {exc.strerror or exc}") from None
    if not names:
        raise SourceError(f"{directory} is empty; put the four MNIST IDX files in it ({_EXPECTED}), raw or .gz")
    files: dict[str, Path] = {}
    for name in FILE_NAMES:
        found = next((n for n in _spellings(name) if n in names), None)
        if found is None:
            raise SourceError(
                f"{directory} has no {name} (or {name}.gz); expected the four MNIST IDX files:"
                f" {_EXPECTED}{_hint(directory, names)}"
            )
        files[name] = directory / found
    shapes = {name: _header_shape(files[name]) for name, _ in SPLIT_FILES.values()}
    check_same_shapes(directory, {name: shape for name, shape in shapes.items() if shape is not None})
    return IdxSource(directory=directory.resolve(), files=files)


def _header_shape(path: Path) -> tuple[int, ...] | None:
    """The per-image shape an IDX images file's header declares; None when the header cannot be
    read (decoding the file then says why)."""
    try:
        with _open(path) as (f, _):
            head = f.read(4)
            if len(head) < 4 or head[0] or head[1] or head[2] not in _DTYPES or not head[3]:
                return None
            raw = f.read(4 * head[3])
            return struct.unpack(f">{head[3]}I", raw)[1:] if len(raw) == 4 * head[3] else None
    except (OSError, EOFError, zlib.error):
        return None


def _spellings(name: str) -> tuple[str, ...]:
    # Some mirrors (e.g. Kaggle) write 'train-images.idx3-ubyte'; accept that spelling too.
    dotted = name.replace("-idx", ".idx")
    return (name, f"{name}.gz", dotted, f"{dotted}.gz")


def _hint(directory: Path, names: set[str]) -> str:
    """Point at the likely intended path when the files sit one or two folders down."""
    for pattern in (f"*/{FILE_NAMES[0]}*", f"*/*/{FILE_NAMES[0]}*"):
        nested = sorted(directory.glob(pattern))
        if nested:
            return f"; did you mean source.path={nested[0].parent}?"
    npz = sorted(n for n in names if n.endswith(".npz"))
    if npz:
        return f"; for {directory / npz[0]} set source.kind=npz and source.path to that file"
    return ""


@functools.lru_cache(maxsize=8)
def _decode_split(
    images_file: Path, labels_file: Path, images_stamp: tuple[int, int], labels_stamp: tuple[int, int]
) -> tuple[Images, dict[str, str]]:
    """Decode one split's pair of files; cached so each split is decoded once per process."""
    images, images_sha = read_idx_with_digest(images_file)
    labels, labels_sha = read_idx_with_digest(labels_file)
    _check_kind(images_file, images, IMAGES_MAGIC, "images", (3, 4))
    _check_kind(labels_file, labels, LABELS_MAGIC, "labels", (1,))
    check_images(images_file, "the images", images.shape)
    if len(labels) != len(images):
        raise SourceError(
            f"{labels_file} has {len(labels)} labels but {images_file} has {len(images)} images;"
            " both files must come from the same release"
        )
    decoded = Images(images=images, labels=readonly(labels.astype(np.int64)))
    digests = {_canonical(images_file): images_sha, _canonical(labels_file): labels_sha}
    return decoded, digests


def _check_kind(path: Path, array: np.ndarray, magic: int, role: str, ndims: tuple[int, ...]) -> None:
    if array.dtype == np.uint8 and array.ndim in ndims:
        return
    found = 0x0800 + array.ndim if array.dtype == np.uint8 else None
    guess = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}.get(found or 0)
    what = f"magic {found}" if found else f"{array.dtype} values with {array.ndim} dimensions"
    swapped = f" It looks like {guess}: are the files swapped?" if guess else ""
    raise SourceError(f"{path} holds {what}, but the {role} file needs magic {magic} (uint8).{swapped}")


def _canonical(path: Path) -> str:
    """The uncompressed, canonical file name, as listed in MNIST's SHA256SUMS."""
    name = path.name.removesuffix(".gz")
    return name.replace(".idx", "-idx")
