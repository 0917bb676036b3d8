"""The reader's shortcuts give plain h5py's bytes: its own reads of deflated, checksummed
chunks, the block cache of annotations, a bounded set of open files; and damage raises."""

from __future__ import annotations

import os
import pickle
import random
import shutil
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

import movmnist
from movmnist.builder import build
from movmnist.errors import DatasetError
from movmnist.read.dataset import Split
from movmnist.store import reader as store_reader
from movmnist.store.reader import ShardReader
from tests.conftest import small_config
from tests.datasets import rgb_copy

# 16 test sequences in shards of 5, 5, 5 and 1: selections cross shards.
SPLITS = ("splits.train.sequences=0", "splits.val.sequences=0", "output.shard_size=5")
SELECTIONS: list[object] = [
    0,
    7,
    -1,
    -16,
    slice(None),
    slice(2, 13),
    slice(4, 6),
    slice(-3, None),
    slice(9, 9),
    [15, 0, 7, 7, 3, 4, 5, 10],
    np.array([-1, -6, 2]),
    [],
]


def _build(root: Path, codec: str) -> Path:
    out = root / codec
    if not out.exists():
        build(small_config(*SPLITS, f"output.compression={codec}"), out, workers=1)
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fast")
    made = {codec: _build(root, codec) for codec in ("gzip", "none", "lz4")}
    made["rgb"] = rgb_copy(made["gzip"], root / "rgb")
    return made


def _plain(split: Split, name: str) -> np.ndarray:
    """The whole split's dataset `name`, read with plain h5py."""
    parts = []
    for shard in split.info.shards:
        with h5py.File(split.root / shard.file, "r") as f:
            parts.append(f[name][:])
    return np.concatenate(parts)


