"""WebDataset tar shards: one sample per sequence, for `webdataset.WebDataset(...).decode()`.

Layout of the export directory (`shard_size` sequences per tar, the last shorter):

    {split}-{i:05d}-of-{n:05d}.tar      e.g. train-00000-of-00004.tar, brace form
                                        train-{00000..00003}-of-00004.tar
    .movmnist-export.json               what made it: format, splits, shard names, sizes

Each sample (members `{key}.{field}`, in this order; `__key__` is `{split}-{index:08d}`,
index the sequence's place in its split):

    frames.npy    [T, H, W] (or [T, H, W, C]) uint8
    labels.json   the digit class of each slot, -1 if absent (a JSON list of K integers)
    {name}.npy    every annotation the shards store, as stored (labels, positions,
                  source_index, and any the build added: boxes, masks, events, ...)

Frames are `.npy` (the measurement behind that choice: README "Exports"): exact dtype and
shape, decoded by webdataset's default handlers with no codec. Tar members carry no time,
owner or mode of this machine, so the same dataset gives the same bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.read.dataset import Dataset
from movmnist.read.views import SplitView
from movmnist.tools.exports import target
from movmnist.tools.exports.base import Options, Progress, per_split

SHARD_SIZE = 1000  # sequences per tar: ~85 MB of frames at 20 x 64 x 64 (WebDataset advises shards of 100 MB or so)
KEY = "{split}-{index:08d}"


def shard_names(split: str, n: int, shard_size: int) -> list[str]:
    """The tar names of a split of `n` sequences in shards of `shard_size`."""
    count = max(1, -(-n // shard_size))
    return [f"{split}-{i:05d}-of-{count:05d}.tar" for i in range(count)]


def npy_bytes(array: np.ndarray) -> bytes:
    """`array` as the bytes of an .npy file."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def sample_members(key: str, item: dict[str, np.ndarray]) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of one sequence's sample; `item` is a `with_annotations()` item."""
    yield f"{key}.frames.npy", npy_bytes(item["frames"])
    if "labels" in item:
        yield f"{key}.labels.json", json.dumps(item["labels"].tolist()).encode()
    for name, value in item.items():
        if name != "frames":
            yield f"{key}.{name}.npy", npy_bytes(value)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0  # nothing of this machine or moment
    tar.addfile(info, io.BytesIO(data))


def write_split(
    split: SplitView,
    stage: Path,
    shard_size: int = SHARD_SIZE,
    chunk: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write `split` as tar shards into `stage`; return {sequences, shards, bytes}.

    Holds one chunk of `chunk` sequences at a time; progress: called with sequences written."""
    items = split.with_annotations().with_input_frames(None)
    n = len(split)
    names = shard_names(split.name, n, shard_size)
    written = 0
    for i, name in enumerate(names):
        lo, hi = i * shard_size, min(n, (i + 1) * shard_size)
        with target.create(stage / name) as f, tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for first in range(lo, hi, chunk):
                batch = items[first : min(hi, first + chunk)]
                for j in range(len(batch["frames"])):
                    key = KEY.format(split=split.name, index=first + j)
                    for member, data in sample_members(key, {k: v[j] for k, v in batch.items()}):
                        _add(tar, member, data)
                if progress is not None:
                    progress(len(batch["frames"]))
        written += (stage / name).stat().st_size
    return {"sequences": n, "shards": names, "bytes": written}


def write(
    dataset: Dataset, out: str | PathLike[str], splits: tuple[str, ...], options: Options, progress: Progress | None
) -> dict[str, Any]:
    """The `webdataset` export of `splits` into the directory `out` (see the module docstring)."""
    size = options.shard_size or SHARD_SIZE
    record = {"format": "webdataset", "dataset": dataset.root.name, "shard_size": size}
    with target.new_directory(Path(out), options.overwrite, record) as stage:
        result = {name: write_split(dataset[name], stage, size, min(options.chunk, 64), progress) for name in splits}
    return per_split(result)
