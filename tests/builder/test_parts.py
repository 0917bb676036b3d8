"""A build in parts (build --shard-index K --num-shards N, then merge): the same dataset as one build.

Parts run as concurrent `python -m movmnist` processes on one directory (tests.faults' tiny
npz config: 160 sequences in 16 shards); merge must give the shards, sha256s, arrays, card
and preview of a whole build, refuse a directory whose parts are missing, unfinished, from
another build or built twice, and a killed part must finish with --resume.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import movmnist as mds
from movmnist.builder import build
from movmnist.builder.parts import build_part, merge
from movmnist.config import Config
from movmnist.errors import BuildLocked, ConfigError, OutputError
from movmnist.store import manifest
from tests import faults
from tests.conftest import small_config

PROVENANCE = ("created", "build_seconds", "workers", "engine")  # how a build ran, not what it holds


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    data = faults.tiny_config(faults.tiny_npz(tmp_path / "digits.npz"))
    return data, faults.write_config(tmp_path / "tiny.yaml", data)


def _parts(config: Path, out: Path, count: int, *which: int, extra: tuple[str, ...] = ()) -> None:
    """Parts `which` (default: all) of `count`, as concurrent processes."""
    procs = [
        faults.start(config, out, "--shard-index", str(k), "--num-shards", str(count), "-j", "1", *extra)
        for k in (which or range(count))
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err


def _frames(out: Path) -> dict[str, np.ndarray]:
    with mds.open(out) as ds:
        return {s: ds[s].read(name, slice(None)) for s in ("train", "test") for name in ("frames", "positions")}


def _content(out: Path) -> tuple[dict[str, Any], str]:
    data = json.loads((out / manifest.MANIFEST).read_text())
    card = "\n".join(line for line in (out / "README.md").read_text().splitlines() if "built" not in line.lower())
    return {k: v for k, v in data.items() if k not in PROVENANCE}, card


def test_four_concurrent_parts_merge_to_the_single_build(tiny: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    data, config = tiny
    single, parted = tmp_path / "a" / "ds", tmp_path / "b" / "ds"  # one name: the card names its directory
    build(Config.from_data(data), single, workers=1)
    _parts(config, parted, 4)
    with pytest.raises(Exception, match="holds parts of a build"):  # not a dataset yet
        mds.open(parted)
    merged = merge(parted)
    assert faults.shard_digests(parted) == faults.shard_digests(single)
    assert [s.sha256 for s in merged.shards] == [s.sha256 for s in manifest.read_manifest(single).shards]
    for name, array in _frames(single).items():
        np.testing.assert_array_equal(_frames(parted)[name], array)
    assert _content(parted) == _content(single)
    assert (parted / "preview.gif").read_bytes() == (single / "preview.gif").read_bytes()
    assert sorted(p.name for p in parted.iterdir()) == sorted(p.name for p in single.iterdir())  # no part files
    notes: list[str] = []
    assert merge(parted, warn=notes.append).shards == merged.shards and "nothing to merge" in notes[0]


def test_a_killed_part_finishes_with_resume(tiny: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    data, config = tiny
    single, out = tmp_path / "a" / "ds", tmp_path / "b" / "ds"
    build(Config.from_data(data), single, workers=1)
    proc = faults.start(config, out, "--shard-index", "0", "--num-shards", "2", "-j", "1")
    assert faults.wait_for(lambda: len(faults.shard_digests(out)) >= 2 if out.exists() else False)
    faults.kill_tree(proc)
    assert len(faults.shard_digests(out)) < 8, "the part finished before it was killed"
    _parts(config, out, 2, 1)
    refused = faults.invoke(["merge", str(out)])
    assert faults.refused(refused, "part 0 of 2"), refused.output
    assert "is not finished" in refused.output and "--shard-index 0 --resume" in refused.output
    again = faults.run(config, out, "--shard-index", "0", "--num-shards", "2")
    assert again.returncode == 2 and "pass --resume" in again.stderr
    _parts(config, out, 2, 0, extra=("--resume",))
    merge(out)
    assert faults.shard_digests(out) == faults.shard_digests(single)
    assert not faults.temporaries(out)


def test_merge_refuses_missing_twice_and_foreign_parts(tiny: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    data, _ = tiny
    cfg = Config.from_data(data)
    out = tmp_path / "ds"
    for k in (0, 2):
        build_part(cfg, out, shard_index=k, num_shards=3, workers=1)
    missing = faults.invoke(["merge", str(out)])
    assert faults.refused(missing, "part 1 of 3 is missing"), missing.output
    assert "--num-shards 3 --shard-index 1" in missing.output
    with pytest.raises(OutputError, match="holds parts of a build"):  # a whole build does not clobber them
        build(cfg, out, workers=1)
    with pytest.raises(OutputError, match="same --num-shards"):  # a part of another splitting is refused early
        build_part(cfg, out, shard_index=0, num_shards=4, workers=1)
    other = Config.from_data({**data, "seed": 5})
    with pytest.raises(OutputError, match="another config: seed"):
        build_part(other, out, shard_index=1, num_shards=3, workers=1)

    # A part of another config, built elsewhere and copied in: merge names it and the field.
    elsewhere = tmp_path / "elsewhere"
    build_part(other, elsewhere, shard_index=1, num_shards=3, workers=1)
    for path in elsewhere.iterdir():
        shutil.copy(path, out / path.name)
    foreign = faults.invoke(["merge", str(out)])
    assert faults.refused(foreign, "part 1 of 3 was built from another config than part 0 of 3: seed"), foreign.output

    build_part(cfg, out, shard_index=1, num_shards=3, workers=1, overwrite=True)
    record = out / ".movmnist-part-00002-of-00003.json"
    kept = record.read_text()
    record.write_text(json.dumps({**json.loads(kept), "movmnist_version": "0.0.1-old"}))
    version = faults.invoke(["merge", str(out)])
    assert faults.refused(version, "part 2 of 3 was built by movmnist 0.0.1-"), version.output
    record.write_text(kept)

    (out / ".movmnist-part-00000-of-00006.json").write_text("{}")  # parts of two splittings: shards twice
    twice = faults.invoke(["merge", str(out)])
    assert faults.refused(twice, "part 0 of 3 and part 0 of 6: the same shards built twice"), twice.output
    (out / ".movmnist-part-00000-of-00006.json").unlink()
    merge(out)
    with pytest.raises(OutputError, match="already holds a finished dataset"):
        build_part(cfg, out, shard_index=0, num_shards=3, workers=1, overwrite=True)


def test_parts_and_a_whole_build_exclude_each_other(tmp_path: Path) -> None:
    from movmnist.store import outdir

    out = tmp_path / "ds"
    out.mkdir()
    with outdir.shared(out, print), outdir.shared(out, print):  # parts side by side
        with pytest.raises(BuildLocked, match="being built in parts"):
            build(small_config(), out, workers=1)
        with pytest.raises(BuildLocked, match="being built in parts"):
            merge(out)
    with outdir.locked(out, print), pytest.raises(BuildLocked, match="being built by pid"):
        build_part(small_config(), out, shard_index=0, num_shards=2, workers=1)


def test_plan_parts_cover_every_shard_once() -> None:
    from movmnist.builder.driver import prepare

    plan, _, _ = prepare(small_config("output.shard_size=3"))  # 8 + 3 + 6 shards
    total = len(plan.shards)
    for count in (1, 2, 5, total):
        pieces = [plan.part(k, count) for k in range(count)]
        assert [s for piece in pieces for s in piece] == list(plan.shards)
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
    with pytest.raises(ConfigError, match=f"use at most {total}"):
        plan.part(0, total + 1)
    with pytest.raises(ConfigError, match="use 0 to 1"):
        plan.part(2, 2)
    usage = faults.invoke(["build", "--shard-index", "1", "--out", "x"])
    assert usage.code == 2 and "Error: --shard-index and --num-shards go together" in usage.output


def test_merge_of_nothing(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert faults.refused(faults.invoke(["merge", str(tmp_path / "empty")]), "holds no parts of a build")
    assert faults.refused(faults.invoke(["merge", str(tmp_path / "none")]), "is not a directory")
