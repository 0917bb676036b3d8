"""The loader: a built dataset as Python objects, read lazily through the manifest.

`open(path)["test"][0:8]` gives the frames [8, T, H, W] uint8 of the first eight test
sequences. Objects hold paths, not handles; each process opens the shards it reads, so
splits can be pickled into worker processes (a PyTorch DataLoader, say).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import DatasetError
from movmnist.manifest import read_manifest
from movmnist.shards import ShardReader


class Split:
    """One split: `len()`, integer and slice indexing over frames, annotations by name."""

    def __init__(self, root: Path, name: str, info: dict[str, Any]) -> None:
        self.root = root
        self.name = name
        self.info = info
        self._shards = [ShardReader(root / s["file"]) for s in info["shards"]]
        self._firsts = [int(s["first"]) for s in info["shards"]]
        self._length = int(info["sequences"])

    def __len__(self) -> int:
        return self._length

    def __repr__(self) -> str:
        return f"<movmnist split {self.name!r}: {self._length} sequences in {len(self._shards)} shards>"

    def _indices(self, key: int | slice | np.ndarray | list[int]) -> tuple[np.ndarray, bool]:
        if isinstance(key, slice):
            return np.arange(*key.indices(self._length)), False
        if isinstance(key, int | np.integer):
            i = int(key) + (self._length if key < 0 else 0)
            if not 0 <= i < self._length:
                raise IndexError(f"sequence {key} is out of range for split {self.name!r} of {self._length}")
            return np.array([i]), True
        idx = np.asarray(key, dtype=np.int64)
        if idx.ndim != 1 or (len(idx) and (idx.min() < -self._length or idx.max() >= self._length)):
            raise IndexError(f"indices out of range for split {self.name!r} of {self._length}")
        return np.where(idx < 0, idx + self._length, idx), False

    def read(self, name: str, key: int | slice | np.ndarray | list[int]) -> np.ndarray:
        """Read dataset `name` (frames, labels, positions, source_index) for the sequences `key`."""
        idx, scalar = self._indices(key)
        parts = []
        # Consecutive runs within one shard become one slice read (one call into HDF5).
        start = 0
        while start < len(idx):
            shard = bisect.bisect_right(self._firsts, int(idx[start])) - 1
            first = self._firsts[shard]
            end_of_shard = first + int(self.info["shards"][shard]["sequences"])
            stop = start + 1
            while stop < len(idx) and idx[stop] == idx[stop - 1] + 1 and idx[stop] < end_of_shard:
                stop += 1
            lo, hi = int(idx[start]) - first, int(idx[stop - 1]) - first + 1
            parts.append(self._shards[shard].read(name, slice(lo, hi)))
            start = stop
        if not parts:
            return self._shards[0].read(name, slice(0, 0)) if self._shards else np.empty((0,))
        out = np.concatenate(parts) if len(parts) > 1 else parts[0]
        return out[0] if scalar else out

    def __getitem__(self, key: int | slice | np.ndarray | list[int]) -> np.ndarray:
        return self.read("frames", key)

    def chunks(self, size: int = 256) -> Iterator[np.ndarray]:
        """Frames in consecutive chunks of `size` sequences (the last may be shorter)."""
        for start in range(0, self._length, size):
            yield self[start : start + size]

    def close(self) -> None:
        for shard in self._shards:
            shard.close()


class Dataset:
    """A built dataset: a mapping from split name to `Split`."""

    def __init__(self, root: str | PathLike[str]) -> None:
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        self._splits = {name: Split(self.root, name, info) for name, info in self.manifest["splits"].items()}

    def __getitem__(self, name: str) -> Split:
        try:
            return self._splits[name]
        except KeyError:
            raise DatasetError(
                f"split {name!r} is not in {self.root} (it has: {', '.join(self._splits) or 'none'})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def __contains__(self, name: object) -> bool:
        return name in self._splits

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self._splits.items())
        return f"<movmnist dataset {str(self.root)!r}: {sizes}; sequence {tuple(self.manifest['sequence_shape'])}>"

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest["source"].get("synthetic"))

    def close(self) -> None:
        for split in self._splits.values():
            split.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
