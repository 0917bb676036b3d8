"""Files that never end, and sizes declared to allocate gigabytes: refused in one line, before reading.

FIFOs stand where a config, a source file or a shard should be (each would block a reader
forever); headers declare arrays of terabytes; a damaged heap makes HDF5 loop.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from movmnist.builder import build
from movmnist.config import Config
from tests import faults
from tests.reliability.conftest import Case


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bounds")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 10, 10
    build(Config.from_data(data), root / "built", workers=1)
    return {"root": root, "built": root / "built", "config": faults.write_config(root / "tiny.yaml", data)}


def _plan(config: Path) -> faults.Outcome:
    return faults.invoke(["plan", str(config)])


def _source_config(tiny: dict[str, Path], tmp_path: Path, source: dict[str, str]) -> Path:
    data = faults.tiny_config(tmp_path / "unused.npz")
    data["source"] = source
    data["splits"]["train"]["pool"], data["splits"]["val"]["pool"] = "train[:5]", "train[5:10]"
    data["splits"]["test"]["pool"] = "test[:5]"
    return faults.write_config(tmp_path / "c.yaml", data)


def test_fifos_where_files_should_be(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcomes = {"config": _plan(fifo)}
    outcomes["npz source"] = _plan(_source_config(tiny, tmp_path, {"kind": "npz", "path": str(fifo)}))
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        os.mkfifo(folder / name)
    outcomes["idx source"] = _plan(_source_config(tiny, tmp_path, {"kind": "idx", "path": str(folder)}))
    ds = tmp_path / "ds"
    shutil.copytree(tiny["built"], ds)
    shard = sorted(ds.glob("test-*.h5"))[0]
    shard.unlink()
    os.mkfifo(shard)
    outcomes["shard: verify"] = faults.invoke(["verify", str(ds)])
    outcomes["shard: export"] = faults.invoke(["export", str(ds), "-o", str(tmp_path / "x.npy")])
    bad = {
        k: o.output
        for k, o in outcomes.items()
        if o.code == 0 or o.traceback or not (o.one_line or k == "shard: verify")
    }
    for name, outcome in outcomes.items():
        case("files", name not in bad, traceback=outcome.traceback)
    assert not bad, bad


def _idx_header(count: int) -> bytes:
    return bytes([0, 0, 8, 3]) + struct.pack(">3I", count, 28, 28)


def test_declared_sizes_past_the_limit(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    outcomes = {}
    folder = tmp_path / "idx"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (folder / name).write_bytes(_idx_header(7_000_000) + bytes(1000))  # declares 5.5 GB
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / name).write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(10))
    outcomes["idx header"] = _plan(_source_config(tiny, tmp_path, {"kind": "idx", "path": str(folder)}))
    npz = tmp_path / "bomb.npz"
    with zipfile.ZipFile(npz, "w") as z:
        header = {"descr": "|u1", "fortran_order": False, "shape": (10**12, 28, 28)}
        with z.open("x_train.npy", "w") as entry:
            np.lib.format.write_array_header_1_0(entry, header)
        for key in ("y_train", "x_test", "y_test"):
            with z.open(f"{key}.npy", "w") as entry:
                np.lib.format.write_array(entry, np.zeros(10, np.uint8))
    outcomes["npz header"] = _plan(_source_config(tiny, tmp_path, {"kind": "npz", "path": str(npz)}))
    for name, outcome in outcomes.items():
        ok = faults.refused(outcome, "more than the")
        case("bombs", ok, traceback=outcome.traceback)
        assert ok, (name, outcome.output)


def test_verify_does_not_hang_on_a_zeroed_heap(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    ds = tmp_path / "ds"
    shutil.copytree(tiny["built"], ds)
    shard = sorted(ds.glob("test-*.h5"))[0]
    raw = bytearray(shard.read_bytes())
    at = raw.find(b'"seed"') // 512 * 512  # the attributes' strings, in HDF5's global heap
    raw[at : at + 512] = bytes(512)
    shard.write_bytes(bytes(raw))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "movmnist", "verify", str(ds)], capture_output=True, text=True, timeout=60
        )
        ok, tb = (
            result.returncode == 1 and result.stdout.strip().endswith("FAILED: 1 of 2 shards"),
            "Traceback" in result.stderr,
        )
    except subprocess.TimeoutExpired:
        ok, tb = False, False
    case("files", ok, traceback=tb)
    assert ok
