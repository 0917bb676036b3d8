"""The loader: a built dataset as Python objects, read lazily through the manifest.

`open(path)["test"][0:8]` gives the frames [8, T, H, W] uint8 of the first eight test
sequences ([8, T, H, W, C] for colour datasets). Objects hold paths, not handles; each
process opens the shards it reads on first use, so splits can be pickled into worker
processes (a PyTorch DataLoader with `num_workers > 0`, say).

A split is a map-style dataset whose items depend on two options, each set by a method
that returns a new view (the split itself is never changed):

| view                                  | `split[i]`                                          |
| ------------------------------------- | --------------------------------------------------- |
| `split`                               | frames [T, H, W] uint8                              |
| `split.with_input_frames(K)`          | (input [K, H, W], target [T - K, H, W])             |
| `split.with_annotations()`            | {"frames": ..., "labels": [K], "positions": ...}    |
| both                                  | {"input": ..., "target": ..., "labels": ..., ...}   |

Annotations are whatever datasets the shards hold besides `frames` (labels, positions,
source_index, and any a preset adds), read by name; per-frame ones are not cut at K.
Slices and index lists give the same structures with a leading sequence axis.

One module past ~300 lines: `Split` and `Dataset` are one interface (the mapping and its
views), which the procedural datasets will share.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import DatasetError
from movmnist.store.manifest import Manifest, SplitEntry, read_manifest
from movmnist.store.reader import ShardReader
from movmnist.store.schema import BASIC, OPTIONAL, TABLES

Key = int | slice | np.ndarray | list[int]
# Known annotations first, in this order; anything else a shard holds follows, sorted.
_ORDER = (*BASIC, *OPTIONAL)


class Split:
    """One split: `len()`, integer, slice and index-list indexing, iteration, chunks."""

    def __init__(
        self,
        root: Path,
        name: str,
        info: SplitEntry,
        sequence_shape: tuple[int, ...] | None = None,
        *,
        annotations: bool = False,
        input_frames: int | None = None,
        sprite: tuple[int, int] | None = None,
        _shards: list[ShardReader] | None = None,
    ) -> None:
        self.root = root
        self.sprite = sprite
        self.name = name
        self.info = info
        self.sequence_shape = tuple(sequence_shape) if sequence_shape is not None else None
        self._shards = _shards if _shards is not None else [ShardReader(root / s.file) for s in info.shards]
        self._firsts = [s.first for s in info.shards]
        self._length = info.sequences
        self.annotations = annotations
        if input_frames is not None:
            length = self.sequence_shape[0] if self.sequence_shape else None
            if not isinstance(input_frames, int) or input_frames < 1 or (length is not None and input_frames >= length):
                raise ValueError(
                    f"input_frames must be an integer in [1, {length if length else 'T'} - 1] (got {input_frames!r}):"
                    " the first K frames are the input, the rest the target"
                )
        self.input_frames = input_frames
        self._names: tuple[str, ...] | None = None
        self._rows: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}  # name -> (shape of a row, dtype)

    # --- views ---------------------------------------------------------------------

    def _view(self, **options: Any) -> Split:
        kw: dict[str, Any] = {
            "annotations": self.annotations,
            "input_frames": self.input_frames,
            "sprite": self.sprite,
            **options,
        }
        return Split(self.root, self.name, self.info, self.sequence_shape, _shards=self._shards, **kw)

    def with_annotations(self, on: bool = True) -> Split:
        """A view whose items are dicts: frames (or input/target) plus every annotation dataset."""
        return self._view(annotations=on)

    def with_input_frames(self, k: int | None) -> Split:
        """A view whose items are (input, target): the first k frames and the remaining T - k."""
        return self._view(input_frames=k)

    # --- shape and names -----------------------------------------------------------

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, T, H, W) or (N, T, H, W, C): the shape of `split[:]`'s frames."""
        if self.sequence_shape is None:
            return (self._length, *self._shards[0].datasets()["frames"][0][1:])
        return (self._length, *self.sequence_shape)

    @property
    def annotation_names(self) -> tuple[str, ...]:
        """The datasets besides `frames` that the shards hold (read from the first shard)."""
        if self._names is None:
            names = [n for n in self._shards[0].datasets() if n != "frames" and n not in TABLES] if self._shards else []
            known = [n for n in _ORDER if n in names]
            self._names = (*known, *sorted(n for n in names if n not in _ORDER))
        return self._names

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape[1:])) if self.sequence_shape else "?"
        n = len(self._shards)
        text = f"<movmnist split {self.name!r}: {self._length} sequences of {shape} uint8 in {n} shard{'s' * (n != 1)}"
        if self.input_frames is not None:
            text += f"; input_frames={self.input_frames}"
        if self.annotations:
            text += "; with annotations"
        return text + ">"

    # --- reading -------------------------------------------------------------------

    def _indices(self, key: Key) -> tuple[np.ndarray, bool]:
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

    def read(self, name: str, key: Key) -> np.ndarray:
        """Read dataset `name` (frames, labels, positions, source_index, ...) for the sequences `key`."""
        idx, scalar = self._indices(key)
        out = self._read_runs(name, self._runs(idx), len(idx))
        return out[0] if scalar else out

    def _runs(self, idx: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(shard, first row, end row, position in the output) of each run of consecutive
        sequences within one shard: each run is one read."""
        runs = []
        start = 0
        while start < len(idx):
            shard = bisect.bisect_right(self._firsts, int(idx[start])) - 1
            first = self._firsts[shard]
            end_of_shard = first + self.info.shards[shard].sequences
            stop = start + 1
            while stop < len(idx) and idx[stop] == idx[stop - 1] + 1 and idx[stop] < end_of_shard:
                stop += 1
            runs.append((shard, int(idx[start]) - first, int(idx[stop - 1]) - first + 1, start))
            start = stop
        return runs

    def _read_runs(self, name: str, runs: list[tuple[int, int, int, int]], n: int) -> np.ndarray:
        """Dataset `name` for `runs` (from `_runs`), each read straight into one output array."""
        if not self._shards:
            return np.empty((0,))
        known = self._rows.get(name)
        if known is None:  # every shard of a split holds the same shapes (read_into checks)
            known = self._rows[name] = self._shards[runs[0][0] if runs else 0].row_shape(name)
        row, dtype = known
        out = np.empty((n, *row), dtype)
        for shard, lo, hi, at in runs:
            self._shards[shard].read_into(name, lo, hi, out[at : at + hi - lo])
        return out

    def events(self, key: Key | None = None) -> np.ndarray:
        """The bounce table [E, 4] int32 (sequence, frame, digit, wall) of the sequences `key`
        (default: all), sorted; walls index ("top", "bottom", "left", "right")."""
        if not self._shards or "events" not in self._shards[0].datasets():
            raise DatasetError(f"split {self.name!r} has no events; build with annotations.events: true")
        rows = np.concatenate([shard.read("events", slice(None)) for shard in self._shards])
        if key is None:
            return rows
        idx, _ = self._indices(key)
        return rows[np.isin(rows[:, 0], idx)]

    def sprite_boxes(self, key: Key) -> np.ndarray:
        """Each digit's sprite square in each frame: [..., T, K, 4] int64 (x0, y0, x1, y1).

        The square the motion rules move (its top-left is `positions`, its side the digit
        size from the manifest), clipped to the canvas, x1/y1 exclusive, in the same
        convention as the stored `boxes`/`amodal_boxes` ink boxes; -1 (all four) where the
        slot is unused or the square is wholly off the canvas.
        """
        if self.sprite is None:
            raise DatasetError(f"split {self.name!r} was opened without the digit size; open it with movmnist.open")
        pos = self.read("positions", key).astype(np.int64)
        h, w = self.sprite
        return self._clip(pos[..., 1], pos[..., 0], pos[..., 1] + w, pos[..., 0] + h, key)

    def digit_boxes(self, key: Key) -> np.ndarray:
        """Each digit's box, (x0, y0, x1, y1) as `sprite_boxes`: its stored ink box (`amodal_boxes`, else
        `boxes`) when the shards hold one, else its sprite square. Clipped to the canvas;
        -1 (all four) where the digit is absent or nothing of its box is on the canvas."""
        names = self.annotation_names
        stored = next((n for n in ("amodal_boxes", "boxes") if n in names), None)
        if stored is None:
            return self.sprite_boxes(key)
        b = self.read(stored, key).astype(np.int64)  # (x0, y0, x1, y1)
        unset = (b == -1).all(axis=-1)
        box = self._clip(b[..., 0], b[..., 1], b[..., 2], b[..., 3], key)
        box[unset] = -1
        return box

    def _clip(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, key: Key) -> np.ndarray:
        height, width = self.shape[2:4]
        box = np.stack(
            [np.clip(x0, 0, width), np.clip(y0, 0, height), np.clip(x1, 0, width), np.clip(y1, 0, height)],
            axis=-1,
        )
        used = self.read("labels", key) >= 0  # [..., K]
        shown = used[..., None, :] & (box[..., 2] > box[..., 0]) & (box[..., 3] > box[..., 1])
        box[~shown] = -1
        return box

    def _item(self, key: Key) -> Any:
        idx, scalar = self._indices(key)
        runs = self._runs(idx)  # found once, for frames and every annotation

        def read(name: str) -> np.ndarray:
            out = self._read_runs(name, runs, len(idx))
            return out[0] if scalar else out

        frames = read("frames")
        k = self.input_frames
        if k is not None:
            time = 0 if frames.ndim == len(self.shape) - 1 else 1  # a single sequence has no leading axis
            cut = (slice(None),) * time
            pair = (frames[(*cut, slice(0, k))], frames[(*cut, slice(k, None))])
        if not self.annotations:
            return pair if k is not None else frames
        item: dict[str, np.ndarray] = {"input": pair[0], "target": pair[1]} if k is not None else {"frames": frames}
        for name in self.annotation_names:
            item[name] = read(name)
        return item

    def __getitem__(self, key: Key) -> Any:
        return self._item(key)

    def chunks(self, size: int = 256) -> Iterator[Any]:
        """Items of `size` consecutive sequences at a time (the last may be shorter), in this view's form."""
        if size < 1:
            raise ValueError(f"chunk size must be >= 1 (got {size})")
        for start in range(0, self._length, size):
            yield self._item(slice(start, min(start + size, self._length)))

    def __iter__(self) -> Iterator[Any]:
        """One item per sequence, read 64 sequences at a time."""
        for chunk in self.chunks(64):
            n = len(chunk["labels"] if isinstance(chunk, dict) and "labels" in chunk else _first(chunk))
            for i in range(n):
                yield _take(chunk, i)

    def close(self) -> None:
        for shard in self._shards:
            shard.close()

    def __getstate__(self) -> dict[str, Any]:
        # Paths and options only: the shapes read are found again by the process that reads.
        return {**self.__dict__, "_rows": {}}


