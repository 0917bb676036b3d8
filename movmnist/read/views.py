"""The interface every split shares, whatever makes its items: shards on disk or the generator.

A split is a map-style dataset whose items depend on two options, each set by a method
that returns a new view (the split itself is never changed):

| view                                  | `split[i]`                                          |
| ------------------------------------- | --------------------------------------------------- |
| `split`                               | frames [T, H, W] uint8                              |
| `split.with_input_frames(K)`          | (input [K, H, W], target [T - K, H, W])             |
| `split.with_annotations()`            | {"frames": ..., "labels": [K], "positions": ...}    |
| both                                  | {"input": ..., "target": ..., "labels": ..., ...}   |

Annotations are the datasets a build stores besides `frames` (labels, positions,
source_index, and any the config adds), by name; per-frame ones are not cut at K. Slices
and index lists give the same structures with a leading sequence axis.

`SplitView` does the indexing, the views, iteration and chunks once; a source of items
(`read.dataset.Split`, the shards; `read.procedural.ProceduralSplit`, the generator) says
only how to fetch named arrays for an array of sequence indices (`_fetch`). `SplitMap` is
the mapping from split name to split that `movmnist.open` and `movmnist.procedural` return.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any, Generic, Self, TypeVar

import numpy as np

from movmnist.errors import DatasetError, UnknownSplitError
from movmnist.store.schema import BASIC, OPTIONAL

Key = int | slice | np.ndarray | list[int]
# Known annotations first, in this order; anything else a shard holds follows, sorted.
_ORDER = (*BASIC, *OPTIONAL)


def annotation_order(names: Iterable[str]) -> tuple[str, ...]:
    """Annotation names in the order items list them: the schema's first, then the rest sorted."""
    names = list(names)
    known = [n for n in _ORDER if n in names]
    return (*known, *sorted(n for n in names if n not in _ORDER))


