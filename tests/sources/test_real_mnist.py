"""End to end on the real MNIST (skipped, with the reason, where $MOVMNIST_MNIST_DIR is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

import movmnist as mds
from movmnist.cli import cli
from movmnist.sources.idx import read_idx


def _mnist(mnist_dir: Path, name: str) -> np.ndarray:
    return read_idx(next(mnist_dir.glob(f"{name}*")))


def test_standard_build_on_real_mnist(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "mm"
    args = ["build", str(Path(__file__).parents[2] / "configs" / "default.yaml"), "-o", str(out), "-q", "--json"]
    sizes = ["splits.train.sequences=40", "splits.val.sequences=20", "splits.test.sequences=30"]
    local = ["--set", "source.kind=idx", "--set", f"source.path={mnist_dir}"]
    result = CliRunner().invoke(cli, [*args, *local, *[f"--set={s}" for s in sizes]])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["synthetic"] is False and manifest["source"]["kind"] == "idx"
    assert manifest["splits"]["val"]["pool"] == "train[-10000:]" and manifest["splits"]["val"]["pool_size"] == 10000

    images = {"train": _mnist(mnist_dir, "train-images"), "test": _mnist(mnist_dir, "t10k-images")}
    labels = {"train": _mnist(mnist_dir, "train-labels"), "test": _mnist(mnist_dir, "t10k-labels")}
    with mds.open(out) as ds:
        for split, source_split, lo, hi in [
            ("train", "train", 0, 50000),
            ("val", "train", 50000, 60000),
            ("test", "test", 0, 10000),
        ]:
            part = ds[split]
            frames = part[:]
            index = part.read("source_index", slice(None))
            pos = part.read("positions", slice(None))
            assert frames.shape == (len(part), 20, 64, 64)
            assert index.min() >= lo and index.max() < hi
            np.testing.assert_array_equal(part.read("labels", slice(None)), labels[source_split][index])
            for n in range(len(part)):
                for t in (0, 7, 19):
                    expect = np.zeros((64, 64), dtype=np.uint8)
                    for k in range(2):
                        r, c = pos[n, t, k]
                        np.maximum(
                            expect[r : r + 28, c : c + 28],
                            images[source_split][index[n, k]],
                            out=expect[r : r + 28, c : c + 28],
                        )
                    np.testing.assert_array_equal(frames[n, t], expect)
