"""Hugging Face datasets: Parquet per split and a dataset card, for `datasets.load_dataset(path)`.

Layout of the export directory (`shard_size` sequences per Parquet file, the last shorter):

    data/{split}-{i:05d}-of-{n:05d}.parquet   e.g. data/train-00000-of-00002.parquet
    README.md                                 the dataset card: YAML front matter (license,
                                              configs with each split's data_files, features,
                                              split sizes), then what the data is and how to load it
    .movmnist-export.json                     what made it: format, splits, file names, sizes

One row per sequence: `index` (its place in the split, int64), `frames` as `Array3D`
[T, H, W] uint8 (`Array4D` [T, H, W, C] for colour), and each stored annotation as its
own column, typed by its shape: `List(length=K)` for a row of K values, `Array2D` to
`Array5D` beyond. Typed arrays rather than .npy bytes (README "Exports" has the cost): the
consumer's `with_format("numpy")` gives the arrays with no decoding of ours, and the Hub's
viewer and its Croissant metadata know their shapes and dtypes. Each file is written in
row groups of `ROW_GROUP` sequences, one group in memory at a time, zstd-compressed.
The features are also in each file's Arrow schema, so `load_dataset("parquet", data_files=...)`
needs no card.
"""

from __future__ import annotations

import contextlib
from os import PathLike
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from movmnist.config.load import dump_yaml
from movmnist.errors import DatasetError
from movmnist.read.dataset import Dataset
from movmnist.read.views import SplitView
from movmnist.sources.licences import license_lines, source_licence
from movmnist.text import markdown_text
from movmnist.tools.exports import target
from movmnist.tools.exports.base import Options, Progress, per_split

SHARD_SIZE = 5000  # sequences per file: ~100 MB of Parquet at 20 x 64 x 64 with the default annotations
ROW_GROUP = 256  # sequences per row group: ~21 MB of frames at 20 x 64 x 64 held at a time
ARRAYS = {2: datasets.Array2D, 3: datasets.Array3D, 4: datasets.Array4D, 5: datasets.Array5D}
CARD = "README.md"


