"""Procedural datasets: any dataset a config describes, generated on the fly, byte for byte.

`movmnist.procedural(cfg)["train"][17]` is what `movmnist.open(built)["train"][17]` reads
from the shards `movmnist build` writes from the same config: item i is computed from
(config, split, i) by the build's own generator (`core.generate`) with the build's own
pools (`sources.pools`), so the same checks apply (disjoint pools, digits that fit) and
no file is written. The splits have the loader's interface (`read.views.SplitView`):
views, slices and index arrays (one generator call a batch), iteration, chunks.

Epochs: `split.epoch(e)` is the split as training epoch e draws it. Epoch 0 is the built
dataset; epoch e >= 1 draws every sequence afresh, sequence i keyed on (seed, split, e, i)
(`core.rng`), so an epoch's items depend on neither the worker count nor the order they
are asked for. `split.epoch(e).stream(batch_size)` gives them in batches (`views.Stream`).

A split holds the config and plain values only: it pickles small into DataLoader workers
(any start method), and each process loads the pools it needs once, on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movmnist.config import Annotations, Config
from movmnist.core.annotate import events_table
from movmnist.core.generate import Chunk, Frames, draws_lazily, generate, sequence_shape
from movmnist.core.pool import Pool
from movmnist.errors import DatasetError
from movmnist.read.views import Key, SplitMap, SplitView, annotation_order
from movmnist.sources.pools import check_pools, pool_for
from movmnist.store.schema import BASIC, Layout

# Sequences generated per generator call in a large batch: bounds the memory of the
# chunk's intermediate arrays (masks, motion) while frames go straight into the output.
BLOCK = 1024
# `split[i]` right after `split[i - 1]` generates sequences i .. i + AHEAD - 1 in one call
# and hands out the next ones from there: one sequence alone costs ~10x its share of a
# batch (the generator's per-call overhead), so items read in order cost about a batch's.
AHEAD = 32
# Where the compiled kernel draws the frames from the motion alone (`generate.draws_lazily`),
# frames and the basic datasets come from the motion of a block of SCENE sequences, planned
# in one generator call and kept (the last SCENES blocks, ~1 MB each): an item then costs
# one kernel call (~10 us), a batch of consecutive sequences one call too.
SCENE = 1024
SCENES = 32

_NO_ANNOTATIONS = Annotations.none()
# What a cached scene holds: the frames (drawn from its planned motion) and the basic datasets.
_SCENED = frozenset(("frames", *BASIC))


class ProceduralSplit(SplitView):
    """One split generated from a config (the interface: `SplitView`); `epoch(e)` for training epochs."""

    def __init__(
        self,
        config: Config,
        name: str,
        sprite_shape: tuple[int, ...],
        *,
        epoch: int = 0,
        annotations: bool = False,
        input_frames: int | None = None,
        sprite: tuple[int, int] | None = None,
    ) -> None:
        c = config
        shape = sequence_shape(c, sprite_shape)
        length = getattr(c.splits, name).sequences
        super().__init__(
            name,
            length,
            shape,
            annotations=annotations,
            input_frames=input_frames,
            sprite=sprite or (int(sprite_shape[0]), int(sprite_shape[1])),
        )
        self.config = config
        self.sprite_shape = tuple(sprite_shape)
        self.epoch_number = epoch
        self._layout = Layout.of(c, shape)
        # Items without annotations skip computing them: the frames are the same bytes.
        self._bare = c.model_copy(update={"annotations": _NO_ANNOTATIONS})
        self._rows = self._layout.shapes()
        self._pool: Pool | None = None
        # Read-ahead: (names, first index, arrays) of the last block generated, and the
        # index that would continue the last single item asked for.
        self._ahead: tuple[tuple[str, ...], int, dict[str, np.ndarray]] | None = None
        self._next = -1
        self._lazy = draws_lazily(self._bare)
        self._scenes: dict[int, Chunk] = {}  # block -> its chunk, frames not drawn (oldest first)

    def _copy(self, **options: Any) -> ProceduralSplit:
        kw = {"epoch": self.epoch_number, **self._options(**options)}
        return ProceduralSplit(self.config, self.name, self.sprite_shape, **kw)

    def epoch(self, e: int) -> ProceduralSplit:
        """This split as training epoch `e` draws it: 0 is the built dataset, e >= 1 a fresh draw
        of every sequence (sequence i keyed on (seed, split, e, i))."""
        if not isinstance(e, int | np.integer) or e < 0:
            raise ValueError(f"epoch must be an integer >= 0 (got {e!r})")
        return ProceduralSplit(self.config, self.name, self.sprite_shape, epoch=int(e), **self._options())

    @property
    def annotation_names(self) -> tuple[str, ...]:
        """The datasets besides `frames` a build of the config stores (`events()` gives `events` as a table)."""
        return annotation_order(n for n in self._layout.shapes() if n != "frames")

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.shape[1:]))
        text = f"<movmnist procedural split {self.name!r}: {self._length} sequences of {shape} uint8"
        text += f", epoch {self.epoch_number}"
        return text + self._repr_options() + ">"

    # --- generating ----------------------------------------------------------------

    def pool(self) -> Pool:
        """The split's digit pool, loaded once per process."""
        if self._pool is None:
            self._pool = pool_for(self.config, self.name)
        return self._pool

    def _generate(self, cfg: Config, idx: np.ndarray, out: np.ndarray | None = None) -> Any:
        return generate(cfg, self.pool(), self.name, idx, out=out, epoch=self.epoch_number)

    def _fetch(self, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        rows = self._rows
        unknown = [n for n in names if n not in rows]
        if unknown:
            raise DatasetError(f"split {self.name!r} has no {unknown[0]!r}; it holds {', '.join(rows)}")
        if self._lazy and _SCENED.issuperset(names):
            return self._from_scenes(names, idx)
        if len(idx) == 1:
            return self._one(names, int(idx[0]))
        return self._many(names, idx)

    def _scene(self, block: int) -> Chunk:
        """Block `block`'s sequences (SCENE of them) with their frames not yet drawn."""
        chunk = self._scenes.get(block)
        if chunk is None:
            lo = block * SCENE
            idx = np.arange(lo, min(lo + SCENE, self._length))
            # `out` only tells generate to return lazy frames: they are drawn with `draw`, into the caller's array.
            chunk = generate(self._bare, self.pool(), self.name, idx, np.empty(0, np.uint8), True, self.epoch_number)
            if len(self._scenes) >= SCENES:
                del self._scenes[next(iter(self._scenes))]
            self._scenes[block] = chunk
        return chunk

    def _from_scenes(self, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        """`names` of the sequences `idx`: each run of consecutive indices within a block in one kernel call."""
        rows, n = self._rows, len(idx)
        out = {name: np.empty((n, *rows[name][0]), rows[name][1]) for name in names}
        if n == 0:
            return out
        if n == 1:  # split[i]: one run
            runs = [(0, 1, *divmod(int(idx[0]), SCENE))]
        else:  # where a run of consecutive indices within one block starts
            broken = (np.diff(idx) != 1) | (np.diff(idx // SCENE) != 0)
            starts = np.flatnonzero(np.r_[True, broken]).tolist()
            ends = [*starts[1:], n]
            runs = [(s, e, *divmod(int(idx[s]), SCENE)) for s, e in zip(starts, ends, strict=True)]
        for s, e, block, lo in runs:
            chunk = self._scene(block)
            hi = lo + e - s
            for name in names:
                if name == "frames":
                    assert isinstance(chunk.frames, Frames)
                    chunk.frames.draw(lo, hi, out[name][s:e])
                else:
                    out[name][s:e] = getattr(chunk, name)[lo:hi]
        return out

    def _one(self, names: tuple[str, ...], i: int) -> dict[str, np.ndarray]:
        """Sequence i alone, or from the read-ahead block when items are read in order."""
        sequential, self._next = i == self._next, i + 1
        ahead = self._ahead
        if ahead is not None and ahead[0] == names and ahead[1] <= i < ahead[1] + AHEAD:
            row = i - ahead[1]
            if row < len(ahead[2][names[0]]):
                return {name: a[row : row + 1].copy() for name, a in ahead[2].items()}
        if not sequential:
            return self._many(names, np.array([i]))
        block = self._many(names, np.arange(i, min(i + AHEAD, self._length)))
        self._ahead = (names, i, block)
        return {name: a[:1].copy() for name, a in block.items()}

    def _many(self, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        rows = self._rows
        cfg = self._bare if _SCENED.issuperset(names) else self.config
        n = len(idx)
        if 0 < n <= BLOCK:
            chunk = self._generate(cfg, idx)
            return {name: np.asarray(getattr(chunk, name), dtype=rows[name][1]) for name in names}
        out = {name: np.empty((n, *rows[name][0]), rows[name][1]) for name in names}
        frames = out.get("frames")
        for lo in range(0, n, BLOCK):
            hi = min(lo + BLOCK, n)
            # The block's frames are drawn straight into the output (a contiguous slice of it).
            chunk = self._generate(cfg, idx[lo:hi], None if frames is None else frames[lo:hi])
            for name in names:
                if name != "frames":
                    out[name][lo:hi] = getattr(chunk, name)
        return out

    @property
    def has_events(self) -> bool:
        return "events" in self._layout.shapes()

    def events(self, key: Key | None = None) -> np.ndarray:
        """The event table [E, 4] int32 (sequence, frame, digit, kind) of the sequences `key`
        (default: all), sorted; kind 0-3 a wall ("top", "bottom", "left", "right"), 4 + j a
        collision with digit slot j (motion.preset: elastic; both digits have a row)."""
        if not self.has_events:
            raise DatasetError(f"split {self.name!r} has no events; set annotations.events: true")
        idx = np.arange(self._length) if key is None else np.unique(self._indices(key)[0])
        parts = [np.empty((0, 4), np.int32)]
        for lo in range(0, len(idx), BLOCK):
            block = idx[lo : lo + BLOCK]
            parts.append(events_table(self._generate(self.config, block).events, block))
        return np.concatenate(parts)

    def __getstate__(self) -> dict[str, Any]:
        # The config and plain values: the receiving process loads the pool itself.
        return {**self.__dict__, "_pool": None, "_ahead": None, "_next": -1, "_scenes": {}}


class ProceduralDataset(SplitMap[ProceduralSplit]):
    """A dataset generated from a config: a mapping from split name to `ProceduralSplit`.

    Checks the config as a build does (the pools are loaded and checked here, once) and
    resolves `sequences: all`. `annotations` and `input_frames` set every split's view.
    """

    def __init__(self, config: Config, *, annotations: bool = False, input_frames: int | None = None) -> None:
        sizes, sprite = check_pools(config)
        self.config = config.resolve_counts(sizes)
        self.sprite_shape = sprite
        splits = {
            name: ProceduralSplit(self.config, name, sprite, annotations=annotations, input_frames=input_frames)
            for name, _ in self.config.splits.active()
        }
        super().__init__(splits, "this procedural dataset")

    @property
    def sequence_shape(self) -> tuple[int, ...]:
        return sequence_shape(self.config, self.sprite_shape)

    @property
    def synthetic(self) -> bool:
        return self.config.source.kind == "synthetic"

    @property
    def sprite_size(self) -> tuple[int, int]:
        """(h, w) of the digit sprites."""
        return int(self.sprite_shape[0]), int(self.sprite_shape[1])

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self._splits.items())
        return f"<movmnist procedural dataset: {sizes}; sequence {self.sequence_shape}>"
