"""Regenerate movmnist/sources/mnist-sample/ (the `sample` source) from the four MNIST IDX files.

    python scripts/make_mnist_sample.py [MNIST_DIR]     # default: $MOVMNIST_MNIST_DIR

The sample is the first 1,000 training and the first 500 test images of MNIST (Yann LeCun,
Corinna Cortes and Christopher J.C. Burges; CC BY-SA 3.0), in MNIST's order, written as
gzipped IDX files with a zero gzip timestamp, so the same input gives the same bytes.
tests/sources/test_sample.py checks that the shipped files are what this script writes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from movmnist import files
from movmnist.sources.sample import SAMPLE_DIR, write_sample


def main(argv: list[str]) -> int:
    source = argv[1] if len(argv) > 1 else os.environ.get("MOVMNIST_MNIST_DIR")
    if not source:
        print("usage: python scripts/make_mnist_sample.py MNIST_DIR (or set MOVMNIST_MNIST_DIR)", file=sys.stderr)
        return 2
    for name, data in write_sample(Path(source)).items():
        files.write_atomic(SAMPLE_DIR / name, data)
        print(f"{SAMPLE_DIR / name}: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