def file_names(split: str, n: int, shard_size: int) -> list[str]:
    """The Parquet files (relative to the export) of a split of `n` sequences in files of `shard_size`."""
    count = max(1, -(-n // shard_size))
    return [f"data/{split}-{i:05d}-of-{count:05d}.parquet" for i in range(count)]


def feature(name: str, row: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
    """The `datasets` feature of a column whose every row is an array of shape `row`."""
    value = str(dtype)
    if dtype.kind == "S":  # captions: fixed-width ASCII bytes, a string column (event_captions: K*T strings a row)
        if len(row) > 1:
            raise DatasetError(f"dataset {name!r} has rows of {len(row)} dimensions of text; the hf export takes 1")
        return datasets.List(datasets.Value("string"), length=row[0]) if row else datasets.Value("string")
    if not row:
        return datasets.Value(value)
    if len(row) == 1:
        return datasets.List(datasets.Value(value), length=row[0])
    if len(row) in ARRAYS:
        return ARRAYS[len(row)](shape=row, dtype=value)
    raise DatasetError(f"dataset {name!r} has rows of {len(row)} dimensions; the hf export takes at most 5")


def features(batch: dict[str, np.ndarray]) -> datasets.Features:
    """The columns of a split from one batch of its `with_annotations()` items: index, frames, annotations."""
    columns = {"index": datasets.Value("int64")}
    columns.update({name: feature(name, a.shape[1:], a.dtype) for name, a in batch.items()})
    return datasets.Features(columns)


def column(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """`values` [n, *row] as the Arrow column of type `kind` (`features(...).type`), from numpy without a copy."""
    if values.dtype.kind == "S":  # captions (`feature`): text, not bytes
        text = pa.array(values.reshape(-1).astype(str))
        return text if values.ndim == 1 else pa.FixedSizeListArray.from_arrays(text, values.shape[1])
    flat: pa.Array = pa.array(values.reshape(-1))
    if values.ndim == 1:
        return flat
    if isinstance(kind, pa.FixedSizeListType):  # List(length=K)
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    count = values.size
    for size in reversed(values.shape[1:]):  # ArrayND's storage: lists of lists, innermost first
        offsets = pa.array(np.arange(0, count + 1, size, dtype=np.int32))
        flat = pa.ListArray.from_arrays(offsets, flat)
        count //= size
    return pa.ExtensionArray.from_storage(kind, flat)


def write_split(
    split: SplitView,
    stage: Path,
    shard_size: int = SHARD_SIZE,
    chunk: int = ROW_GROUP,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write `split` as Parquet files into `stage`; return {sequences, files, bytes, arrow_bytes, features}.

    Holds one row group of `chunk` sequences at a time; progress: called with sequences written."""
    items = split.with_annotations().with_input_frames(None)
    n = len(split)
    names = file_names(split.name, n, shard_size)
    schema: pa.Schema | None = None
    found: datasets.Features | None = None
    written = arrow = 0
    for i, name in enumerate(names):
        lo, hi = i * shard_size, min(n, (i + 1) * shard_size)
        with target.create(stage / name) as f, contextlib.ExitStack() as closing:
            writer: pq.ParquetWriter | None = None
            for first in range(lo, max(hi, lo + 1), chunk):  # an empty split still gets its (empty) file
                batch = items[first : min(hi, first + chunk)]
                if found is None:
                    found = features(batch)
                    schema = found.arrow_schema
                assert schema is not None
                if writer is None:
                    writer = closing.enter_context(
                        pq.ParquetWriter(f, schema, compression="zstd", write_statistics=["index"])
                    )
                count = len(batch["frames"])
                data = {"index": pa.array(np.arange(first, first + count, dtype=np.int64))}
                data.update({k: column(v, schema.field(k).type) for k, v in batch.items()})
                table = pa.table(data, schema=schema)
                writer.write_table(table, row_group_size=max(1, count))
                arrow += table.nbytes
                if progress is not None and count:
                    progress(count)
        written += (stage / name).stat().st_size
    assert found is not None
    return {"sequences": n, "files": names, "bytes": written, "arrow_bytes": arrow, "features": found}


def card(dataset: Dataset, name: str, result: dict[str, dict[str, Any]]) -> str:
    """README.md of the export: the Hub's YAML front matter, then the data, how to load and publish it."""
    manifest = dataset.manifest
    first = next(iter(result.values()))["features"]
    front = {
        "license": source_licence(manifest.source),
        "pretty_name": name,
        "task_categories": ["other"],
        "tags": ["moving-mnist", "video-prediction", "video"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in result],
            }
        ],
        "dataset_info": {
            "features": first._to_yaml_list(),
            # num_bytes: the split's size as Arrow tables, which `datasets` records (and wants here)
            "splits": [
                {"name": s, "num_bytes": r["arrow_bytes"], "num_examples": r["sequences"]} for s, r in result.items()
            ],
            "download_size": sum(r["bytes"] for r in result.values()),
            "dataset_size": sum(r["arrow_bytes"] for r in result.values()),
        },
    }
    t, h, w = manifest.sequence_shape[:3]
    splits = ", ".join(f"{s} {r['sequences']}" for s, r in result.items())
    columns = ", ".join(f"`{c}`" for c in first)
    example = next(iter(result))
    lines = [
        "---",
        dump_yaml(front).rstrip(),
        "---",
        "",
        f"# {markdown_text(name)}",
        "",
        f"Moving MNIST videos of {t} frames of {h}x{w} pixels (uint8), exported by movmnist"
        f" {manifest.movmnist_version} from the HDF5 dataset `{dataset.root.name}` (built {manifest.created},"
        f" seed {manifest.config.get('seed')}). Splits: {splits}. One row per sequence; columns: {columns}.",
        "",
        "```python",
        "import datasets",
        f'ds = datasets.load_dataset("{name}").with_format("numpy")   # or the path of this folder',
        f'ds["{example}"][0]["frames"].shape                           # ({t}, {h}, {w})',
        "```",
        "",
        "To publish it on the Hub (movmnist does not), from this folder, logged in with `hf auth login`:",
        "",
        "```",
        f"hf upload YOUR-NAME/{name} . --repo-type dataset    # huggingface_hub < 1.0: huggingface-cli upload",
        "```",
        "",
        *license_lines(manifest.source),
    ]
    return "\n".join(lines) + "\n"


def write(
    dataset: Dataset, out: str | PathLike[str], splits: tuple[str, ...], options: Options, progress: Progress | None
) -> dict[str, Any]:
    """The `hf` export of `splits` into the directory `out` (see the module docstring)."""
    size = options.shard_size or SHARD_SIZE
    path = Path(out)
    record = {"format": "hf", "dataset": dataset.root.name, "shard_size": size}
    with target.new_directory(path, options.overwrite, record) as stage:
        result = {
            name: write_split(dataset[name], stage, size, min(options.chunk, ROW_GROUP), progress) for name in splits
        }
        with target.create(stage / CARD) as f:
            f.write(card(dataset, path.resolve().name, result).encode("utf-8"))
    for r in result.values():
        del r["features"]  # in the card
    return per_split(result)
