"""The manifest is parsed once, into one typed model: what a build writes reads back equal, and a
damaged or hostile manifest is one line naming the problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.errors import DatasetError
from movmnist.store.manifest import Manifest, read_manifest
from tests.datasets import tiny


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("manifest") / "d")


def test_what_a_build_writes_reads_back_equal(built: Path) -> None:
    raw = json.loads((built / "manifest.json").read_text())
    m = read_manifest(built)
    assert m.to_data() == raw
    assert m.sequence_shape == (6, 40, 40) and [s.file for s in m.shards][:2] == [
        "train-00000-of-00002.h5",
        "train-00001-of-00002.h5",
    ]
    assert m.sequences == 9 and list(m.splits) == ["train", "test"]


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node: Any = data
    *path, last = dotted.split(".")
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is KeyError:
        del node[last]
    else:
        node[last] = value
    return data


@pytest.mark.parametrize(
    ("dotted", "value", "problem"),
    [
        ("splits", [], "splits must be a mapping (got [])"),
        ("sequence_shape", KeyError, "sequence_shape is required"),
        ("sequence_shape", [6, 0, 40], "sequence_shape must be [T, H, W] or [T, H, W, C] of positive sizes"),
        ("splits.test.sequences", "5", "splits.test.sequences must be an integer (got '5')"),
        ("splits.test.shards.0.bytes", -1, "splits.test.shards.bytes must be >= 0 (got -1)"),
        ("splits.test.shards.0.sha256", "x" * 5000, "splits.test.shards.sha256: String should match pattern"),
        ("splits.extra", {"sequences": 0, "shards": []}, "splits holds 'extra'; a split is one of train, val, test"),
        ("config", [[[[[[[[[[[[]]]]]]]]]]]], "config must be a mapping (got [[[[...]]]])"),
        ("build_seconds", float("nan"), "build_seconds must be >= 0.0 (got nan)"),
    ],
)
def test_a_hostile_manifest_is_one_line(built: Path, tmp_path: Path, dotted: str, value: Any, problem: str) -> None:
    data = _set(json.loads((built / "manifest.json").read_text()), dotted, value)
    with pytest.raises(DatasetError) as err:
        Manifest.from_data(data)
    message = str(err.value)
    assert message.startswith(f"manifest.json is not a valid manifest: {problem}") and "\n" not in message
    assert len(message) < 400
    copy = tmp_path / "d"
    copy.mkdir()
    (copy / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError):
        movmnist.open(copy)
    for command in (["info", str(copy)], ["verify", str(copy)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
        assert result.output.startswith(f"Error: {copy / 'manifest.json'} is not a valid manifest: {problem}")
