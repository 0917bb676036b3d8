"""The source-kind catalogue: every `source.kind`, as data.

One row per kind. The config reads it for names (and which kinds need `source.path`),
`movmnist.sources` has one opener per row (tests/config/test_catalogues.py checks they
agree), and `movmnist sources` prints the descriptions. A new kind is a row here and its
opener in `sources/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class SourceKind:
    """One kind of digit source. needs_path: it reads `source.path` (a folder or a file)."""

    name: str
    description: str
    needs_path: bool = False


CATALOGUE: tuple[SourceKind, ...] = (
    SourceKind(
        "tfds",
        "a TensorFlow Datasets image set by name (source.name): mnist, fashion_mnist and kmnist download"
        " without TensorFlow (needs movmnist[tfds]); others (cifar10, emnist/letters, ...) need"
        " movmnist[tensorflow] to prepare",
    ),
    SourceKind("idx", "a folder with the four MNIST IDX files (source.path), raw or .gz", needs_path=True),
    SourceKind("npz", "a Keras-style mnist.npz (source.path) with x_train, y_train, x_test, y_test", needs_path=True),
    SourceKind(
        "sample",
        "real MNIST shipped in the package, no download: 1,000 train + 500 test digits (CC BY-SA 3.0); for demos",
    ),
    SourceKind("synthetic", "built-in handwriting-like digits, no download (source.seed; source.colour for RGB)"),
    SourceKind(
        "images",
        "a folder of PNG or JPEG images (source.path), grey or RGB, of one size, in name order: split 'all',"
        " or a split per subfolder (train/, test/); no classes (labels 0)",
        needs_path=True,
    ),
)

KINDS: Mapping[str, SourceKind] = MappingProxyType({k.name: k for k in CATALOGUE})
NAMES: tuple[str, ...] = tuple(KINDS)
DEFAULT = "tfds"
