"""Tiny built datasets for the tests of preview, export, stats and verify; builds on 1 and 2 workers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import movmnist
from movmnist.builder import build
from movmnist.config import Config
from movmnist.store import schema, shards
from tests.conftest import small_config

# test split of 5 sequences in shards of 3 and 2; train 4, val none: built in well under a second.
TINY = (
    "splits.train.sequences=4",
    "splits.val.sequences=0",
    "splits.test.sequences=5",
    "output.shard_size=3",
)


def tiny(out: Path, *overrides: str) -> Path:
    """Build the tiny dataset (plus overrides) into `out`; return `out`."""
    build(small_config(*TINY, *overrides), out, workers=1)
    return out


def rgb_copy(src: Path, dst: Path) -> Path:
    """A copy of dataset `src` with RGB frames [N, T, H, W, 3]: each sequence tinted its own colour.

    Stands in for a colour source: the shards are rewritten with the shard module and the
    manifest updated (sequence shape, checksums, sizes), as a colour build would write them.
    """
    shutil.copytree(src, dst)
    manifest = json.loads((dst / "manifest.json").read_text())
    tints = np.array([[1.0, 0.3, 0.3], [0.3, 1.0, 0.3], [0.3, 0.3, 1.0], [1.0, 1.0, 0.2]])
    for info in manifest["splits"].values():
        for shard in info["shards"]:
            path = dst / shard["file"]
            with h5py.File(path, "r") as f:
                data = {name: f[name][:] for name in f}
                attrs = dict(f.attrs)
            n = len(data["frames"])
            tint = tints[(np.arange(n) + shard["first"]) % len(tints)][:, None, None, None, :]
            data["frames"] = (data["frames"][..., None] * tint).astype(np.uint8)
            extras = tuple(name for name in data if name in schema.OPTIONAL + schema.TABLES)
            layout = schema.Layout(sequence=data["frames"].shape[1:], digits=data["labels"].shape[1], extras=extras)
            path.unlink()
            shard["sha256"] = shards.write_shard(path, n, layout, [data], attrs)
            shard["bytes"] = path.stat().st_size
    manifest["sequence_shape"] = [*manifest["sequence_shape"], 3]
    (dst / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return dst


def built_on_1_and_2_workers(cfg: Config, tmp_path: Path) -> tuple[Any, Any]:
    """Build `cfg` on 1 and on 2 workers, check that every shard has the same sha256 and size,
    and return the 1-worker build (opened) and `movmnist.procedural` of the same config."""
    for workers in (1, 2):
        build(cfg, tmp_path / str(workers), workers=workers)
    shards_of = [json.loads((tmp_path / w / "manifest.json").read_text())["splits"] for w in ("1", "2")]
    assert shards_of[0] == shards_of[1]  # each shard's sha256 and size
    return movmnist.open(tmp_path / "1"), movmnist.procedural(cfg)


def stored_as_computed(built: Any, fresh: Any, split: str) -> dict[str, np.ndarray]:
    """Every array of `split` as the build `built` stored it, after checking that the procedural
    dataset `fresh` of the same config computes the same names, dtypes and bytes."""
    stored, generated = built[split].with_annotations()[:], fresh[split].with_annotations()[:]
    assert set(stored) == set(generated), split
    for name in stored:
        assert stored[name].dtype == generated[name].dtype, f"{split} {name}"
        assert stored[name].tobytes() == generated[name].tobytes(), f"{split} {name}"
    return stored


def chunk_digest(chunk: Any) -> str:
    """The first 16 hex digits of a sha256 over every array of a generated chunk (its name,
    dtype, shape and bytes): one line to pin that a change leaves a config's arrays as they were."""
    h = hashlib.sha256()
    for f in dataclasses.fields(chunk):
        a = getattr(chunk, f.name)
        if a is not None:
            a = np.asarray(a)
            h.update(
                f.name.encode() + str(a.dtype).encode() + str(a.shape).encode() + np.ascontiguousarray(a).tobytes()
            )
    return h.hexdigest()[:16]
