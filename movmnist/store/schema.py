"""The shard schema: every dataset a shard can hold, as data.

One row per dataset: its name, dtype, shape per sequence (or per row, for tables), how it
is chunked, whether a config must ask for it, and what it means. Everything that writes,
reads, checks, estimates or documents a shard reads this table: `shards` (creating the
datasets), the loader (the order of annotations), `verify`, the plan's size estimate and
the dataset card. A new annotation is a row here, a field of `config.Annotations` (when a
config switches it) and an array of `core.generate.Chunk` (tests/store/test_schema.py
checks the three agree).

Shapes are written in symbols: T frames (T-1: the pairs of consecutive frames), H x W canvas,
C the colour axis (present only for colour datasets), K the maximum digit count, P the query
points of a sequence's tracks (annotations.tracks), I the input frames a corruption touches
(corruptions.input_frames), T*K the most event captions a sequence can have (one per frame and
digit); numbers are fixed sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from movmnist.config import Config
from movmnist.config.presets import PRESETS
from movmnist.core import captions, generate
from movmnist.core.annotate import events_dtype

Axis = str | int


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of a shard.

    shape: per sequence (or per row of a table), in the symbols of the module docstring;
        "C" is left out for grey datasets.
    per: "sequence" (the first axis is the sequence) or "row" (a table appended row by row).
        Every dataset is per sequence now, so that each has the sequence axis first (as
        Hugging Face's HDF5 loader and any row-wise reader want); earlier builds held
        `events` as a table [E, 4] int32, which the loader still reads (`LEGACY_EVENTS`).
    chunk: "sequence" (one sequence per HDF5 chunk: frame-sized data that random access
        decompresses alone) or "block" (up to BLOCK_ROWS sequences or rows per chunk).
    optional: stored only when the config asks for it (`annotations`, render.combine: over
        for z_order, render.colour for colours, a `corruptions` kind for its record,
        render.background); the four basic datasets are always stored.
    """

    name: str
    dtype: str
    shape: tuple[Axis, ...]
    meaning: str
    per: Literal["sequence", "row"] = "sequence"
    chunk: Literal["sequence", "block"] = "block"
    optional: bool = True

    def resolve(self, sequence: tuple[int, ...], digits: int, points: int = 0, inputs: int = 0) -> tuple[int, ...]:
        """The concrete shape without the leading axis, for sequences of `sequence` ((T, H, W) or
        (T, H, W, C)), `digits` slots, `points` query points and `inputs` input frames."""
        sizes = {"T": sequence[0], "T-1": sequence[0] - 1, "H": sequence[1], "W": sequence[2], "K": digits}
        sizes["T*K"] = sequence[0] * digits
        sizes |= {"P": points, "I": inputs}
        out: list[int] = []
        for axis in self.shape:
            if axis == "C":
                out += list(sequence[3:])
            else:
                out.append(sizes[axis] if isinstance(axis, str) else axis)
        return tuple(out)


BLOCK_ROWS = 4096  # sequences (or table rows) per chunk of a "block" dataset

