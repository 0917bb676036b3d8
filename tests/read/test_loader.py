"""The loader as a user meets it: views, iteration, pickling, a DataLoader; and `info`."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.builder import build
from movmnist.cli import cli
from tests.conftest import small_config


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loader") / "d"
    build(small_config(), out, workers=1)
    return out


def test_views_cut_frames_and_carry_annotations(built: Path) -> None:
    test = movmnist.open(built)["test"]
    whole = test[:]
    assert test.shape == (16, 6, 40, 40) == whole.shape
    names = ("labels", "positions", "source_index", "trajectories", "velocities")
    names += ("boxes", "amodal_boxes", "masks", "visibility", "events")
    assert test.annotation_names == names

    pairs = test.with_input_frames(2)
    x, y = pairs[5]
    np.testing.assert_array_equal(x, whole[5, :2])
    np.testing.assert_array_equal(y, whole[5, 2:])
    xs, ys = pairs[3:9]
    assert xs.shape == (6, 2, 40, 40) and ys.shape == (6, 4, 40, 40)
    np.testing.assert_array_equal(np.concatenate([xs, ys], axis=1), whole[3:9])

    item = test.with_annotations()[4]
    assert set(item) == {"frames", *names}
    np.testing.assert_array_equal(item["labels"], test.read("labels", 4))
    assert item["positions"].shape == (6, 2, 2)

    both = movmnist.open(built, annotations=True, input_frames=4)["test"][[1, 15]]
    assert set(both) == {"input", "target", *names}
    assert both["input"].shape == (2, 4, 40, 40) and both["target"].shape == (2, 2, 40, 40)
    assert both["positions"].shape == (2, 6, 2, 2)  # per-frame annotations are not cut

    assert test.input_frames is None and not test.annotations  # views never change the split
    assert "input_frames=2" in repr(pairs) and "with annotations" in repr(test.with_annotations())
    assert repr(test) == "<movmnist split 'test': 16 sequences of 6x40x40 uint8 in 2 shards>"
    for bad in (0, 6, 2.5):
        with pytest.raises(ValueError, match="input_frames must be an integer in"):
            test.with_input_frames(bad)  # type: ignore[arg-type]


def test_iteration_and_chunks(built: Path) -> None:
    val = movmnist.open(built)["val"]
    whole = val[:]
    np.testing.assert_array_equal(np.stack(list(val)), whole)
    sizes = [len(c) for c in val.chunks(3)]
    assert sizes == [3, 3, 2]
    chunks = list(val.with_annotations().chunks(5))
    np.testing.assert_array_equal(np.concatenate([c["labels"] for c in chunks]), val.read("labels", slice(None)))
    items = list(val.with_input_frames(1))
    assert len(items) == 8 and items[7][1].shape == (5, 40, 40)


def test_pickled_split_reopens_its_files(built: Path) -> None:
    test = movmnist.open(built)["test"].with_annotations()
    before = test[11]  # the shard is open here: pickling must leave the handle behind
    clone = pickle.loads(pickle.dumps(test))
    after = clone[11]
    for name in before:
        np.testing.assert_array_equal(before[name], after[name])


def test_dataloader_with_two_workers_matches_indexing(built: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install -e '.[test-torch]')")
    split = movmnist.open(built)["train"].with_input_frames(3)
    direct = split[:]  # opens the files in this process first: workers must not reuse the handles
    loader = torch.utils.data.DataLoader(split, batch_size=5, num_workers=2, shuffle=False)
    xs, ys = zip(*[(x, y) for x, y in loader], strict=True)
    assert isinstance(xs[0], torch.Tensor) and xs[0].dtype == torch.uint8
    np.testing.assert_array_equal(torch.cat(xs).numpy(), direct[0])
    np.testing.assert_array_equal(torch.cat(ys).numpy(), direct[1])


def test_info_json_matches_the_manifest(built: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(built), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    manifest = json.loads((built / "manifest.json").read_text())
    assert summary["sequences"] == 48 and summary["frames"] == 48 * 6
    for name, split in manifest["splits"].items():
        assert summary["splits"][name]["sequences"] == split["sequences"]
        assert summary["splits"][name]["shards"] == len(split["shards"])
        assert summary["splits"][name]["bytes"] == sum(s["bytes"] for s in split["shards"])
    assert summary["sequence_shape"] == manifest["sequence_shape"] == [6, 40, 40]
    assert summary["source"] == {"kind": "synthetic", "path": None, "synthetic": True}
    assert summary["compression"] == {"codec": "gzip", "level": 1}
    assert summary["built_with"] == manifest["movmnist_version"] and summary["created"] == manifest["created"]
    stored = set(movmnist.open(built)["test"].annotation_names)
    assert set(summary["annotations"]) == stored


def test_info_text(built: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(built)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1] == "sequences:   48 (288 frames), 6 frames each"
    assert lines[2] == "canvas:      40x40 grey, uint8"
    assert "source:      synthetic (synthetic digits)" in lines
    assert "  test:  16 sequences, 2 shards" in result.output
    missing = CliRunner().invoke(cli, ["info", str(built / "nope")])
    assert missing.exit_code == 1 and "is not a directory" in missing.output
