"""`export --format croissant`: Croissant JSON-LD of the HDF5 shards, validated by `mlcroissant`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from tests.datasets import tiny

mlc = pytest.importorskip("mlcroissant", reason="mlcroissant is in the croissant and dev extras")
pytestmark = pytest.mark.filterwarnings(
    "ignore:ConjunctiveGraph is deprecated:DeprecationWarning"
)  # rdflib, in mlcroissant


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("croissant") / "d")


def _export(ds: Path, out: Path, *more: str) -> Any:
    return CliRunner().invoke(cli, ["export", str(ds), "--format", "croissant", *more, "-o", str(out)])


def _issues(path: Path) -> tuple[set[Any], set[Any]]:
    metadata = mlc.Dataset(jsonld=str(path)).metadata
    return metadata.ctx.issues.errors, metadata.ctx.issues.warnings


def test_mlcroissant_validates_it_and_it_describes_every_shard(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "meta" / "mm.json"  # elsewhere than the dataset: URLs relative to the JSON file
    out.parent.mkdir()
    result = _export(ds, out)
    assert result.exit_code == 0, result.output
    assert result.output == f"described 4 shards (9 sequences) as croissant -> {out}\n"
    assert _issues(out) == (set(), set())
    data = json.loads(out.read_text())
    manifest = json.loads((ds / "manifest.json").read_text())
    objects = {d["@id"]: d for d in data["distribution"] if d["@type"] == "cr:FileObject"}
    shards = [s for info in manifest["splits"].values() for s in info["shards"]]
    assert sorted(objects) == sorted(["manifest.json", "README.md", *(s["file"] for s in shards)])
    for name, entry in objects.items():
        path = out.parent / entry["contentUrl"]
        assert path.resolve() == (ds / name).resolve()
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["contentSize"] == f"{path.stat().st_size} B"
    assert [s["sha256"] for s in shards] == [objects[s["file"]]["sha256"] for s in shards]
    (fileset,) = [d for d in data["distribution"] if d["@type"] == "cr:FileSet"]
    folder = os.path.relpath(ds, out.parent)
    assert fileset["includes"] == [f"{folder}/train-*.h5", f"{folder}/test-*.h5"]
    splits, sequences = data["recordSet"]
    assert splits["data"] == [{"splits/name": "train"}, {"splits/name": "test"}]
    expected = movmnist.open(ds, annotations=True)["test"][0:1]
    fields = {f["name"]: f for f in sequences["field"]}
    assert list(fields) == ["split", *expected]
    types = {"uint8": "cr:UInt8", "int16": "cr:Int16", "int32": "cr:Int32", "float32": "cr:Float32"}
    for name, array in expected.items():
        assert fields[name]["dataType"] == types[str(array.dtype)], name
        assert fields[name]["arrayShape"] == ",".join(map(str, array.shape[1:])), name
        assert fields[name]["source"] == {"fileSet": {"@id": "shards"}, "extract": {"column": name}}


def test_mlcroissant_would_catch_a_broken_description(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert _export(ds, out).exit_code == 0
    data = json.loads(out.read_text())
    data["recordSet"][1]["field"][0]["references"] = {"field": {"@id": "splits/nothing"}}
    out.write_text(json.dumps(data))
    with pytest.raises(mlc.ValidationError):
        _issues(out)


def test_refused_over_a_file_without_overwrite_and_a_changed_shard(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert _export(ds, out, "-q").exit_code == 0
    again = _export(ds, out, "-q")
    assert again.exit_code == 2
    assert again.output == f"Error: {out} already exists; pass --overwrite to replace it, or choose another -o\n"
    assert _export(ds, out, "-q", "--overwrite").exit_code == 0
    copy = shutil.copytree(ds, tmp_path / "copy")
    shard = copy / "test-00001-of-00002.h5"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    bad = _export(copy, tmp_path / "bad.json")
    assert bad.exit_code == 1
    assert bad.output == f"Error: {shard} does not match the sha256 in manifest.json; run `movmnist verify {copy}`\n"
    assert not (tmp_path / "bad.json").exists()
    stream = _export(ds, Path("-"))
    assert stream.exit_code == 2 and "give -o a file name" in stream.output
    split = CliRunner().invoke(cli, ["export", str(ds), "--format", "croissant", "--split", "test", "-o", str(out)])
    assert split.exit_code == 2 and "describes the whole dataset; give no --split" in split.output
