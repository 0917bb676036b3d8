"""events: stored per sequence (a bit per wall), read back as the table of bounces; Hugging Face
`datasets.load_dataset` on a default-config build; older builds' events tables still read."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import movmnist
from movmnist import build
from movmnist.config import Config
from movmnist.core.annotate import WALLS, events_table
from tests.conftest import small_config


def test_the_table_is_the_bits_rows_sorted() -> None:
    bits = np.zeros((3, 4, 2), np.uint8)
    bits[0, 1, 1] = 0b0101  # top and left at once: a corner
    bits[2, 3, 0] = 0b1000  # right
    table = events_table(bits, np.array([10, 11, 12]))
    assert table.dtype == np.int32
    assert table.tolist() == [[10, 1, 1, 0], [10, 1, 1, 2], [12, 3, 0, 3]]
    assert events_table(np.zeros((0, 4, 2), np.uint8), np.array([], np.int64)).shape == (0, 4)
    assert WALLS == ("top", "bottom", "left", "right")


@pytest.fixture(scope="module")
def default_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """configs/default.yaml's annotations and layout, on synthetic digits, a few sequences per split."""
    out = tmp_path_factory.mktemp("hf") / "mm"
    data = Config().to_data()
    data["source"] = {"kind": "synthetic"}
    data["splits"] = {
        "train": {"sequences": 24, "pool": "train[:-10000]"},
        "val": {"sequences": 8, "pool": "train[-10000:]"},
        "test": {"sequences": 20, "pool": "test"},
    }
    data["output"]["shard_size"] = 10
    build(Config.from_data(data), out, workers=1)
    return out


def test_every_dataset_of_a_shard_has_the_sequence_axis_first(default_build: Path) -> None:
    manifest = json.loads((default_build / "manifest.json").read_text())
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            with h5py.File(default_build / shard["file"]) as f:
                assert {name: f[name].shape[0] for name in f} == dict.fromkeys(f, shard["sequences"])


def test_split_events_reads_the_table_from_the_bits(default_build: Path) -> None:
    test = movmnist.open(default_build)["test"]
    bits = test.read("events", slice(None))
    assert bits.shape == (20, 20, 2) and bits.dtype == np.uint8
    table = test.events()
    assert table.shape[1] == 4 and len(table) == int(np.unpackbits(bits).sum()) > 0
    assert (np.diff(table[:, 0]) >= 0).all()
    assert test.events([7, 3, 7]).tolist() == [row for row in table.tolist() if row[0] in (3, 7)]
    assert test.events(5).tolist() == [row for row in table.tolist() if row[0] == 5]
    assert "events" in test.annotation_names and test.with_annotations()[0]["events"].shape == (20, 2)


def test_huggingface_load_dataset_reads_a_default_build(default_build: Path) -> None:
    datasets = pytest.importorskip("datasets", reason="the datasets package is in the dev extra")
    loaded = datasets.load_dataset(str(default_build), cache_dir=str(default_build.parent / "hf-cache"))
    assert {name: loaded[name].num_rows for name in loaded} == {"train": 24, "validation": 8, "test": 20}
    ours = movmnist.open(default_build)
    for hf_name, name in (("train", "train"), ("validation", "val"), ("test", "test")):
        part = loaded[hf_name].with_format("numpy")
        np.testing.assert_array_equal(part["frames"], ours[name][:])
        np.testing.assert_array_equal(part["events"], ours[name].read("events", slice(None)))


def test_an_older_builds_events_table_still_reads(tmp_path: Path) -> None:
    out = tmp_path / "d"
    build(small_config("splits.val.sequences=0", "splits.train.sequences=0"), out, workers=1)
    with movmnist.open(out) as ds:
        expected = ds["test"].events()
    manifest = json.loads((out / "manifest.json").read_text())
    for shard in manifest["splits"]["test"]["shards"]:
        with h5py.File(out / shard["file"], "r+") as f:  # the layout of earlier builds: one table per shard
            rows = events_table(f["events"][:], np.arange(shard["sequences"]) + shard["first"])
            del f["events"]
            f.create_dataset("events", data=rows, maxshape=(None, 4), chunks=(4096, 4))
    test = movmnist.open(out)["test"]
    assert test.events().tolist() == expected.tolist()
    assert test.events([3]).tolist() == [row for row in expected.tolist() if row[0] == 3]
    assert "events" not in test.annotation_names