class SplitView(ABC):
    """One split: `len()`, integer, slice and index-list indexing, iteration, chunks, views.

    Subclasses hold the items' source and give `_fetch`, `annotation_names`, `has_events`,
    `events`, `epoch` and `_copy` (the same split with other view options).
    """

    def __init__(
        self,
        name: str,
        length: int,
        sequence_shape: tuple[int, ...] | None,
        *,
        annotations: bool = False,
        input_frames: int | None = None,
        sprite: tuple[int, int] | None = None,
    ) -> None:
        self.name = name
        self._length = length
        self.sequence_shape = tuple(sequence_shape) if sequence_shape is not None else None
        self.sprite = sprite
        self.annotations = annotations
        if input_frames is not None:
            t = self.sequence_shape[0] if self.sequence_shape else None
            if not isinstance(input_frames, int) or input_frames < 1 or (t is not None and input_frames >= t):
                raise ValueError(
                    f"input_frames must be an integer in [1, {t if t else 'T'} - 1] (got {input_frames!r}):"
                    " the first K frames are the input, the rest the target"
                )
        self.input_frames = input_frames

    # --- what a source of items gives ------------------------------------------------

    @abstractmethod
    def _fetch(self, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        """The datasets `names` for the sequences `idx` (int64, in range), each [len(idx), ...]."""

    @property
    @abstractmethod
    def annotation_names(self) -> tuple[str, ...]:
        """The datasets besides `frames` that items carry with annotations, in `annotation_order`."""

    @property
    @abstractmethod
    def has_events(self) -> bool:
        """Whether the split has an event table (`events`)."""

    @abstractmethod
    def events(self, key: Key | None = None) -> np.ndarray:
        """The event table [E, 4] int32 (sequence, frame, digit, kind) of the sequences `key`
        (default: all), sorted; kind 0-3 a wall ("top", "bottom", "left", "right"), 4 + j a
        collision with digit slot j (motion.preset: elastic; both digits have a row)."""

    @abstractmethod
    def epoch(self, e: int) -> Self:
        """The split as training epoch `e` draws it; epoch 0 is the built dataset."""

    @abstractmethod
    def _copy(self, **options: Any) -> Self:
        """The same split with other view options (annotations, input_frames)."""

    # --- views ---------------------------------------------------------------------

    def with_annotations(self, on: bool = True) -> Self:
        """A view whose items are dicts: frames (or input/target) plus every annotation dataset."""
        return self._copy(annotations=on)

    def with_input_frames(self, k: int | None) -> Self:
        """A view whose items are (input, target): the first k frames and the remaining T - k."""
        return self._copy(input_frames=k)

    def _options(self, **options: Any) -> dict[str, Any]:
        return {"annotations": self.annotations, "input_frames": self.input_frames, "sprite": self.sprite, **options}

    # --- shape ---------------------------------------------------------------------

    def __len__(self) -> int:
        return self._length

    @property
    def shape(self) -> tuple[int, ...]:
        """(N, T, H, W) or (N, T, H, W, C): the shape of `split[:]`'s frames."""
        if self.sequence_shape is None:
            raise DatasetError(f"split {self.name!r} does not know its sequence shape")
        return (self._length, *self.sequence_shape)

    def _repr_options(self) -> str:
        text = f"; input_frames={self.input_frames}" if self.input_frames is not None else ""
        return text + ("; with annotations" if self.annotations else "")

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
        """Dataset `name` (frames, labels, positions, source_index, ...) for the sequences `key`."""
        idx, scalar = self._indices(key)
        out = self._fetch((name,), idx)[name]
        return out[0] if scalar else out

    def _item(self, key: Key) -> Any:
        idx, scalar = self._indices(key)
        names = ("frames", *self.annotation_names) if self.annotations else ("frames",)
        got = self._fetch(names, idx)  # one fetch for frames and every annotation
        if scalar:
            got = {name: value[0] for name, value in got.items()}
        frames = got.pop("frames")
        k = self.input_frames
        if k is not None:
            time = 0 if scalar else 1
            cut = (slice(None),) * time
            pair = (frames[(*cut, slice(0, k))], frames[(*cut, slice(k, None))])
        if not self.annotations:
            return pair if k is not None else frames
        item: dict[str, np.ndarray] = {"input": pair[0], "target": pair[1]} if k is not None else {"frames": frames}
        item.update(got)
        return item

    def __getitem__(self, key: Key) -> Any:
        return self._item(key)

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """Items `indices` as a list, fetched as one batch: PyTorch's DataLoader calls this
        (when a dataset has it) with a batch's indices, instead of `__getitem__` per item."""
        batch = self._item(np.asarray(indices, dtype=np.int64))
        return [_take(batch, i) for i in range(len(indices))]

    def stream(self, batch_size: int, drop_last: bool = False) -> Stream:
        """This view's items in index order, `batch_size` sequences a batch (see `Stream`)."""
        return Stream(self, batch_size, drop_last)

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

    # --- boxes ---------------------------------------------------------------------

    def sprite_boxes(self, key: Key) -> np.ndarray:
        """Each digit's sprite square in each frame: [..., T, K, 4] int64 (x0, y0, x1, y1).

        The square the motion rules move (its top-left is `positions`, its side the digit
        size), clipped to the canvas, x1/y1 exclusive, in the same convention as the stored
        `boxes`/`amodal_boxes` ink boxes; -1 (all four) where the slot is unused or the
        square is wholly off the canvas.
        """
        if self.sprite is None:
            raise DatasetError(f"split {self.name!r} was opened without the digit size; open it with movmnist.open")
        pos = self.read("positions", key).astype(np.int64)
        h, w = self.sprite
        return self._clip(pos[..., 1], pos[..., 0], pos[..., 1] + w, pos[..., 0] + h, key)

    def digit_boxes(self, key: Key) -> np.ndarray:
        """Each digit's box, (x0, y0, x1, y1) as `sprite_boxes`: its stored ink box (`amodal_boxes`, else
        `boxes`) when the split has one, else its sprite square. Clipped to the canvas;
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

    def close(self) -> None:  # noqa: B027  (a generated split holds nothing open)
        """Let go of whatever the split holds open."""


class Stream:
    """A split's items in index order, `batch_size` sequences a batch: an iterable of batches.

    Batch b holds sequences [b * batch_size, (b + 1) * batch_size), in the split's view form
    with a leading batch axis, generated or read in one call. `batches(worker, workers)`
    takes every workers-th batch from `worker` on, so that workers splitting an epoch between
    them, taken in turn, give the same stream as one process (what `for_torch` does in each
    DataLoader worker). Torch-free; `for_torch()` is the thin PyTorch adapter.
    """

    def __init__(self, split: SplitView, batch_size: int, drop_last: bool = False) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1 (got {batch_size!r})")
        self.split, self.batch_size, self.drop_last = split, batch_size, drop_last

    def __len__(self) -> int:
        n, b = len(self.split), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def batch(self, b: int) -> Any:
        """Batch `b` of the stream."""
        if not 0 <= b < len(self):
            raise IndexError(f"batch {b} is out of range for a stream of {len(self)} batches")
        return self.split[b * self.batch_size : min((b + 1) * self.batch_size, len(self.split))]

    def batches(self, worker: int = 0, workers: int = 1) -> Iterator[Any]:
        """Batches worker, worker + workers, worker + 2 * workers, ... of the stream."""
        for b in range(worker, len(self), workers):
            yield self.batch(b)

    def __iter__(self) -> Iterator[Any]:
        return self.batches()

    def for_torch(self, floats: bool = False) -> Any:
        """This stream as a PyTorch IterableDataset of batches of tensors (`read.torchdata`); give it
        to `DataLoader(..., batch_size=None)`. floats: frames as float32 in [0, 1] (uint8 / 255)."""
        from movmnist.read.torchdata import TorchStream

        return TorchStream(self, floats)

    def __repr__(self) -> str:
        return f"<movmnist stream of {len(self)} batches of {self.batch_size} from {self.split!r}>"


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


S = TypeVar("S", bound=SplitView)
SPLIT_ALIASES = {"validation": "val"}  # other libraries' names for our splits


class SplitMap(Generic[S]):
    """A dataset: a mapping from split name (train, val, test) to its split."""

    def __init__(self, splits: dict[str, S], where: str) -> None:
        self._splits = splits
        self._where = where  # how errors name the dataset

    def __getitem__(self, name: str) -> S:
        """The split `name`: train, val (or its alias validation, as Hugging Face names it) or test."""
        try:
            return self._splits[SPLIT_ALIASES.get(name, name)]
        except (KeyError, TypeError):
            raise UnknownSplitError(
                f"split {name!r} is not in {self._where} (it has: {', '.join(self._splits) or 'none'})"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._splits)

    def __len__(self) -> int:
        return len(self._splits)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and SPLIT_ALIASES.get(name, name) in self._splits

    def close(self) -> None:
        for split in self._splits.values():
            split.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
