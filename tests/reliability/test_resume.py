"""--resume never mixes origins: shards from other digit images or another movmnist are refused.

A build is interrupted (Ctrl-C after a few shards), then the source file is replaced, the
recorded movmnist version changed, or the marker is one an older movmnist wrote; `--resume`
must refuse in one line naming what differs (both values), and leave every shard as it was.
"""

from __future__ import annotations

import _thread
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from movmnist.builder import build
from movmnist.config import Config
from movmnist.errors import Interrupted
from movmnist.store import manifest
from tests import faults
from tests.reliability.conftest import Case


class _StopAfter:
    """A progress reporter that presses Ctrl-C (in the main thread) once `n` sequences are done."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        self.done += n
        if self.done >= self.n > 0:
            self.n = 0
            _thread.interrupt_main()


def _interrupted(root: Path, data: dict[str, Any]) -> Path:
    out = root / "ds"
    with pytest.raises(Interrupted):
        build(Config.from_data(data), out, workers=1, progress=_StopAfter(40))
    assert (out / manifest.BUILDING).exists() and not (out / manifest.MANIFEST).exists()
    return out


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    data = faults.tiny_config(faults.tiny_npz(tmp_path / "digits.npz"))
    return data, faults.write_config(tmp_path / "tiny.yaml", data)


def _other_digits(path: Path) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["x_train"] = 255 - arrays["x_train"]  # same shapes and labels, other images
    np.savez(path, **arrays)


@pytest.mark.parametrize("change", ["other digits", "other version", "old marker", "finished, other digits"])
def test_resume_refuses_another_origin(
    change: str, setup: tuple[dict[str, Any], Path], tmp_path: Path, case: Case
) -> None:
    data, config = setup
    npz = Path(data["source"]["path"])
    if change.startswith("finished"):
        out = tmp_path / "ds"
        build(Config.from_data(data), out, workers=1)
    else:
        out = _interrupted(tmp_path, data)
    before = faults.shard_digests(out)
    marker = out / manifest.BUILDING
    if change in ("other digits", "finished, other digits"):
        old = json.loads(marker.read_text()) if marker.exists() else json.loads((out / manifest.MANIFEST).read_text())
        _other_digits(npz)
        key = "x_train.npy"
        was, phrase = old["source"]["sha256"][key][:19], "was started from other digit images"
    elif change == "other version":
        recorded = json.loads(marker.read_text())
        recorded["movmnist_version"] = was = "0.0.1"
        marker.write_text(json.dumps(recorded))
        phrase = "was started by movmnist 0.0.1, this is movmnist"
    else:
        recorded = json.loads(marker.read_text())
        del recorded["source"], recorded["movmnist_version"]
        marker.write_text(json.dumps(recorded))
        was, phrase = "", "did not record its digit source"
    result = faults.invoke(["build", str(config), "-o", str(out), "-q", "-j", "1", "--resume"])
    ok = faults.refused(result, phrase) and was in result.output and faults.shard_digests(out) == before
    case("resume", ok, traceback=result.traceback)
    assert ok, result.output


def test_resume_from_the_same_origin_still_works(
    setup: tuple[dict[str, Any], Path], tmp_path: Path, case: Case
) -> None:
    data, config = setup
    clean = tmp_path / "clean"
    build(Config.from_data(data), clean, workers=1)
    out = _interrupted(tmp_path, data)
    npz = Path(data["source"]["path"])
    (tmp_path / "elsewhere").mkdir()
    moved = npz.rename(tmp_path / "elsewhere" / npz.name)  # the file moved, the digits did not change
    data["source"]["path"] = str(moved)
    result = faults.invoke(
        ["build", str(faults.write_config(config, data)), "-o", str(out), "-q", "-j", "1", "--resume"]
    )
    ok = result.code == 0 and faults.shard_digests(out) == faults.shard_digests(clean)
    case("resume", ok, traceback=result.traceback)
    assert ok, result.output
