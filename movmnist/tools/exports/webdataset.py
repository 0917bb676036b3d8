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
shape, decoded by webdataset's default handlers with no codec. A per-sequence scalar
(captions, background_index) is a 0-d `.npy`.

The tar is written here, not with `tarfile`, whose per-member work (a TarInfo copied, its
header built field by field, the data copied through a file object) was two thirds of the
export's time (README "Performance", "Exports"): each member is one USTAR header (`header`:
mode 0644, owner 0:0, time 0, so the same dataset gives the same bytes, on any machine and
Python), the member's bytes, NULs to a 512-byte block; a chunk of samples is one write.
The archive ends as tarfile ends one: two NUL blocks, then NULs to a 10,240-byte record.
"""

from __future__ import annotations

import io
import json
import tarfile
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
BLOCK = 512  # a tar header, and the unit member data is padded to
RECORD = 20 * BLOCK  # an archive's length is a multiple of this (tarfile's RECORDSIZE)
# A header's fields (USTAR): name (100 bytes), then these three: mode 0644, uid 0, gid 0;
# size (12); mtime 0; checksum (8); then the rest: type "0" (a file), no link, magic "ustar\0"
# version "00", no user or group name, no device numbers (NULs, as tarfile writes them for a
# file), no prefix, padding to 512.
_MODE_IDS = b"0000644\0" + b"0000000\0" * 2
_MTIME = b"00000000000\0"
_TAIL = b"0" + bytes(100) + b"ustar\x0000" + bytes(64) + bytes(16) + bytes(155) + bytes(12)
_SUM = sum(_MODE_IDS) + sum(_MTIME) + sum(_TAIL) + 8 * ord(" ")  # the checksum counts itself as spaces

Piece = bytes | memoryview


def shard_names(split: str, n: int, shard_size: int) -> list[str]:
    """The tar names of a split of `n` sequences in shards of `shard_size`."""
    count = max(1, -(-n // shard_size))
    return [f"{split}-{i:05d}-of-{count:05d}.tar" for i in range(count)]


def header(name: str, size: int) -> bytes:
    """The 512-byte USTAR header of the file member `name` of `size` bytes (mode 0644, owner
    0:0, time 0): the bytes `tarfile` writes for that TarInfo in USTAR_FORMAT."""
    raw = name.encode()
    if len(raw) > 100 or size >= 8**11:  # a name in two fields, or a size USTAR cannot hold: tarfile's rules
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        return info.tobuf(tarfile.USTAR_FORMAT)
    size_field = b"%011o\0" % size
    checksum = b"%06o\0 " % (sum(raw) + sum(size_field) + _SUM)
    return b"".join((raw, bytes(100 - len(raw)), _MODE_IDS, size_field, _MTIME, checksum, _TAIL))


def npy_header(row: tuple[int, ...], dtype: np.dtype[Any]) -> bytes:
    """What an .npy file of one array of shape `row` and `dtype` holds before the array's bytes."""
    array = np.zeros(row, np.dtype(dtype.str))  # without h5py's metadata, which .npy cannot keep
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, allow_pickle=False)
    return buf.getvalue()[: buf.tell() - array.nbytes]


def _member(name: str, data: list[Piece], size: int) -> list[Piece]:
    return [header(name, size), *data, bytes(-size % BLOCK)]


def sample(key: str, rows: dict[str, np.ndarray], headers: dict[str, bytes]) -> list[Piece]:
    """The tar members of one sequence's sample, as pieces to write in order.

    rows: each array's row of this sequence, kept as a [1, ...] slice of its C-contiguous batch
    (a scalar's row too), so that its bytes are written from the batch with no copy; headers:
    each array's `npy_header`.
    """
    pieces: list[Piece] = []
    for name, row in rows.items():
        data = row.reshape(-1).view(np.uint8).data
        pieces += _member(f"{key}.{name}.npy", [headers[name], data], len(headers[name]) + len(data))
        if name == "frames" and "labels" in rows:
            labels = json.dumps(rows["labels"][0].tolist()).encode()
            pieces += _member(f"{key}.labels.json", [labels], len(labels))
    return pieces


def write_split(
    split: SplitView,
    stage: Path,
    shard_size: int = SHARD_SIZE,
    chunk: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write `split` as tar shards into `stage`; return {sequences, shards, bytes}.

    Holds one chunk of `chunk` sequences at a time (and its tar bytes, written at once);
    progress: called with sequences written."""
    items = split.with_annotations().with_input_frames(None)
    n = len(split)
    names = shard_names(split.name, n, shard_size)
    headers: dict[str, bytes] = {}
    written = 0
    for i, name in enumerate(names):
        lo, hi = i * shard_size, min(n, (i + 1) * shard_size)
        size = 0
        with target.create(stage / name) as f:
            for first in range(lo, hi, chunk):
                batch = {k: np.ascontiguousarray(v) for k, v in items[first : min(hi, first + chunk)].items()}
                if not headers:
                    headers = {k: npy_header(v.shape[1:], v.dtype) for k, v in batch.items()}
                count = len(batch["frames"])
                pieces: list[Piece] = []
                for j in range(count):
                    key = KEY.format(split=split.name, index=first + j)
                    pieces += sample(key, {k: v[j : j + 1] for k, v in batch.items()}, headers)
                data = b"".join(pieces)
                f.write(data)
                size += len(data)
                if progress is not None:
                    progress(count)
            f.write(bytes(2 * BLOCK + -(size + 2 * BLOCK) % RECORD))  # the end of the archive
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
