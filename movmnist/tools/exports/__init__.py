"""Exports: a built dataset in the formats other people's code reads, streaming. One registry.

`FORMATS` is every format, as data: what it writes (one file, or a directory), which splits
it takes, the pip extra it needs, and the unit its progress counts. `export()` dispatches on
it; the CLI's --format choices and help are read from it. A new format is a row here and a
module beside this one (README "Development").

| format        | writes                                              | module        |
| ------------- | --------------------------------------------------- | ------------- |
| `npy`         | one split as one .npy (layouts tnhw, nthw, ntchw)   | `arrays`      |
| `predrnn-npz` | one split as PredRNN / E3D-LSTM's .npz              | `arrays`      |
| `webdataset`  | a directory of tar shards, one sample per sequence  | `webdataset`  |
| `hf`          | a directory: Parquet per split + a dataset card     | `huggingface` |
| `croissant`   | one JSON-LD file describing the HDF5 shards         | `croissant`   |

Every export is atomic (`target`): the file or directory takes its name only when whole.
The directory formats and croissant refuse an existing target unless `overwrite`.
"""

from __future__ import annotations

import importlib
from os import PathLike
from typing import Any, BinaryIO

from movmnist.errors import ConfigError, OutputError
from movmnist.read.dataset import Dataset
from movmnist.tools.exports.arrays import LAYOUTS
from movmnist.tools.exports.base import Format, Options, Progress

__all__ = ["FORMATS", "LAYOUTS", "Format", "Options", "export", "progress_total", "splits_for"]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("npy", "file", "one", "frame", "arrays:write_npy_export", "one uint8 array (--layout)"),
        Format(
            "predrnn-npz",
            "file",
            "one",
            "frame",
            "arrays:write_predrnn_export",
            "PredRNN / E3D-LSTM's clips, dims, input_raw_data",
        ),
        Format(
            "webdataset",
            "directory",
            "many",
            "seq",
            "webdataset:write",
            "tar shards of --shard-size samples: frames.npy, labels.json, each annotation .npy",
        ),
        Format(
            "hf",
            "directory",
            "many",
            "seq",
            "huggingface:write",
            "Parquet files of --shard-size rows per split and a dataset card, for datasets.load_dataset",
            needs=("pyarrow", "datasets"),
            extra="hf",
        ),
        Format(
            "croissant",
            "file",
            "dataset",
            "shard",
            "croissant:write",
            "MLCommons Croissant JSON-LD describing the HDF5 shards (checksums, record sets, fields)",
        ),
    )
}


def _format(name: str) -> Format:
    known = FORMATS.get(name)
    if known is None:
        raise ConfigError(f"format {name!r} is not known; use one of: {', '.join(FORMATS)}")
    for module in known.needs:
        try:
            importlib.import_module(module)
        except ImportError:
            raise ConfigError(
                f"--format {name} needs the {module} package: pip install 'movmnist[{known.extra}]'"
            ) from None
    return known


def splits_for(dataset: Dataset, format: str, split: str | None) -> tuple[str, ...]:
    """The splits an export of `format` takes: `split`, or its default (test; every split)."""
    kind = _format(format).splits
    if kind == "dataset":
        if split is not None:
            raise ConfigError(f"--format {format} describes the whole dataset; give no --split")
        return tuple(dataset)
    if split is not None:
        return (dataset[split].name,)  # UnknownSplitError (exit 2) for a split the dataset lacks
    return ("test",) if kind == "one" else tuple(dataset)


def progress_total(dataset: Dataset, format: str, splits: tuple[str, ...]) -> int:
    """The units an export of `splits` in `format` reports to `progress` in all (FORMATS[format].unit)."""
    unit = _format(format).unit
    if unit == "shard":
        return sum(len(dataset.manifest.splits[name].shards) for name in splits)
    return sum(len(dataset[name]) * (dataset[name].shape[1] if unit == "frame" else 1) for name in splits)


def export(
    dataset: Dataset,
    out: str | PathLike[str] | BinaryIO,
    split: str | None = None,
    format: str = "npy",
    layout: str = "tnhw",
    input_frames: int | None = None,
    shard_size: int | None = None,
    overwrite: bool = False,
    chunk: int = 256,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Export `dataset` (the splits `splits_for` gives) to `out` in `format` (a row of FORMATS).

    out: a path; for npy and predrnn-npz also '-' (stdout) or a binary stream.
    layout: npy's axis order; input_frames: predrnn-npz's K (default T // 2); shard_size:
    webdataset's sequences per tar, hf's rows per Parquet file. overwrite: replace an existing
    export (npy and predrnn-npz always replace a file). progress: called with the units done
    (FORMATS[format].unit).
    Returns a summary: format, splits, sequences, bytes, and the format's own fields.
    """
    fmt = _format(format)
    names = splits_for(dataset, format, split)
    if fmt.writes == "directory" and not isinstance(out, str | PathLike):
        raise OutputError(f"--format {format} writes a directory: give -o a folder name, not a stream")
    if fmt.writes == "directory" and str(out) == "-":
        raise OutputError(f"--format {format} writes a directory, not a stream: give -o a folder name")
    options = Options(layout, input_frames, shard_size, overwrite, chunk)
    module, _, function = fmt.writer.partition(":")
    write = getattr(importlib.import_module(f"movmnist.tools.exports.{module}"), function)
    summary: dict[str, Any] = write(dataset, out, names, options, progress)
    return {"format": format, **summary}
