"""What every export format shares: its row in the registry (`Format`), the flags (`Options`), progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Progress = Callable[[int], None]  # called with the units done (a format's `unit`) as they are


@dataclass(frozen=True)
class Format:
    """One export format.

    splits: "one" (a single split, test by default), "many" (the splits asked for, every split
    by default) or "dataset" (the dataset as a whole: no --split).
    writer: "module:function" beside this one; the function `(dataset, out, splits, options,
    progress) -> summary` writes the format.
    needs: the Python modules it imports, with the extra that installs them.
    """

    name: str
    writes: Literal["file", "directory"]
    splits: Literal["one", "many", "dataset"]
    unit: Literal["frame", "seq", "shard"]
    writer: str
    summary: str
    needs: tuple[str, ...] = ()
    extra: str | None = None


@dataclass(frozen=True)
class Options:
    """What the formats' flags ask for (each format reads its own)."""

    layout: str = "tnhw"  # npy
    input_frames: int | None = None  # predrnn-npz
    shard_size: int | None = None  # webdataset, hf: sequences per file
    overwrite: bool = False  # the directory formats and croissant
    chunk: int = 256  # sequences read at a time


def per_split(result: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The summary of a format that writes each split apart: {name: {sequences, bytes, ...}} and the totals."""
    return {
        "splits": result,
        "sequences": sum(s["sequences"] for s in result.values()),
        "bytes": sum(s["bytes"] for s in result.values()),
    }
