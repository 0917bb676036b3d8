"""movmnist: Moving MNIST datasets, built fast, reproducibly, as HDF5 shards."""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from movmnist.dataset import Dataset

__version__ = "0.1.0"


def open(path: str | PathLike[str]) -> Dataset:
    """Open a built dataset directory: `movmnist.open("data/mm")["test"][0:8]`."""
    from movmnist.dataset import Dataset

    return Dataset(path)
