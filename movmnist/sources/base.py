"""The digit-source interface: what every source hands out (`Images`) and promises (`DigitSource`).

Kept apart from `movmnist.sources.__init__` so that the source modules can import it without
an import cycle; `movmnist.sources` re-exports everything here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from movmnist.errors import SourceError
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


def check_declared(where: object, what: str, nbytes: int) -> None:
    """SourceError if a file declares an array larger than `MAX_SOURCE_BYTES`, before it is allocated
    (a damaged or hostile header, a decompression bomb)."""
    if nbytes > MAX_SOURCE_BYTES:
        raise SourceError(
            f"{cut(str(where))}: {what}, {human_bytes(nbytes)} once decoded, more than the"
            f" {human_bytes(MAX_SOURCE_BYTES)} a source may take (MOVMNIST_MAX_SOURCE_BYTES); is it the right file?"
        )


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
