"""--overwrite of a finished dataset: readers see the old one or the new one, never a mix; a failed
rebuild keeps the old one.

The rebuild is made beside the dataset and swapped in at the end, so until then the old
dataset stays whole (verify passes on it while the rebuild runs), and a reader that opened
the old one either reads old data or is told the dataset was replaced.
"""

from __future__ import annotations

import _thread
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import movmnist
from movmnist.builder import build
from movmnist.config import Config
from movmnist.errors import DatasetError, Interrupted
from movmnist.store import manifest
from movmnist.tools.verify import verify
from tests import faults
from tests.reliability.conftest import Case
from tests.reliability.test_build_faults import INJECT


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("overwrite")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 20, 30
    new = Config.from_data({**data, "seed": 1})
    build(Config.from_data(data), root / "old", workers=1)
    build(new, root / "new", workers=1)
    with movmnist.open(root / "old") as a, movmnist.open(root / "new") as b:
        return {"old_dir": root / "old", "new": new, "old": a["test"][:], "new_frames": b["test"][:]}


@pytest.fixture
def two(builds: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """A finished dataset of seed 0 in `out`; the config of seed 1; and both builds' test frames."""
    shutil.copytree(builds["old_dir"], tmp_path / "ds")
    return {**builds, "out": tmp_path / "ds", "root": tmp_path}


class _Watch:
    """A progress reporter: checks the old dataset is whole during the rebuild; Ctrl-C at `stop`."""

    def __init__(self, out: Path, stop: int | None = None) -> None:
        self.out, self.stop, self.done, self.whole = out, stop, 0, True

    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        if not self.done:  # once, mid-rebuild
            self.whole = (self.out / manifest.MANIFEST).exists() and verify(self.out).ok
        self.done += n
        if self.stop is not None and self.done >= self.stop:
            self.stop = None
            _thread.interrupt_main()


def _leftovers(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if ".movmnist-" in p.name]


def test_a_reader_of_the_old_dataset_never_gets_the_new_one(two: dict[str, Any], case: Case) -> None:
    out = two["out"]
    ds = movmnist.open(out)
    first = ds["test"][0:5]  # opens the first shard only
    watch = _Watch(out)
    build(two["new"], out, workers=1, overwrite=True, progress=watch)
    try:
        rest = ds["test"][5:]
        got, how = np.concatenate([first, rest]), "read"
    except DatasetError as exc:
        got, how = first, str(exc)
    finally:
        ds.close()
    wrong = not np.array_equal(got, two["old"][: len(got)])
    with movmnist.open(out) as fresh:
        now_new = np.array_equal(fresh["test"][:], two["new_frames"])
    ok = not wrong and now_new and watch.whole and _leftovers(two["root"]) == []
    ok = ok and (how == "read" or "was replaced" in how)
    case("resume", ok, wrong=wrong)
    assert ok, (how, watch.whole, _leftovers(two["root"]))


def test_an_interrupted_rebuild_keeps_the_old_dataset(two: dict[str, Any], case: Case) -> None:
    out = two["out"]
    before = faults.shard_digests(out)
    watch = _Watch(out, stop=10)
    with pytest.raises(Interrupted) as err:
        build(two["new"], out, workers=1, overwrite=True, progress=watch)
    message = str(err.value)
    ok = f"nothing was replaced: {out} still holds the old dataset" in message and not err.value.resumable
    ok = ok and faults.shard_digests(out) == before and verify(out).ok and watch.whole
    ok = ok and _leftovers(two["root"]) == []
    case("resume", ok)
    assert ok, (message, _leftovers(two["root"]))


def test_a_rebuild_whose_worker_fails_keeps_the_old_dataset(two: dict[str, Any], case: Case) -> None:
    out, root = two["out"], two["root"]
    before = faults.shard_digests(out)
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(INJECT)
    env = {**os.environ, "PYTHONPATH": f"{root / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    config = faults.write_config(root / "new.yaml", two["new"].to_data())
    result = faults.run(config, out, "-j", "1", "--overwrite", env={**env, "MOVMNIST_TEST_FAIL_AT": "3"})
    line = result.stderr.strip()
    ok = result.returncode == 1 and "\n" not in line and "injected fault" in line
    ok = ok and f"rerun with --overwrite (nothing was replaced: {out} still holds the old dataset)" in line
    ok = ok and faults.shard_digests(out) == before and verify(out).ok and _leftovers(root) == []
    case("resume", ok, traceback="Traceback" in result.stderr)
    assert ok, (line, _leftovers(root))
