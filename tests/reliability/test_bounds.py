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


_VERIFY_EACH = """
import json, sys
from movmnist.tools.verify import verify
for path in sys.argv[1:]:
    print(json.dumps([path, verify(path).ok]), flush=True)
"""


def test_zeroed_header_ranges_with_a_manifest_that_agrees(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    """A dataset from elsewhere whose manifest records the damaged bytes: verify must parse the
    shard, and a zeroed global heap there (among the first 6 kB) must not make HDF5 loop."""
    import hashlib
    import json

    folders = []
    for at in range(0, 6144, 512):
        ds = tmp_path / f"z{at}"
        shutil.copytree(tiny["built"], ds)
        shard = sorted(ds.glob("test-*.h5"))[0]
        raw = bytearray(shard.read_bytes())
        raw[at : at + 512] = bytes(512)
        shard.write_bytes(bytes(raw))
        data = json.loads((ds / "manifest.json").read_text())
        entry = next(e for e in data["splits"]["test"]["shards"] if e["file"] == shard.name)
        entry["sha256"], entry["bytes"] = hashlib.sha256(raw).hexdigest(), len(raw)
        (ds / "manifest.json").write_text(json.dumps(data))
        folders.append(str(ds))
    try:
        result = subprocess.run(
            [sys.executable, "-c", _VERIFY_EACH, *folders], capture_output=True, text=True, timeout=60
        )
        done = dict(json.loads(line) for line in result.stdout.splitlines())
        tb = "Traceback" in result.stderr
    except subprocess.TimeoutExpired as exc:  # the folder after the last one printed hung
        done = dict(json.loads(line) for line in (exc.stdout or b"").decode().splitlines())
        tb = False
    clean = faults.invoke(["export", str(tiny["built"]), "--split", "test", "-o", str(tmp_path / "clean.npy")])
    assert clean.code == 0, clean.output
    for folder in folders:
        wrong = False
        if done.get(folder):  # passed verify: then it must read what the clean dataset holds
            out = tmp_path / f"{Path(folder).name}.npy"
            faults.invoke(["export", folder, "--split", "test", "-o", str(out)])
            wrong = not out.exists() or out.read_bytes() != (tmp_path / "clean.npy").read_bytes()
        case("files", folder in done, traceback=tb, wrong=wrong)
    assert len(done) == len(folders) and not tb, result.stderr if not tb else "traceback"


def test_fifos_where_our_small_files_should_be(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    """A shard's sha256 record and a .npy file (a TFDS cache, the published test set) are refused
    as FIFOs at once; a record that cannot be read is no record."""
    from movmnist.sources.base import load_npy
    from movmnist.store.records import read_record, record_path

    shard = tmp_path / "train-00000-of-00001.h5"
    shard.write_bytes(b"")
    os.mkfifo(record_path(shard))
    case("files", read_record(shard) is None)
    fifo = tmp_path / "images.npy"
    os.mkfifo(fifo)
    for mmap in (False, True):
        with pytest.raises(OSError, match="not a regular file"):
            load_npy(fifo, mmap=mmap)
        case("files")


@pytest.fixture
def small_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    """The expansion check from 1 MB on (it starts at 256 MiB), so that a bomb can be small."""
    from movmnist.sources import base

    monkeypatch.setattr(base, "EXPANSION_FLOOR", 1 << 20)


def test_decompression_bombs(tiny: dict[str, Path], tmp_path: Path, small_floor: None, case: Case) -> None:
    import gzip

    zeros = 8 << 20
    folder = tmp_path / "idx"
    folder.mkdir()
    block = gzip.compress(bytes(1 << 20), 9)  # gzip members concatenate: 8 of them inflate to 8 MB
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_header(zeros // 784)) + block * 8)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_header(10) + bytes(7840)))
    for name in ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + bytes(10)))
    outcomes = {"gzip idx": _plan(_source_config(tiny, tmp_path, {"kind": "idx", "path": str(folder)}))}
    npz = tmp_path / "bomb.npz"
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("x_train.npy", _npy(np.zeros((zeros // 784, 28, 28), np.uint8)))
        for key in ("y_train", "x_test", "y_test"):
            z.writestr(f"{key}.npy", _npy(np.zeros(10, np.uint8)))
    outcomes["npz member"] = _plan(_source_config(tiny, tmp_path, {"kind": "npz", "path": str(npz)}))
    for name, outcome in outcomes.items():
        ok = faults.refused(outcome, "(a decompression bomb?)")
        case("bombs", ok, traceback=outcome.traceback)
        assert ok, (name, outcome.output)


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_allocations_the_config_asks_for(
    tiny: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    """Sizes a config or a flag asks for, refused before anything is allocated: digits resized past
    the source limit (here 10 MB: 300 digits at 400x400 are 48 MB), a chunk of sequences past the
    chunk limit (64 of 100x1024x1024: 6.7 GB), a billion sequences to preview."""
    from movmnist.sources import base

    monkeypatch.setattr(base, "MAX_SOURCE_BYTES", 10_000_000)
    config = str(tiny["config"])
    big = ["--set", "canvas.height=512", "--set", "canvas.width=512", "--set", "digits.size=400"]
    huge = ["--set", "canvas.height=1024", "--set", "canvas.width=1024", "--set", "sequence.length=100"]
    outcomes = {
        "digits.size": (faults.invoke(["plan", config, *big]), "digits 400x400"),
        "chunk": (faults.invoke(["plan", config, *huge, "--set", "build.chunk_size=64"]), "set build.chunk_size <= 40"),
        "preview range": (
            faults.invoke(["preview", str(tiny["built"]), "--index", "0-999999999", "--png", str(tmp_path / "p.png")]),
            "more than 1024 sequences",
        ),
    }
    for name, (outcome, phrase) in outcomes.items():
        ok = faults.refused(outcome, phrase)
        case("bombs", ok, traceback=outcome.traceback)
        assert ok, (name, outcome.output)
