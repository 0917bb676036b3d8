"""A small sample of the real MNIST, shipped inside the package: `source.kind: sample`.

The first 1,000 training and the first 500 test images of MNIST, in MNIST's order, as four
gzipped IDX files in `mnist-sample/` (about 250 KB), so that a demo build shows real
handwriting with no download. `source_index` i of a sample pool is MNIST image i of the
same split. MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, available
under CC BY-SA 3.0 (`LICENSE`, `ATTRIBUTION`): a dataset built from it carries that
licence, and its card says so. `scripts/make_mnist_sample.py` regenerates the files from
the full IDX files (`write_sample`), byte for byte.

Too few digits for a benchmark: results on it are not Moving MNIST results.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.sources.base import Images
from movmnist.sources.idx import FILE_NAMES, SPLIT_FILES, IdxSource, open_idx, read_idx

SAMPLE_DIR = Path(__file__).with_name("mnist-sample")
SIZES: dict[str, int] = {"train": 1000, "test": 500}  # the first images of each MNIST split
LICENSE = "CC BY-SA 3.0"
ATTRIBUTION = (
    "MNIST handwritten digit database, Yann LeCun, Corinna Cortes and Christopher J.C. Burges,"
    " http://yann.lecun.com/exdb/mnist/, CC BY-SA 3.0"
)


@dataclass(frozen=True, eq=False)
class SampleSource:
    """The shipped MNIST sample. Splits: 'train' (1,000 images) and 'test' (500)."""

    files: IdxSource

    kind = "sample"
    synthetic = False

    def split_names(self) -> tuple[str, ...]:
        return self.files.split_names()

    def load(self, split: str) -> Images:
        """The split's images [M, 28, 28] uint8 and labels [M] int64."""
        return self.files.load(split)

    def describe(self) -> dict[str, Any]:
        described = self.files.describe()
        return {
            **described,
            "kind": self.kind,
            "path": None,  # inside the installed package: where it is differs from machine to machine
            "name": "mnist-sample",
            "license": LICENSE,
            "attribution": ATTRIBUTION,
        }


def open_sample() -> SampleSource:
    """The shipped sample; SourceError (from the idx reader) if the package's files are missing."""
    return SampleSource(files=open_idx(SAMPLE_DIR))


def write_sample(mnist_dir: Path) -> dict[str, bytes]:
    """The sample's files, {file name: gzipped IDX bytes}, cut from the full MNIST IDX files in mnist_dir.

    Deterministic: gzip level 9 with a zero timestamp and no file name in the header.
    """
    out: dict[str, bytes] = {}
    for split, names in SPLIT_FILES.items():
        for name in names:
            found = next(p for p in (mnist_dir / name, mnist_dir / f"{name}.gz") if p.exists())
            array = np.ascontiguousarray(read_idx(found)[: SIZES[split]], dtype=np.uint8)
            magic = 0x0800 + array.ndim
            header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
            out[f"{name}.gz"] = gzip.compress(header + array.tobytes(), compresslevel=9, mtime=0)
    assert sorted(n.removesuffix(".gz") for n in out) == sorted(FILE_NAMES)
    return out
