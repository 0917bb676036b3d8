"""`export --format hf`: Parquet per split and a dataset card, read back by Hugging Face `datasets`.

The tiny dataset (train 4, test 5 sequences) is exported in files of 2 rows, so each split
spans several Parquet files, each written in row groups of at most 2 sequences.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.tools.exports import target
from tests.datasets import rgb_copy, tiny

datasets = pytest.importorskip("datasets", reason="the datasets package is in the hf and dev extras")
pa = pytest.importorskip("pyarrow", reason="pyarrow is in the hf and dev extras")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is in the hf and dev extras")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("hf")
    ds = tiny(root / "d")
    out = root / "mm-hf"
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "hf", "--shard-size", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("exported 9 sequences (train 4, test 5) as hf")
    return ds, out


def _stored(column: pa.ChunkedArray) -> np.ndarray:
    """A column's leaf values as stored, flattened (list and ArrayND columns alike)."""
    array = column.combine_chunks()
    while not pa.types.is_primitive(array.type):
        array = array.storage if isinstance(array, pa.ExtensionArray) else array.flatten()
    return array.to_numpy()  # type: ignore[no-any-return]


def _check(ds: Path, split: str, loaded: datasets.Dataset) -> None:
    expected = movmnist.open(ds, annotations=True)[split][:]
    assert len(loaded) == len(expected["frames"]) and loaded.column_names == ["index", *expected]
    arrow = loaded.with_format("arrow")[:]  # as stored: the dtypes of the shards
    np.testing.assert_array_equal(arrow.column("index").to_numpy(), np.arange(len(loaded)))
    rows = loaded.with_format("numpy")[:]  # datasets' numpy format widens integers to int64
    for name, array in expected.items():
        stored = _stored(arrow.column(name))
        assert stored.dtype == array.dtype, name
        np.testing.assert_array_equal(stored.reshape(array.shape), array)
        np.testing.assert_array_equal(rows[name], array)


def test_the_files_and_the_card(exported: tuple[Path, Path]) -> None:
    _, out = exported
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        target.MARKER,
        "README.md",
        "data/test-00000-of-00003.parquet",
        "data/test-00001-of-00003.parquet",
        "data/test-00002-of-00003.parquet",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00002.parquet",
    ]
    meta = pq.ParquetFile(out / "data/test-00000-of-00003.parquet").metadata
    assert (meta.num_rows, meta.num_row_groups) == (2, 1)
    text = (out / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "mit"  # the tiny dataset's digits are movmnist's synthetic ones
    assert front["configs"] == [
        {
            "config_name": "default",
            "data_files": [
                {"split": "train", "path": "data/train-*.parquet"},
                {"split": "test", "path": "data/test-*.parquet"},
            ],
        }
    ]
    assert [(s["name"], s["num_examples"]) for s in front["dataset_info"]["splits"]] == [("train", 4), ("test", 5)]
    assert front["dataset_info"]["features"][1] == {
        "name": "frames",
        "dtype": {"array3_d": {"shape": [6, 40, 40], "dtype": "uint8"}},
    }
    assert "hf upload YOUR-NAME/mm-hf . --repo-type dataset" in text


def test_load_dataset_reads_the_folder(exported: tuple[Path, Path], tmp_path: Path) -> None:
    ds, out = exported
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert list(loaded) == ["train", "test"]
    for split in ("train", "test"):
        _check(ds, split, loaded[split])


def test_load_dataset_parquet_needs_no_card(exported: tuple[Path, Path], tmp_path: Path) -> None:
    ds, out = exported
    files = {"test": sorted(str(p) for p in (out / "data").glob("test-*.parquet"))}
    loaded = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    _check(ds, "test", loaded["test"])  # the features come from the files' own schema


def test_the_same_bytes_again(exported: tuple[Path, Path], tmp_path: Path) -> None:
    ds, out = exported
    again = tmp_path / "again"
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "hf", "--shard-size", "2", "-q", "-o", str(again)])
    assert result.exit_code == 0, result.output
    for p in (out / "data").iterdir():
        assert (again / "data" / p.name).read_bytes() == p.read_bytes()
    assert (again / "README.md").read_text() == (out / "README.md").read_text().replace("mm-hf", "again").replace(
        "mm\\-hf", "again"
    )


def test_a_missing_package_is_one_line(
    exported: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    ds, _ = exported
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "hf", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output == "Error: --format hf needs the pyarrow package: pip install 'movmnist[hf]'\n"
    assert not os.listdir(tmp_path)


def test_colour_frames_are_array4d_captions_a_string_column_and_croissant_text(tmp_path: Path) -> None:
    grey = tiny(tmp_path / "grey", "annotations.captions=true", "annotations.event_captions=true")
    ds = rgb_copy(grey, tmp_path / "d")  # frames [N, 6, 40, 40, 3]
    out = tmp_path / "mm-hf"
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "hf", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    loaded = datasets.load_dataset(str(out), split="test")
    assert loaded.features["frames"] == datasets.Array4D(shape=(6, 40, 40, 3), dtype="uint8")
    stored = movmnist.open(ds)["test"].with_annotations()[:]
    np.testing.assert_array_equal(loaded.with_format("numpy")["frames"], stored["frames"])
    assert loaded.features["captions"] == datasets.Value("string")
    assert loaded["captions"] == [bytes(c).decode("ascii") for c in stored["captions"]]
    assert loaded["event_captions"] == [[bytes(c).decode("ascii") for c in row] for row in stored["event_captions"]]
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "croissant", "-o", str(tmp_path / "c.json")])
    assert result.exit_code == 0, result.output
    assert '"dataType": "sc:Text"' in (tmp_path / "c.json").read_text()
