"""The digit-source interface: what every source hands out (`Images`) and promises (`DigitSource`).

Kept apart from `movmnist.sources.__init__` so that the source modules can import it without
an import cycle; `movmnist.sources` re-exports everything here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import numpy as np

from movmnist.errors import SourceError
from movmnist.files import open_regular
from movmnist.text import cut, human_bytes


@dataclass(frozen=True, eq=False)
class Images:
    """One of a source's own splits, whole.

    images: [M, h, w] uint8 (or [M, h, w, C] uint8 for colour), C-contiguous, read-only
        (sources cache them per process, so nobody may write into them).
    labels: [M] int64.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.images.shape[1:])
        return f"<Images: {len(self)} x {shape} {self.images.dtype}>"


class DigitSource(Protocol):
    """Where digit images come from: a folder of IDX files, an npz, or the built-in generator.

    `kind` and `synthetic` are read-only properties here so that a plain class attribute, a
    dataclass field or a property all satisfy the protocol.
    """

    @property
    def kind(self) -> str:
        """'idx' | 'npz' | 'synthetic'."""
        ...

    @property
    def synthetic(self) -> bool:
        """True only for generated digits, which must be labelled as such everywhere."""
        ...

    def split_names(self) -> tuple[str, ...]:
        """The source's own splits, e.g. ('train', 'test')."""
        ...

    def load(self, split: str) -> Images:
        """One split, whole; raises SourceError for an unknown split, naming the known ones."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able provenance for the dataset manifest (kind, path, counts, shapes, checksums)."""
        ...


def _limit() -> int:
    value = os.environ.get("MOVMNIST_MAX_SOURCE_BYTES", "")
    return int(value) if value.isdigit() else 4 << 30


MAX_SOURCE_BYTES = _limit()  # what one decoded source array may take; MOVMNIST_MAX_SOURCE_BYTES raises it
# Compressed digit images inflate ~5-fold (MNIST's gzip files: 4.7); deflate's ceiling is ~1030-fold,
# which only a file of (nearly) one repeated byte reaches: a decompression bomb. Past this many
# decoded bytes, an expansion above MAX_EXPANSION is refused.
EXPANSION_FLOOR = 1 << 28
MAX_EXPANSION = 100


def check_declared(
    where: object, what: str, nbytes: int, stored: int | None = None, fix: str = "is it the right file?"
) -> None:
    """SourceError if a file declares an array larger than `MAX_SOURCE_BYTES`, or (`stored`: the
    compressed bytes it comes from) one that would inflate more than `MAX_EXPANSION`-fold; checked
    before it is allocated (a damaged or hostile header, a decompression bomb)."""
    if nbytes > MAX_SOURCE_BYTES:
        raise SourceError(
            f"{cut(str(where))}: {what}, {human_bytes(nbytes)} once decoded, more than the"
            f" {human_bytes(MAX_SOURCE_BYTES)} a source may take (MOVMNIST_MAX_SOURCE_BYTES); {fix}"
        )
    if stored is not None and nbytes > EXPANSION_FLOOR and nbytes > MAX_EXPANSION * max(stored, 1):
        raise SourceError(
            f"{cut(str(where))}: {what}, {human_bytes(nbytes)} once decoded from {human_bytes(stored)} compressed,"
            f" more than the {MAX_EXPANSION}-fold images compress by (a decompression bomb?); is it the right file?"
        )


def npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype[Any]]:
    """(shape, fortran_order, dtype) from the `.npy` header at `f`'s position, which is left at the data."""
    fmt = np.lib.format
    version = fmt.read_magic(f)
    shape, fortran, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(f)
    return tuple(shape), bool(fortran), dtype


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array of the `.npy` file at `path`, its declared size checked before anything is allocated
    (`check_declared`); a FIFO or device is refused (OSError). `mmap`: mapped read-only, not read.
    ValueError for a damaged header, a truncated file or pickled objects."""
    with open_regular(path) as f:
        shape, fortran, dtype = npy_header(f)
        if dtype.hasobject:
            raise ValueError("it holds Python objects (pickled), not numbers")
        nbytes = math.prod(shape) * dtype.itemsize
        if not mmap:
            check_declared(path, f"its header declares an array of shape {list(shape)} {dtype}", nbytes)
            f.seek(0)  # read_array reads the header again
            return np.lib.format.read_array(f, allow_pickle=False)
        offset = f.tell()
        if os.fstat(f.fileno()).st_size < offset + nbytes:
            raise ValueError(f"it is shorter than its header's {list(shape)} {dtype}")
        order: Literal["F", "C"] = "F" if fortran else "C"
        return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)


def readonly(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only and return it: cached arrays are shared by every caller."""
    array.flags.writeable = False
    return array