@pytest.mark.parametrize(("kind", "mode"), [("gzip", "own"), ("none", "own"), ("lz4", "h5py"), ("rgb", "own")])
def test_reads_equal_plain_h5py(
    datasets: dict[str, Path], kind: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[bool] = []
    own = ShardReader._own

    def counting(self: ShardReader, plan: store_reader._Plan, chunk: int, out: np.ndarray) -> bool:
        taken.append(own(self, plan, chunk, out))
        return taken[-1]

    run = ShardReader._run
    runs: list[bool] = []

    def counting_runs(self: ShardReader, plan: store_reader._Plan, lo: int, hi: int, out: np.ndarray) -> bool:
        runs.append(run(self, plan, lo, hi, out))
        return runs[-1]

    monkeypatch.setattr(ShardReader, "_own", counting)
    monkeypatch.setattr(ShardReader, "_run", counting_runs)
    with movmnist.open(datasets[kind]) as ds:
        split = ds["test"]
        assert len(split.info.shards) == 4
        names = ("frames", *split.annotation_names)
        assert "masks" in names and "positions" in names
        plain = {name: _plain(split, name) for name in names}
        assert plain["frames"].ndim == (5 if kind == "rgb" else 4)
        for sel in SELECTIONS:
            want = plain["frames"][sel]  # type: ignore[index]
            got = split[sel]  # type: ignore[index]
            assert got.shape == want.shape and got.dtype == want.dtype, sel
            np.testing.assert_array_equal(got, want, err_msg=str(sel))
            item = split.with_annotations()[sel]  # type: ignore[index]
            for name in names:
                np.testing.assert_array_equal(item[name], plain[name][sel], err_msg=f"{name} {sel}")  # type: ignore[index]
        for sel in SELECTIONS[:4]:
            x, y = split.with_input_frames(2)[sel]  # type: ignore[index]
            np.testing.assert_array_equal(np.concatenate([x, y], axis=0), plain["frames"][sel])  # type: ignore[index]
        reader = split._shards[0]
        assert reader._plan("frames").mode == mode and reader._plan("masks").mode == mode
        assert reader._plan("positions").mode == mode and reader._plan("positions").block_rows == 5
    # the shortcut, never its fallback; deflated frames and masks as runs of chunks in one read
    # and one batch inflate, never refused
    assert all(taken) and all(runs) and (len(taken) + len(runs) > 50 if mode == "own" else not taken + runs)
    assert len(runs) >= 3 if kind in ("gzip", "rgb") else not runs


def test_random_annotation_reads_decode_each_block_once(datasets: dict[str, Path]) -> None:
    with movmnist.open(datasets["gzip"]) as ds:
        split = ds["test"].with_annotations()
        plain = {name: _plain(split, name) for name in split.annotation_names}
        order = list(range(len(split)))
        random.Random(3).shuffle(order)
        decoded: list[tuple[str, int]] = []
        original = ShardReader._block

        def counting(self: ShardReader, plan: store_reader._Plan, row: int) -> tuple[int, np.ndarray]:
            before = plan.block
            got = original(self, plan, row)
            if got is not before:
                decoded.append((str(self.path), id(plan)))
            return got

        ShardReader._block = counting  # type: ignore[method-assign]
        try:
            for i in order:
                item = split[i]
                for name in split.annotation_names:
                    np.testing.assert_array_equal(item[name], plain[name][i])
                item["positions"][...] = -7  # items are copies: the cache stays as it was
            again = split[order[0]]
        finally:
            ShardReader._block = original  # type: ignore[method-assign]
        np.testing.assert_array_equal(again["positions"], plain["positions"][order[0]])
        # masks is chunked per sequence; a shard of one sequence has chunks of one row, read directly
        block_sets = len(split.annotation_names) - 1
        blocked = sum(s.sequences > 1 for s in split.info.shards)
        assert blocked == 3 and len(decoded) == blocked * block_sets  # one decode per (shard, dataset)


def test_open_files_stay_within_the_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "many"
    build(small_config("splits.train.sequences=0", "splits.val.sequences=0", "output.shard_size=1"), out, workers=1)
    monkeypatch.setattr(store_reader.OPEN, "limit", 4)
    with movmnist.open(out) as ds:
        split = ds["test"].with_annotations()
        assert len(split.info.shards) == 16
        plain = {name: _plain(split, name) for name in ("frames", *split.annotation_names)}
        order = list(range(16)) * 2
        random.Random(5).shuffle(order)
        most = 0
        for i in order:
            item = split[i]
            for name, want in plain.items():
                np.testing.assert_array_equal(item[name], want[i])
            targets = [os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")]
            shard_fds = [t for t in targets if t.startswith(str(out.resolve()))]
            assert len(shard_fds) <= 2 * len(set(shard_fds))  # HDF5's descriptor and the reader's own
            opened = sum(r.is_open() for r in split._shards)
            most = max(most, opened, len(set(shard_fds)))
            assert len(store_reader.OPEN) <= 4
        assert most <= 4
        np.testing.assert_array_equal(split[:]["frames"], plain["frames"])  # a slice over every shard
        np.testing.assert_array_equal(split[[15, 0, 8, 3, 12, 1]]["labels"], plain["labels"][[15, 0, 8, 3, 12, 1]])
        assert sum(r.is_open() for r in split._shards) <= 4


def test_a_pickled_split_holds_paths_only(datasets: dict[str, Path]) -> None:
    split = movmnist.open(datasets["gzip"])["test"].with_annotations()
    assert split.annotation_names  # a cached tuple of names: pickled, and small
    size = len(pickle.dumps(split))
    split[3], split[[1, 12]]  # opens files, fills the block caches
    assert len(pickle.dumps(split)) == size < 20_000
    clone = pickle.loads(pickle.dumps(split))
    assert not any(r.is_open() for r in clone._shards)
    np.testing.assert_array_equal(clone[12]["frames"], split[12]["frames"])
    split.close()
    clone.close()


def test_a_damaged_frames_chunk_raises_one_line(datasets: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "damaged"
    shutil.copytree(datasets["gzip"], copy)
    with movmnist.open(copy) as ds:
        shard = copy / ds["test"].info.shards[0].file
    with h5py.File(shard, "r") as f:
        info = f["frames"].id.get_chunk_info_by_coord((2, 0, 0, 0))
        assert f["frames"].id.get_chunk_info_by_coord((1, 0, 0, 0)).filter_mask == 0
    raw = bytearray(shard.read_bytes())
    raw[info.byte_offset + info.size // 2] ^= 0x10
    shard.write_bytes(bytes(raw))
    with movmnist.open(datasets["gzip"]) as ds:
        clean = ds["test"][1]
    with movmnist.open(copy) as ds:
        split = ds["test"]
        np.testing.assert_array_equal(split[1], clean)  # its neighbour still reads
        for sel in (2, slice(0, 5), [4, 2]):
            with pytest.raises(DatasetError) as caught:
                split[sel]  # type: ignore[index]
            message = str(caught.value)
            assert "\n" not in message and "is damaged: 'frames' (sequence 2) fails its checksum" in message
            assert "movmnist verify" in message
    with h5py.File(shard, "r") as f, pytest.raises(OSError):  # HDF5's own filter refuses the chunk too
        f["frames"][2]


def _one(path: Path, data: np.ndarray, fill_rows: int | None = None, **opts: object) -> Path:
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("frames", shape=data.shape, dtype=data.dtype, chunks=(1, *data.shape[1:]), **opts)
        ds[: fill_rows if fill_rows is not None else len(data)] = data[:fill_rows]
    return path


@pytest.mark.parametrize(
    ("opts", "mode"),
    [
        ({"compression": "gzip"}, "own"),
        ({}, "own"),
        ({"compression": "gzip", "shuffle": True}, "h5py"),
        ({"compression": "gzip", "fletcher32": True}, "own"),
        ({"fletcher32": True}, "own"),
        ({"compression": "lzf"}, "h5py"),
        ({"compression": "lzf", "fletcher32": True}, "h5py"),
    ],
)
def test_only_deflate_and_fletcher32_take_the_shortcut(tmp_path: Path, opts: dict[str, object], mode: str) -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)
    path = _one(tmp_path / "a.h5", data, **opts)
    if opts == {"compression": "gzip"}:
        with h5py.File(path, "a") as f:  # a chunk stored with deflate skipped, as HDF5 may store one
            f["frames"].id.write_direct_chunk((0, 0, 0, 0), data[0].tobytes(), filter_mask=1)
            assert f["frames"].id.get_chunk_info_by_coord((0, 0, 0, 0)).filter_mask == 1
            np.testing.assert_array_equal(f["frames"][0], data[0])
    reader = ShardReader(path)
    assert reader._plan("frames").mode == mode
    np.testing.assert_array_equal(reader.read("frames", slice(None)), data)
    for row in range(4):
        np.testing.assert_array_equal(reader.read("frames", slice(row, row + 1))[0], data[row])
    reader.close()


def test_unwritten_chunks_read_as_h5py_fills_them(tmp_path: Path) -> None:
    data = np.arange(4 * 2 * 4 * 4, dtype=np.uint8).reshape(4, 2, 4, 4)
    path = _one(tmp_path / "b.h5", data, fill_rows=2, compression="gzip")
    reader = ShardReader(path)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(reader.read("frames", slice(None)), f["frames"][:])
    reader.close()


def test_threads_never_lose_a_file_they_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "many"
    build(small_config("splits.train.sequences=0", "splits.val.sequences=0", "output.shard_size=1"), out, workers=1)
    monkeypatch.setattr(store_reader.OPEN, "limit", 2)  # fewer than the threads: files in use must stay open
    with movmnist.open(out) as ds:
        split = ds["test"].with_annotations()
        plain = _plain(split, "frames")
        errors: list[BaseException] = []

        def work(seed: int) -> None:
            rng = random.Random(seed)
            try:
                for _ in range(60):
                    i = rng.randrange(16)
                    np.testing.assert_array_equal(split[i]["frames"], plain[i])
                    np.testing.assert_array_equal(split[i : i + 3]["frames"], plain[i : i + 3])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[0]
        assert all(r._busy == 0 for r in split._shards)
        split[0]  # the next open closes the files past the bound again
        assert len(store_reader.OPEN) <= 2