def _first(item: Any) -> np.ndarray:
    if isinstance(item, tuple):
        return np.asarray(item[0])
    if isinstance(item, dict):
        return next(iter(item.values()))
    return np.asarray(item)


def _take(item: Any, i: int) -> Any:
    if isinstance(item, tuple):
        return tuple(part[i] for part in item)
    if isinstance(item, dict):
        return {name: part[i] for name, part in item.items()}
    return item[i]


class Dataset:
    """A built dataset: a mapping from split name to `Split`.

    `annotations` and `input_frames` set the view of every split (see the module docstring).
    `manifest` lets a build describe the dataset it is writing before its manifest.json exists.
    """

    def __init__(
        self,
        root: str | PathLike[str],
        *,
        annotations: bool = False,
        input_frames: int | None = None,
        manifest: Manifest | None = None,
    ) -> None:
        self.root = Path(root)
        self.manifest = manifest if manifest is not None else read_manifest(self.root)
        shape = self.manifest.sequence_shape
        try:
            sprite: tuple[int, int] | None = sprite_size(self.manifest)
        except DatasetError:  # only sprite_boxes needs it; that raises when asked
            sprite = None
        self._splits = {
            name: Split(self.root, name, info, shape, annotations=annotations, input_frames=input_frames, sprite=sprite)
            for name, info in self.manifest.splits.items()
        }

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
        return f"<movmnist dataset {str(self.root)!r}: {sizes}; sequence {self.manifest.sequence_shape}>"

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.source.get("synthetic"))

    @property
    def sprite_size(self) -> tuple[int, int]:
        """(h, w) of the digit sprites: `digits.size`, or the source's image size when that is null."""
        return sprite_size(self.manifest)

    def close(self) -> None:
        for split in self._splits.values():
            split.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sprite_size(manifest: Manifest) -> tuple[int, int]:
    """(h, w) of the digit sprites a manifest describes (digits.size, else the source images')."""
    digits = manifest.config.get("digits")
    size = digits.get("size") if isinstance(digits, dict) else None
    if isinstance(size, int) and size > 0:
        return size, size
    splits = manifest.source.get("splits")
    for split in splits.values() if isinstance(splits, dict) else ():
        shape = split.get("image_shape") if isinstance(split, dict) else None
        if isinstance(shape, list) and len(shape) >= 2 and all(isinstance(d, int) and d > 0 for d in shape[:2]):
            return shape[0], shape[1]
    raise DatasetError("the manifest does not give the digit size (config digits.size or source image_shape)")
