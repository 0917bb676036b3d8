"""gzip shards through zlib-ng (`shards.fast_deflate`): standard deflate files, the arrays of HDF5's own filter."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from movmnist.builder import worker
from movmnist.builder.plan import make_plan
from movmnist.config import Config
from movmnist.core.generate import generate
from movmnist.store import checksum, deflate, shards
from tests.conftest import small_config

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")

# Two test shards (10 + 6 sequences) of 6 frames of 40x40, with every annotation (masks too).
OVERRIDES = ("splits.train.sequences=0", "splits.val.sequences=0")


def write_test_split(cfg: Config, out: Path) -> list[Path]:
    """The test split's shards, written in this process (so that a monkeypatch holds), as a build writes them."""
    out.mkdir()
    pool = worker.pool_for(cfg, "test")
    plan = make_plan(cfg, tuple(pool.images.shape[1:]))
    specs = [spec for spec in plan.shards if spec.split == "test"]
    return [out / worker.run_shard(cfg, spec, str(out)).file for spec in specs]


def arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in f}


@pytest.fixture
def fast_and_slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path], list[Path], Config]:
    cfg = small_config(*OVERRIDES)
    fast = write_test_split(cfg, tmp_path / "fast")
    monkeypatch.setattr(deflate, "zlib_ng", None)
    monkeypatch.setattr(shards, "_warned", False)
    with pytest.warns(UserWarning, match="zlib-ng is not installed"):
        slow = write_test_split(cfg, tmp_path / "slow")
    return fast, slow, cfg


def test_fast_path_reads_back_as_the_filter_path_does(fast_and_slow: tuple[list[Path], list[Path], Config]) -> None:
    fast, slow, cfg = fast_and_slow
    assert [p.name for p in fast] == [p.name for p in slow] and len(fast) == 2
    for a, b in zip(fast, slow, strict=True):
        got, expect = arrays(a), arrays(b)
        assert set(got) == set(expect) and {"frames", "masks"} <= set(got)
        for name in expect:
            np.testing.assert_array_equal(got[name], expect[name], err_msg=name)
            assert got[name].dtype == expect[name].dtype, name
        with h5py.File(a, "r") as f, h5py.File(b, "r") as g:
            for name in ("frames", "masks"):  # the same filter declaration: deflate, level 1
                assert (
                    (f[name].compression, f[name].compression_opts)
                    == ("gzip", 1)
                    == (
                        g[name].compression,
                        g[name].compression_opts,
                    )
                )
                assert f[name].chunks == g[name].chunks == (1, *f[name].shape[1:])
    # The fast file's chunks are zlib-ng's zlib streams of each C-contiguous sequence, then the
    # fletcher32 checksum HDF5's filter appends (its own reads above checked it).
    frames = generate(cfg, worker.pool_for(cfg, "test"), "test", np.arange(10)).frames
    with h5py.File(fast[0], "r") as f:
        for i in (0, 9):
            mask, data = f["frames"].id.read_direct_chunk((i, 0, 0, 0))
            stream = zlib_ng.compress(np.ascontiguousarray(frames[i]).tobytes(), 1)
            assert mask == 0 and data == checksum.seal(stream) and data[:-4] == stream


def test_a_plain_h5py_process_reads_the_fast_shard(tmp_path: Path) -> None:
    cfg = small_config(*OVERRIDES)
    path = write_test_split(cfg, tmp_path / "d")[0]
    script = (
        "import sys, h5py, numpy\n"
        "with h5py.File(sys.argv[1], 'r') as f:\n"
        "    numpy.save(sys.argv[2], f['frames'][:])\n"
        "loaded = set(m.split('.')[0] for m in sys.modules)\n"
        "assert not {'movmnist', 'hdf5plugin', 'zlib_ng'} & loaded, 'not plain h5py'\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "f.npy")], check=True, cwd=tmp_path)
    expect = generate(cfg, worker.pool_for(cfg, "test"), "test", np.arange(10)).frames
    np.testing.assert_array_equal(np.load(tmp_path / "f.npy"), expect)


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (Debian: hdf5-tools) is not on PATH")
def test_h5dump_prints_the_fast_shards_frames(tmp_path: Path) -> None:
    cfg = small_config(*OVERRIDES)
    path = write_test_split(cfg, tmp_path / "d")[1]  # the 6-sequence shard
    # -y: no (i,j,k,l) index prefixes; -w 0: no line wrapping within a row.
    text = subprocess.run(
        ["h5dump", "-y", "-w", "0", "-d", "frames", str(path)], check=True, capture_output=True, text=True
    ).stdout
    body = re.search(r"DATA \{(.*?)\}", text, re.S)
    assert body is not None, text[:500]
    numbers = np.array([int(v) for v in re.findall(r"\d+", body.group(1))], dtype=np.int64)
    with h5py.File(path, "r") as f:
        frames = f["frames"][:]
    assert frames.shape[0] == 6 and frames.any()
    np.testing.assert_array_equal(numbers, frames.reshape(-1))


def test_every_gzip_level_and_only_gzip_takes_the_fast_path(tmp_path: Path) -> None:
    for level in range(10):
        compress = shards.fast_deflate("gzip", level)
        assert compress is not None
        assert compress([b"abc" * 99, b"xyz"]) == [
            checksum.seal(zlib_ng.compress(b, level)) for b in (b"abc" * 99, b"xyz")
        ]
    for codec, level in [("zstd", 1), ("lz4", 1), ("lzf", 1), ("none", 1)]:
        assert shards.fast_deflate(codec, level) is None, (codec, level)
    cfg = small_config(*OVERRIDES, "output.compression_level=6")
    with h5py.File(write_test_split(cfg, tmp_path / "six")[0], "r") as f:  # the level the file declares
        assert all(f[name].compression_opts == 6 for name in f)


def test_the_same_chunks_give_the_same_bytes_in_any_process_state(tmp_path: Path) -> None:
    """A fresh stream per chunk: the compressed bytes do not depend on what the process did before
    (ISA-L's did: a shard built beside a racing build once held another valid stream)."""
    cfg = small_config(*OVERRIDES)
    first = [p.read_bytes() for p in write_test_split(cfg, tmp_path / "a")]
    rng = np.random.default_rng(0)
    for _ in range(50):  # dirty the heap the compressor allocates from
        junk = [bytearray(rng.bytes(int(n))) for n in rng.integers(1_000, 300_000, 8)]
        zlib_ng.compress(bytes(junk[0]), 1)
        del junk
    again = [p.read_bytes() for p in write_test_split(cfg, tmp_path / "b")]
    assert first == again


def test_the_fallback_notice_is_printed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deflate, "zlib_ng", None)
    monkeypatch.setattr(shards, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert shards.fast_deflate("gzip", 1) is None
        assert shards.fast_deflate("gzip", 2) is None
    assert [str(w.message) for w in caught] == [
        "zlib-ng is not installed: gzip shards are compressed by HDF5's zlib (~3.5x slower)"
    ]
