"""Building: determinism across workers and shard sizes, split hygiene, the manifest, clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import movmnist as mds
from movmnist.builder import build
from movmnist.errors import DatasetError, OutputError
from movmnist.files import sha256_file
from tests.conftest import small_config


def _all(path: Path, split: str, name: str = "frames") -> np.ndarray:
    with mds.open(path) as ds:
        return ds[split].read(name, slice(None))


def test_same_bytes_whatever_workers_or_shard_size(tmp_path: Path) -> None:
    one = build(small_config(), tmp_path / "one", workers=1).to_data()
    two = build(small_config(), tmp_path / "two", workers=2).to_data()
    other = build(small_config("output.shard_size=7", "build.chunk_size=3"), tmp_path / "other", workers=2).to_data()
    for split in ("train", "val", "test"):
        for name in ("frames", "labels", "positions", "source_index"):
            a = _all(tmp_path / "one", split, name)
            np.testing.assert_array_equal(a, _all(tmp_path / "two", split, name))
            np.testing.assert_array_equal(a, _all(tmp_path / "other", split, name))
        assert [s["sha256"] for s in one["splits"][split]["shards"]] == [
            s["sha256"] for s in two["splits"][split]["shards"]
        ]
    assert len(other["splits"]["train"]["shards"]) == 4


def test_seed_changes_frames(tmp_path: Path) -> None:
    build(small_config(), tmp_path / "a", workers=1)
    build(small_config("seed=7"), tmp_path / "b", workers=1)
    assert not np.array_equal(_all(tmp_path / "a", "test"), _all(tmp_path / "b", "test"))


def test_no_source_image_is_shared_between_splits(tmp_path: Path) -> None:
    data = build(small_config("splits.train.sequences=300", "digits.count=3"), tmp_path / "d", workers=1).to_data()
    used = {}
    for split in ("train", "val", "test"):
        idx = _all(tmp_path / "d", split, "source_index")
        pool = data["splits"][split]["pool"]
        used[split] = {(pool.split("[")[0], int(i)) for i in idx.ravel() if i >= 0}
    assert not used["train"] & used["val"] and not used["train"] & used["test"] and not used["val"] & used["test"]
    assert all(0 <= i < 1000 for _, i in used["train"]) and all(1000 <= i < 1200 for _, i in used["val"])
    assert data["splits"]["val"]["pool"] == "train[1000:1200]" and data["splits"]["val"]["pool_size"] == 200


def test_manifest_and_shard_layout(tmp_path: Path) -> None:
    out = tmp_path / "d"
    data = build(small_config(), out, workers=1).to_data()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == data
    assert data["format"] == "movmnist" and data["source"]["synthetic"] is True
    names = [s["file"] for s in data["splits"]["train"]["shards"]]
    assert names == ["train-00000-of-00003.h5", "train-00001-of-00003.h5", "train-00002-of-00003.h5"]
    for shard in data["splits"]["train"]["shards"]:
        assert sha256_file(out / shard["file"]) == shard["sha256"]
    with h5py.File(out / names[1], "r") as f:
        assert f["frames"].shape == (10, 6, 40, 40) and f["frames"].dtype == np.uint8
        assert f["frames"].chunks == (1, 6, 40, 40) and f["frames"].compression == "gzip"
        assert f["labels"].shape == (10, 2) and f["positions"].shape == (10, 6, 2, 2)
        assert f["positions"].dtype == np.int16 and f["source_index"].dtype == np.int32
        assert f.attrs["split"] == "train" and f.attrs["first_index"] == 10 and f.attrs["seed"] == 0
        assert json.loads(f.attrs["config"])["sequence"]["length"] == 6
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "README.md", "preview.gif"]
        + [s["file"] for sp in data["splits"].values() for s in sp["shards"]]
    )


def test_empty_split_is_skipped_and_lzf(tmp_path: Path) -> None:
    data = build(small_config("splits.val.sequences=0", "output.compression=lzf"), tmp_path / "d", workers=1).to_data()
    assert list(data["splits"]) == ["train", "test"]
    with h5py.File(tmp_path / "d" / data["splits"]["test"]["shards"][0]["file"], "r") as f:
        assert f["frames"].compression == "lzf"


def test_refuses_to_clobber(tmp_path: Path) -> None:
    out = tmp_path / "d"
    build(small_config(), out, workers=1)
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(OutputError, match="already holds a movmnist dataset; pass --overwrite"):
        build(small_config("seed=3"), out, workers=1)
    assert (out / "manifest.json").read_bytes() == before
    build(small_config("seed=3"), out, workers=1, overwrite=True)
    assert json.loads((out / "manifest.json").read_text())["config"]["seed"] == 3
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match="is not empty and is not a movmnist dataset"):
        build(small_config(), other, workers=1, overwrite=True)
    assert (other / "notes.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        build(small_config(), tmp_path / "file", workers=1)


def test_loader_indexing(tmp_path: Path) -> None:
    build(small_config(), tmp_path / "d", workers=1)
    with mds.open(tmp_path / "d") as ds:
        test = ds["test"]
        assert len(test) == 16 and "test" in ds and list(ds) == ["train", "val", "test"]
        whole = test[:]
        assert whole.shape == (16, 6, 40, 40)
        np.testing.assert_array_equal(test[3], whole[3])
        np.testing.assert_array_equal(test[-1], whole[15])
        np.testing.assert_array_equal(test[8:13], whole[8:13])
        np.testing.assert_array_equal(test[[12, 2, 9, 10]], whole[[12, 2, 9, 10]])
        np.testing.assert_array_equal(test[::5], whole[::5])
        assert "16 sequences of 6x40x40 uint8 in 2 shards" in repr(test)
        with pytest.raises(IndexError):
            test[16]
        with pytest.raises(DatasetError, match="split 'dev' is not in"):
            ds["dev"]


def test_loader_refuses_unfinished_and_foreign_dirs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no manifest\.json"):
        mds.open(tmp_path)
    out = tmp_path / "d"
    build(small_config(), out, workers=1)
    data = json.loads((out / "manifest.json").read_text())
    data["splits"]["test"]["shards"][0]["file"] = "../../etc/passwd"
    (out / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="not a shard file name"):
        mds.open(out)
