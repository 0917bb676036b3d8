"""No folder of the builder's machine in what a dataset carries away: its manifest and its card.

A source read from /home/someone/... (an npz file, or a TFDS cache whose description records
its data dir) is recorded by its last component only; `verify --regenerate` still finds it,
where --source-path says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.builder import build
from movmnist.cli import cli
from movmnist.config import Config
from tests import faults
from tests.reliability.conftest import Case


def _tfds_cache(root: Path) -> dict[str, object]:
    """A cache as `movmnist fetch` writes it: its cache.json records the (absolute) data dir."""
    folder = root / "movmnist" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    splits = {}
    for split, n in (("train", 400), ("test", 100)):
        np.save(folder / f"{split}-images.npy", rng.integers(0, 256, (n, 8, 8), dtype=np.uint8))
        np.save(folder / f"{split}-labels.npy", rng.integers(0, 10, n, dtype=np.int64))
        splits[split] = {"count": n, "image_shape": [8, 8], "dtype": "uint8"}
    meta = {"format": 1, "name": "mnist", "data_dir": str(root), "splits": splits}
    (folder / "cache.json").write_text(json.dumps(meta))
    return {"kind": "tfds", "name": "mnist", "data_dir": str(root)}


@pytest.mark.parametrize("kind", ["npz", "tfds"])
def test_no_local_path_in_the_manifest_or_the_card(tmp_path: Path, case: Case, kind: str) -> None:
    home = tmp_path / "home-of-the-builder"
    home.mkdir()
    data = faults.tiny_config(faults.tiny_npz(home / "digits.npz"))
    if kind == "tfds":
        data["source"] = _tfds_cache(home / "tfds")
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 20, 10
    out = tmp_path / "d"
    build(Config.from_data(data), out, workers=1)
    leaked = [name for name in ("manifest.json", "README.md") if str(home) in (out / name).read_text()]
    where = str(home / "digits.npz") if kind == "npz" else str(home / "tfds")
    result = CliRunner().invoke(cli, ["verify", str(out), "--regenerate", "3", "--source-path", where])
    ok = not leaked and result.exit_code == 0
    case("paths", ok)
    assert ok, (leaked, result.output)
