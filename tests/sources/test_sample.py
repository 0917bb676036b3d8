"""The MNIST sample shipped in the package (`source.kind: sample`): what it holds, and that it is MNIST's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.config import Source
from movmnist.sources import open_source
from movmnist.sources.idx import read_idx
from movmnist.sources.sample import SAMPLE_DIR, SIZES, write_sample

ROOT = Path(__file__).parents[2]


def test_the_sample_holds_1000_train_and_500_test_digits_under_a_megabyte() -> None:
    source = open_source(Source(kind="sample"))
    assert source.kind == "sample" and source.synthetic is False
    for split, count in SIZES.items():
        images = source.load(split)
        assert images.images.shape == (count, 28, 28) and images.images.dtype == np.uint8
        assert sorted(set(images.labels.tolist())) == list(range(10))
    assert sum(p.stat().st_size for p in SAMPLE_DIR.iterdir()) < 1_000_000
    described = source.describe()
    assert described["license"] == "CC BY-SA 3.0" and "LeCun" in described["attribution"]
    assert described["path"] is None  # never a site-packages path in a manifest


def test_the_shipped_files_are_what_the_script_makes_from_mnist(mnist_dir: Path) -> None:
    made = write_sample(mnist_dir)
    assert sorted(made) == sorted(p.name for p in SAMPLE_DIR.iterdir())
    for name, data in made.items():
        assert (SAMPLE_DIR / name).read_bytes() == data, f"{name} differs: run scripts/make_mnist_sample.py"
    # and they are MNIST's first images, in order
    full = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert np.array_equal(open_source(Source(kind="sample")).load("test").images, full[:500])


def test_the_demo_builds_on_the_sample_offline_with_its_attribution_in_the_card(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    sizes = ["splits.train.sequences=20", "splits.val.sequences=10", "splits.test.sequences=10"]
    args = ["build", str(ROOT / "configs" / "demo.yaml"), "-o", str(out), "-q", *[f"--set={s}" for s in sizes]]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    card = (out / "README.md").read_text()
    assert "## License and citation" in card
    assert "Yann LeCun, Corinna Cortes and Christopher J.C. Burges" in card and "CC BY-SA 3.0" in card
    assert "handwritten digits" in card and "synthetic" not in card.split("## Config")[0]
    with movmnist.open(out) as ds:
        assert ds.manifest.source["kind"] == "sample"
        assert int(ds["test"].read("source_index", slice(None)).max()) < SIZES["test"]
