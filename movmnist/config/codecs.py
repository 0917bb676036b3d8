"""The codec catalogue: every `output.compression`, as data.

One row per codec. The config reads it for names and levels, `store.shards` turns each
name into HDF5 filter arguments (tests/config/test_catalogues.py checks every row has
them), the plan estimates sizes from `ratio`, and `info` shows the level where a codec
takes one. A new codec is a row here and its filter in `store/shards.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Codec:
    """One compression codec of the shards.

    levels: (lowest, highest, default) for a codec that takes a level, else None.
    plugin: an HDF5 filter plugin (hdf5plugin): readers need `import hdf5plugin`.
    ratio: compressed bytes per raw byte of standard Moving MNIST frames (2 MNIST digits,
        64x64, one sequence per chunk, measured on real MNIST); only the plan's estimate uses
        it, and tests/builder/test_plan.py keeps it within a factor of two of what builds write.
    """

    name: str
    levels: tuple[int, int, int] | None
    plugin: bool
    ratio: float


CATALOGUE: tuple[Codec, ...] = (
    Codec("gzip", (0, 9, 1), plugin=False, ratio=0.040),
    Codec("lzf", None, plugin=False, ratio=0.075),
    Codec("zstd", (1, 22, 3), plugin=True, ratio=0.015),
    Codec("lz4", None, plugin=True, ratio=0.033),
    Codec("none", None, plugin=False, ratio=1.0),
)

CODECS: Mapping[str, Codec] = MappingProxyType({c.name: c for c in CATALOGUE})
NAMES: tuple[str, ...] = tuple(CODECS)
DEFAULT = "gzip"
