"""movmnist.cli.sourcing through click's CliRunner: sources.

fetch needs a server to download from: its CLI tests are in tests/sources/test_tfds.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from movmnist.cli import cli


def test_sources_on_an_empty_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "tfds"
    runner = CliRunner()
    # --name kmnist: a set already on the list is listed once
    result = runner.invoke(cli, ["sources", "--set", f"source.data_dir={data_dir}", "--name", "kmnist"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "* tfds       a TensorFlow Datasets image set by name (source.name): mnist, fashion_mnist and kmnist download"
        " without TensorFlow (needs movmnist[tfds]); others (cifar10, emnist/letters, ...) need"
        " movmnist[tensorflow] to prepare",
        "  idx        a folder with the four MNIST IDX files (source.path), raw or .gz",
        "  npz        a Keras-style mnist.npz (source.path) with x_train, y_train, x_test, y_test",
        "  sample     real MNIST shipped in the package, no download: 1,000 train + 500 test digits (CC BY-SA 3.0);"
        " for demos",
        "  synthetic  built-in handwriting-like digits, no download (source.seed; source.colour for RGB)",
        "  images     a folder of PNG or JPEG images (source.path), grey or RGB, of one size, in name order:"
        " split 'all', or a split per subfolder (train/, test/); no classes (labels 0)",
        f"tfds sets in {data_dir}:",
        "  mnist            not cached; movmnist fetch mnist downloads it (no TensorFlow)",
        "  fashion_mnist    not cached; movmnist fetch fashion_mnist downloads it (no TensorFlow)",
        "  kmnist           not cached; movmnist fetch kmnist downloads it (no TensorFlow)",
    ]
    assert not data_dir.exists()  # it downloads nothing, and creates nothing

    synthetic = runner.invoke(
        cli, ["sources", "--set", "source.kind=synthetic", "--set", f"source.data_dir={data_dir}"]
    )
    assert synthetic.exit_code == 0
    assert [line[:12] for line in synthetic.output.splitlines()[:5]] == [
        "  tfds      ",
        "  idx       ",
        "  npz       ",
        "  sample    ",
        "* synthetic ",
    ]
    as_json = runner.invoke(cli, ["sources", "--set", f"source.data_dir={data_dir}", "--json"])
    report = json.loads(as_json.output)
    assert report["source"] == "tfds" and [item["cached"] for item in report["tfds"]] == [False, False, False]
