"""The loader: a built dataset as Python objects, read lazily through the manifest.

`open(path)["test"][0:8]` gives the frames [8, T, H, W] uint8 of the first eight test
sequences ([8, T, H, W, C] for colour datasets). Objects hold paths, not handles; each
process opens the shards it reads on first use, so splits can be pickled into worker
processes (a PyTorch DataLoader with `num_workers > 0`, say).

The split's interface (views, indexing, iteration, chunks) is `read.views.SplitView`, which
it shares with the procedural datasets (`read.procedural`); this module holds only the
source of its items: the shards, through the manifest.
"""

from __future__ import annotations

import bisect
import os
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.core.annotate import events_table
from movmnist.errors import DatasetError
from movmnist.read.views import Key, SplitMap, SplitView, annotation_order
from movmnist.store.manifest import MANIFEST, Manifest, SplitEntry, read_manifest
from movmnist.store.reader import ShardReader
from movmnist.store.schema import LEGACY_EVENTS, TABLES


class Split(SplitView):
    """One split of a built dataset, read from its shards (the interface: `SplitView`)."""

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
        stamp: tuple[int, int] | None = None,
        _shards: list[ShardReader] | None = None,
    ) -> None:
        super().__init__(
            name, info.sequences, sequence_shape, annotations=annotations, input_frames=input_frames, sprite=sprite
        )
        self.root = root
        self.stamp = stamp  # (device, inode) of the manifest read: a shard opened later must be of the same dataset
        self.info = info
        self._shards = _shards if _shards is not None else [ShardReader(root / s.file) for s in info.shards]
        self._firsts = [s.first for s in info.shards]
        self._names: tuple[str, ...] | None = None
        self._rows: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}  # name -> (shape of a row, dtype)
        self._checked: set[int] = set()  # shards whose sequence count matches the manifest's

    def _copy(self, **options: Any) -> Split:
        return Split(
            self.root,
            self.name,
            self.info,
            self.sequence_shape,
            stamp=self.stamp,
            _shards=self._shards,
            **self._options(**options),
        )

    def epoch(self, e: int) -> Split:
        """Epoch 0 is this dataset; a built dataset holds no other (`movmnist.procedural` draws them)."""
        if e == 0:
            return self
        raise DatasetError(
            f"a built dataset holds epoch 0 only (asked for epoch {e}); "
            "draw fresh epochs with movmnist.procedural(config)[split].epoch(e)"
        )

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
            if self._legacy_events():  # an older build's table, not a per-sequence dataset
                names.remove("events")
            self._names = annotation_order(names)
        return self._names

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape[1:])) if self.sequence_shape else "?"
        n = len(self._shards)
        text = f"<movmnist split {self.name!r}: {self._length} sequences of {shape} uint8 in {n} shard{'s' * (n != 1)}"
        return text + self._repr_options() + ">"

    # --- reading -------------------------------------------------------------------

    def _fetch(self, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        if len(names) == 1:
            return {names[0]: self._read_runs(names[0], self._runs(idx), len(idx))}
        runs = self._runs(idx)  # found once, for frames and every annotation
        if not self._shards:
            return {name: np.empty((0,)) for name in names}
        outs = {name: np.empty((len(idx), *row), dtype) for name in names for row, dtype in [self._row(name, runs)]}
        for shard, lo, hi, at in runs:  # each run: one pass over its shard for every dataset
            self._shards[shard].read_many({name: out[at : at + hi - lo] for name, out in outs.items()}, lo, hi)
        return outs

    def _row(self, name: str, runs: list[tuple[int, int, int, int]]) -> tuple[tuple[int, ...], np.dtype[Any]]:
        """(row shape, dtype) of dataset `name`; every shard of a split holds the same (read_many checks)."""
        known = self._rows.get(name)
        if known is None:
            known = self._rows[name] = self._shards[runs[0][0] if runs else 0].row_shape(name)
        return known

    def _runs(self, idx: np.ndarray) -> list[tuple[int, int, int, int]]:
        """(shard, first row, end row, position in the output) of each run of consecutive
        sequences within one shard: each run is one read."""
        if len(idx) == 1:  # one sequence (random access): one run, found without the loop
            i = int(idx[0])
            shard = bisect.bisect_right(self._firsts, i) - 1
            return [(shard, i - self._firsts[shard], i - self._firsts[shard] + 1, 0)]
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
        row, dtype = self._row(name, runs)
        out = np.empty((n, *row), dtype)
        for shard, lo, hi, at in runs:
            self._counted(shard).read_into(name, lo, hi, out[at : at + hi - lo])
        return out

    @property
    def has_events(self) -> bool:
        return bool(self._shards) and "events" in self._shards[0].datasets()

    def _counted(self, shard: int) -> ShardReader:
        """Shard `shard`, once checked to hold as many sequences as the manifest says (so a manifest
        that lies about counts raises instead of giving a split of the wrong length)."""
        reader = self._shards[shard]
        if shard not in self._checked:
            expected = self.info.shards[shard].sequences
            try:
                found = reader.datasets()
            except (KeyError, ValueError) as exc:  # h5py's errors for a damaged object header, too
                raise DatasetError(
                    f"shard {reader.path}: cannot list its datasets ({exc}); run movmnist verify"
                ) from None
            for name, (shape, _) in found.items():
                legacy = name == "events" and len(shape) == 2  # older builds: a table of rows
                if name not in TABLES and not legacy and (not shape or shape[0] != expected):
                    raise DatasetError(
                        f"shard {reader.path}: {name!r} holds {shape[0] if shape else 0} sequences, the manifest"
                        f" says {expected}; run movmnist verify"
                    )
            if self.stamp is not None and _stamp(self.root) != self.stamp:
                raise DatasetError(
                    f"{self.root} was replaced (rebuilt with --overwrite?) after it was opened; open it again"
                )
            self._checked.add(shard)
        return reader

    def events(self, key: Key | None = None) -> np.ndarray:
        """The event table [E, 4] int32 (sequence, frame, digit, kind) of the sequences `key`
        (default: all), sorted; kind 0-3 a wall ("top", "bottom", "left", "right"), 4 + j a
        collision with digit slot j (motion.preset: elastic; both digits have a row).

        The shards hold the per-sequence bit mask `events` [N, T, K] (`read("events", key)`; uint8,
        wider where digits collide past 4 slots);
        this is the same information as rows. Builds before that layout held the rows themselves.
        """
        if not self.has_events:
            raise DatasetError(f"split {self.name!r} has no events; build with annotations.events: true")
        if self._legacy_events():
            rows = np.concatenate([shard.read("events", slice(None)) for shard in self._shards])
            if key is None:
                return rows
            idx, _ = self._indices(key)
            return rows[np.isin(rows[:, 0], idx)]
        idx = np.arange(self._length) if key is None else np.unique(self._indices(key)[0])
        return events_table(self._read_runs("events", self._runs(idx), len(idx)), idx)

    def _legacy_events(self) -> bool:
        """True when the shards hold `events` as the table [E, 4] int32 of older builds."""
        shape, dtype = self._shards[0].datasets().get("events", ((), ""))
        return (tuple(shape[1:]), dtype) == LEGACY_EVENTS and len(shape) == 2

    def close(self) -> None:
        for shard in self._shards:
            shard.close()

    def __getstate__(self) -> dict[str, Any]:
        # Paths and options only: the shapes read (and counts checked) are found again by the process that reads.
        return {**self.__dict__, "_rows": {}, "_checked": set()}


class Dataset(SplitMap[Split]):
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
        stamp = _stamp(self.root) if manifest is None else None
        self.manifest = manifest if manifest is not None else read_manifest(self.root)
        if stamp is not None and _stamp(self.root) != stamp:
            raise DatasetError(
                f"{self.root} was replaced (rebuilt with --overwrite?) while it was opened; open it again"
            )
        shape = self.manifest.sequence_shape
        try:
            sprite: tuple[int, int] | None = sprite_size(self.manifest)
        except DatasetError:  # only sprite_boxes needs it; that raises when asked
            sprite = None
        splits = {
            name: Split(
                self.root,
                name,
                info,
                shape,
                annotations=annotations,
                input_frames=input_frames,
                sprite=sprite,
                stamp=stamp,
            )
            for name, info in self.manifest.splits.items()
        }
        super().__init__(splits, str(self.root))

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


def _stamp(root: Path) -> tuple[int, int] | None:
    """(device, inode) of the manifest: which build of the directory a reader has."""
    try:
        st = os.stat(root / MANIFEST)
    except OSError:
        return None
    return st.st_dev, st.st_ino


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