# In the order a shard is written; basic datasets first.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("frames", "uint8", ("T", "H", "W", "C"), "the videos", chunk="sequence", optional=False),
    DatasetSpec("labels", "int16", ("K",), "digit class of each digit slot, -1 if absent", optional=False),
    DatasetSpec(
        "positions",
        "int16",
        ("T", "K", 2),
        "top-left (row, col) pixel of each digit in each frame, -1 if absent",
        optional=False,
    ),
    DatasetSpec(
        "source_index",
        "int32",
        ("K",),
        "index of each digit's image in the source's own split, -1 if absent",
        optional=False,
    ),
    DatasetSpec(
        "trajectories", "float32", ("T", "K", 2), "sub-pixel (row, col) position of each digit, in free ranges"
    ),
    DatasetSpec(
        "velocities",
        "float32",
        ("T", "K", 2),
        "(row, col) velocity of each digit after each frame, in free ranges per frame",
    ),
    DatasetSpec("boxes", "int16", ("T", "K", 4), "visible ink box of each digit (x0, y0, x1, y1), -1 when hidden"),
    DatasetSpec(
        "amodal_boxes", "int16", ("T", "K", 4), "whole ink box of each digit (x0, y0, x1, y1), even where occluded"
    ),
    DatasetSpec(
        "masks",
        "uint8",
        ("T", "H", "W"),
        "which digit shows at each pixel: slot + 1, 0 for background",
        chunk="sequence",
    ),
    DatasetSpec(
        "flow",
        "float16",
        ("T-1", "H", "W", 2),
        "forward flow (dy, dx) in pixels of the digit owning each pixel, from frame t to t + 1; 0 on background",
        chunk="sequence",
    ),
    DatasetSpec(
        "flow_valid",
        "bool",
        ("T-1", "H", "W"),
        "where frame t + 1 shows the pixel's ink at pixel + flow (false on background, occluded or off the canvas)",
        chunk="sequence",
    ),
    DatasetSpec(
        "tracks",
        "float32",
        ("P", "T", 2),
        "(row, col) in pixels of each query point in each frame, on its digit's ink at frame 0",
    ),
    DatasetSpec("occluded", "bool", ("P", "T"), "where a query point is hidden by another digit or off the canvas"),
    DatasetSpec("visibility", "float32", ("T", "K"), "visible fraction of each digit's ink"),
    DatasetSpec("z_order", "int8", ("K",), "layer of each digit, 0 drawn first"),
    DatasetSpec(
        "events",
        "uint8",
        ("T", "K"),
        "bounces of each digit right before each frame: bit w set for wall w (1 top, 2 bottom, 4 left, 8 right);"
        " where digits collide (elastic), bit 4 + j for a collision with slot j, in a wider dtype past 4 slots",
    ),
    DatasetSpec(
        "corrupt_blackout",
        "int16",
        ("I", 4),
        "corruptions.perceptual: the square of each input frame set to 0 (x0, y0, x1, y1)",
    ),
    DatasetSpec("corrupt_missing", "bool", ("I",), "corruptions.missing: which input frames were set to 0"),
    DatasetSpec(
        "corrupt_positions",
        "int16",
        ("I", "K", 2),
        "corruptions.dynamic: top-left (row, col) pixel each digit is drawn at in each input frame, -1 if absent",
    ),
    DatasetSpec(
        "captions",
        "S",
        (),
        "one sentence describing the sequence (core.captions), ASCII, null-padded to a width set by K, T and"
        " the preset",
    ),
    DatasetSpec(
        "event_captions",
        "S",
        ("T*K",),
        "one sentence per bounce or collision of a digit right before a frame (core.captions.per_event), in frame"
        " then slot order, b'' after the last; ASCII, null-padded to a width set by K and the preset",
    ),
    DatasetSpec(
        "event_frames",
        "int32",
        ("T*K", 2),
        "(first, last) frame of each event caption: (t - 1, t) for one right before frame t, (0, 0) at t = 0;"
        " -1 after the last",
    ),
    DatasetSpec(
        "colours",
        "int8",
        ("K",),
        "render.colour: palette index of each digit's colour (the label's with probability label_correlation),"
        " -1 if absent",
    ),
    DatasetSpec(
        "background_index", "int32", (), "index of the background image in its source's own split (render.background)"
    ),
    DatasetSpec(
        "background_shift",
        "int16",
        ("T", 2),
        "(row, col) the background is rolled by in each frame, modulo the canvas (render.background.drift)",
    ),
)

SCHEMA: Mapping[str, DatasetSpec] = MappingProxyType({d.name: d for d in DATASETS})
BASIC = tuple(d.name for d in DATASETS if not d.optional and d.name != "frames")  # labels, positions, source_index
OPTIONAL = tuple(d.name for d in DATASETS if d.optional and d.per == "sequence")
TABLES = tuple(d.name for d in DATASETS if d.per == "row")
LEGACY_EVENTS = ((4,), "int32")  # the row shape and dtype of the `events` table of older builds


@dataclass(frozen=True)
class Layout:
    """The datasets of one shard: the schema resolved for a sequence shape, a digit count and
    the optional datasets the build stores."""

    sequence: tuple[int, ...]  # (T, H, W) or (T, H, W, C)
    digits: int  # K, the maximum digit count
    extras: tuple[str, ...] = ()  # names from OPTIONAL and TABLES that this shard stores
    points: int = 0  # P, the query points of `tracks` (annotations.tracks)
    inputs: int = 0  # I, the input frames of the corruption records (corruptions.input_frames)
    collisions: bool = False  # digits collide (a preset that `collides`): `events` has a bit per slot too

    @classmethod
    def of(cls, cfg: Config, sequence: tuple[int, ...], extras: tuple[str, ...] | None = None) -> Layout:
        """The layout of a build of `cfg` for sequences of `sequence` ((T, H, W) or (T, H, W, C));
        extras: the optional datasets it stores (default: those the config asks for)."""
        return cls(
            sequence=tuple(sequence),
            digits=cfg.digits.count[1],
            extras=generate.extras(cfg) if extras is None else extras,
            points=cfg.annotations.tracks,
            inputs=cfg.corruptions.input_frames,
            collisions=PRESETS[cfg.motion.preset].collides,
        )

    def specs(self) -> tuple[DatasetSpec, ...]:
        """The datasets this shard holds, in schema order."""
        return tuple(d for d in DATASETS if not d.optional or d.name in self.extras)

    def shapes(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-sequence datasets: name -> (shape without the sequence axis, dtype)."""
        return {
            d.name: (d.resolve(self.sequence, self.digits, self.points, self.inputs), self._dtype(d))
            for d in self.specs()
            if d.per == "sequence"
        }

    def _dtype(self, d: DatasetSpec) -> str:
        if d.name == "events":
            return str(events_dtype(self.digits, self.collisions))
        if d.name == "captions":
            return np.dtype(f"S{captions.width(self.digits, self.sequence[0], self.collisions)}").str
        if d.name == "event_captions":
            return np.dtype(f"S{captions.event_width(self.digits, self.collisions)}").str
        return d.dtype

    def tables(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Tables: name -> (row shape, dtype)."""
        return {
            d.name: (d.resolve(self.sequence, self.digits, self.points, self.inputs), d.dtype)
            for d in self.specs()
            if d.per == "row"
        }