def unknown_split(where: str, split: str, known: Iterable[str]) -> SourceError:
    """The error for asking a source for a split it does not have."""
    names = ", ".join(known)
    return SourceError(f"{where} has no split {split!r}; its splits are: {names}")


def split_summary(images: Images) -> dict[str, Any]:
    """The manifest's entry for one split: image count, per-image shape and dtype."""
    return {
        "count": len(images),
        "image_shape": list(images.images.shape[1:]),
        "dtype": str(images.images.dtype),
    }


def file_stamp(path: Path, fix: str = "") -> tuple[int, int]:
    """(mtime_ns, size): part of a decode cache's key, so that a replaced file is read again."""
    try:
        st = path.stat()
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}" + (f"; {fix}" if fix else "")) from None
    return st.st_mtime_ns, st.st_size


MAX_LABEL = 255  # labels are class numbers 0..255 (shards keep int16; -1 marks a slot without a digit)


def check_images(where: object, key: str, shape: tuple[int, ...]) -> None:
    """SourceError unless `shape` is grey images [M, h, w] or RGB [M, h, w, 3]: what frames, the
    card's preview and every export can hold (an alpha or a second channel has no meaning there)."""
    if len(shape) == 4 and shape[-1] != 3:
        c = shape[-1]
        fix = {
            2: "grey with alpha? keep the grey channel (x[..., 0])",
            4: "RGBA? drop the alpha channel (x[..., :3]), or composite it onto black first",
        }.get(c, "give grey [M, h, w] or RGB [M, h, w, 3] images")
        raise SourceError(f"{cut(str(where))}: {key} has {c} channels (shape {list(shape)}); {fix}")


def check_labels(where: object, key: str, labels: np.ndarray, classes: int | None = None) -> None:
    """SourceError unless every label is a class number: 0..classes-1 when the source declares
    `classes`, else 0..255. Checked before the cast to int16 that would wrap 70000 to 4464, and a
    label -1 would read as "no digit"."""
    if not labels.size:
        return
    top = classes - 1 if classes else MAX_LABEL
    lo, hi = int(labels.min()), int(labels.max())
    if lo >= 0 and hi <= top:
        return
    bad = lo if lo < 0 else hi
    rule = f"its {classes} declared classes 0..{top}" if classes else f"0..{top}"
    raise SourceError(
        f"{cut(str(where))}: {key} holds the label {bad}, outside {rule}; labels must be class numbers"
        " (-1 would read as a missing digit): renumber them"
    )


def check_same_shapes(where: object, shapes: dict[str, tuple[int, ...]]) -> None:
    """SourceError unless every split's images (`shapes`: per split, without M) have one shape: the
    pools of one dataset are drawn and stored alike, and `verify` checks every shard for it."""
    # Only shapes of images are compared: anything else is refused, more precisely, when its split is decoded.
    if not all(len(s) == 2 or (len(s) == 3 and 1 <= s[-1] <= 4) for s in shapes.values()):
        return
    kinds = {s[:2] if len(s) == 3 and s[-1] == 1 else s for s in shapes.values()}  # a channel of 1 is grey
    if len(kinds) > 1:
        found = ", ".join(f"{name} {'x'.join(map(str, shape))}" for name, shape in shapes.items())
        raise SourceError(
            f"{cut(str(where))}: its splits hold images of different shapes ({found});"
            " every split of a source must hold images of one shape: resize them alike"
        )
