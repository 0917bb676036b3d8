"""movmnist: Moving MNIST datasets, built fast, reproducibly, as HDF5 shards."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from movmnist.dataset import Dataset

__version__ = "0.1.0"


def open(path: str | PathLike[str], *, annotations: bool = False, input_frames: int | None = None) -> Dataset:
    """Open a built dataset directory: `movmnist.open("data/mm")["test"][0:8]`.

    annotations: items are dicts of frames and every annotation (labels, positions, ...).
    input_frames: items are (input, target) pairs, the first K frames and the rest.
    """
    from movmnist.dataset import Dataset

    return Dataset(path, annotations=annotations, input_frames=input_frames)
