"""Corruption, concurrency and paths: damaged bytes are never data, readers never see a build in
progress, and odd paths work or are refused in one line."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.builder import build
from movmnist.cli import cli
from movmnist.config import Config
from movmnist.errors import BuildLocked, DatasetError
from movmnist.store import manifest, outdir
from movmnist.tools.verify import verify
from tests import faults

NAMES = ("frames", "labels", "positions", "source_index")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("integrity")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    out = root / "clean"
    build(Config.from_data(data), out, workers=2)
    with movmnist.open(out) as ds:
        arrays = {(s, n): ds[s].read(n, slice(None)) for s in ds for n in NAMES}
    return {"out": out, "arrays": arrays, "path": faults.write_config(root / "tiny.yaml", data), "data": data}


def _read_split(path: Path, split: str) -> dict[str, np.ndarray]:
    with movmnist.open(path) as ds:
        return {n: ds[split].read(n, slice(None)) for n in NAMES}


def test_a_flipped_byte_anywhere_is_never_returned_as_data(
    built: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    clean: Path = built["out"]  # type: ignore[assignment]
    shards = sorted(p for p in clean.iterdir() if manifest.SHARD_NAME.match(p.name))
    rng = random.Random(20)
    positions = []
    for i in range(24):
        shard = shards[i % len(shards)]
        size = shard.stat().st_size
        # A third in the first 2 kB (superblock, object headers, B-trees), the rest anywhere.
        positions.append((shard, rng.randrange(min(size, 2048)) if i % 3 == 0 else rng.randrange(size)))
    for n, (shard, at) in enumerate(positions):
        copy = tmp_path / f"c{n}"
        shutil.copytree(clean, copy)
        victim = copy / shard.name
        raw = bytearray(victim.read_bytes())
        raw[at] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(raw))
        report = verify(copy)
        flagged = [c.file for c in report.shards if not c.ok] == [shard.name]
        split = shard.name.split("-")[0]
        try:
            got = _read_split(copy, split)
            silent = any(not np.array_equal(got[k], built["arrays"][(split, k)]) for k in NAMES)  # type: ignore[index]
            how = "read back unchanged" if not silent else "WRONG DATA"
        except DatasetError as exc:
            silent, how = False, f"loader: {exc}"
        ok = flagged and not silent and "\n" not in how
        case("corruption", ok, wrong=silent)
        assert ok, f"{shard.name} byte {at}: verify flagged={flagged}, {how}"
        shutil.rmtree(copy)


@pytest.mark.parametrize("codec", ["gzip", "lzf", "zstd", "lz4", "none"])
def test_bit_rot_in_any_chunk_is_an_error_never_data(
    codec: str, tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    """One flipped bit inside a stored chunk of any dataset (every annotation on), for every
    codec: the loader raises one line or, where the bit was unused, reads the clean arrays.
    The chunk checksums (fletcher32, also on movmnist's own fast paths) are what catch it."""
    data = faults.tiny_config(
        faults.tiny_npz(tmp_path / "digits.npz"),
        splits={"train": {"sequences": 0}, "test": {"sequences": 30}},
        output={"shard_size": 15, "compression": codec},
        annotations=dict.fromkeys(("masks", "boxes", "visibility", "trajectories", "events"), True),
    )
    clean = tmp_path / "clean"
    build(Config.from_data(data), clean, workers=1)

    def everything(path: Path) -> dict[str, np.ndarray]:
        with movmnist.open(path) as ds:
            split = ds["test"]
            got = {n: split.read(n, slice(None)) for n in ("frames", *split.with_annotations().annotation_names)}
            got["items"] = np.stack([split[i] for i in range(len(split))])  # single reads: the per-item path
            got["events"] = split.events()
            return got

    expect = everything(clean)
    assert {"masks", "boxes", "events"} <= set(expect)
    shards = sorted(p for p in clean.iterdir() if manifest.SHARD_NAME.match(p.name))
    stored = []  # (shard, dataset, offset, size) of every stored chunk
    for shard in shards:
        with h5py.File(shard, "r") as f:
            for name in f:
                f[name].id.chunk_iter(lambda c, s=shard, n=name: stored.append((s, n, c.byte_offset, c.size)))
    rng = random.Random(codec)
    for n, (shard, name, offset, size) in enumerate(rng.sample(stored, 12)):
        copy = tmp_path / f"c{n}"
        shutil.copytree(clean, copy)
        victim = copy / shard.name
        raw = bytearray(victim.read_bytes())
        at = offset + rng.randrange(size)
        raw[at] ^= 1 << rng.randrange(8)
        victim.write_bytes(bytes(raw))
        try:
            got = everything(copy)
            wrong = [k for k in expect if not np.array_equal(got[k], expect[k])]
            how = f"WRONG DATA in {wrong}" if wrong else "read back unchanged"
        except DatasetError as exc:
            wrong, how = [], str(exc)
        ok = not wrong and "\n" not in how
        case("corruption", ok)
        assert ok, f"{codec}: {shard.name} {name!r} byte {at}: {how}"
        shutil.rmtree(copy)


def test_readers_refuse_a_build_in_progress(
    built: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    out = tmp_path / "d"
    proc = faults.start(built["path"], out, "-j", "1")  # type: ignore[arg-type]
    try:
        assert faults.wait_for((out / manifest.BUILDING).exists, timeout=30)
        if (out / manifest.MANIFEST).exists():
            pytest.skip("the build finished first")
        with pytest.raises(DatasetError, match="build in progress or interrupted"):
            movmnist.open(out)
        shown = CliRunner().invoke(cli, ["preview", str(out), "--gif", str(tmp_path / "p.gif")])
        ok = shown.exit_code == 1 and "build in progress" in shown.output and shown.output.count("\n") == 1
        second = faults.run(built["path"], out, "--overwrite")  # type: ignore[arg-type]
        ok = ok and ((second.returncode == 1 and "is being built by" in second.stderr) or proc.poll() is not None)
    finally:
        _, first_err = proc.communicate(timeout=60)
    same = faults.shard_digests(out) == faults.shard_digests(built["out"])  # type: ignore[arg-type]
    ok = ok and same
    case("concurrency", ok)
    # Every part of the verdict, so that an intermittent failure says which part it was.
    assert ok, (
        f"preview: {shown.exit_code} {shown.output!r}; second build: {second.returncode} {second.stderr[-200:]!r};"
        f" first build: {proc.returncode} {first_err[-300:]!r};"
        f" same shards as a clean build: {same}; files: {sorted(p.name for p in out.iterdir())}"
    )


def test_two_builders_one_directory(
    built: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    out = tmp_path / "d"
    out.mkdir()
    with outdir.locked(out, warn=print), pytest.raises(BuildLocked, match="is being built by pid"):
        build(Config.from_data(built["data"]), out)
    case("concurrency", not any(out.iterdir()))
    assert not any(out.iterdir())


@pytest.mark.parametrize("name", ["with spaces", "ünïcødé ⚡ 数据", "relative"])
def test_odd_output_paths(
    name: str,
    built: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: Callable[[str, bool], None],
) -> None:
    monkeypatch.chdir(tmp_path)
    out = Path("rel/ds") if name == "relative" else tmp_path / name / "ds"
    result = CliRunner().invoke(cli, ["build", str(built["path"]), "-o", str(out), "-q", "-j", "1"])
    ok = result.exit_code == 0 and faults.shard_digests(tmp_path / out) == faults.shard_digests(built["out"])  # type: ignore[arg-type]
    with movmnist.open(out) as ds:
        ok = ok and np.array_equal(ds["test"][:], built["arrays"][("test", "frames")])  # type: ignore[index]
    case("paths", ok)
    assert ok, result.output


def test_a_file_where_the_directory_should_be(tmp_path: Path, case: Callable[[str, bool], None]) -> None:
    (tmp_path / "taken").write_text("mine")
    result = CliRunner().invoke(cli, ["build", "-o", str(tmp_path / "taken"), "--set", "source.kind=synthetic"])
    ok = result.exit_code == 2 and "is a file, not a directory" in result.output and result.output.count("\n") == 1
    ok = ok and (tmp_path / "taken").read_text() == "mine"
    case("paths", ok)
    assert ok, result.output


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "train-00000-of-00012.h5/../../x", "..\\x.h5"])
def test_shard_names_outside_the_dataset_are_refused(
    bad: str, built: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    copy = tmp_path / "d"
    shutil.copytree(built["out"], copy)  # type: ignore[arg-type]
    data = json.loads((copy / manifest.MANIFEST).read_text())
    data["splits"]["train"]["shards"][0]["file"] = bad
    (copy / manifest.MANIFEST).write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="not a shard file name; refusing to open it"):
        movmnist.open(copy)
    result = CliRunner().invoke(cli, ["verify", str(copy)])
    ok = result.exit_code != 0 and "refusing to open it" in result.output
    case("paths", ok)
    assert ok, result.output
