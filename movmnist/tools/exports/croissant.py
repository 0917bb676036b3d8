"""MLCommons Croissant 1.1 metadata of a built dataset: one JSON-LD file describing its HDF5 shards.

The shards stay where they are; the file describes them, for dataset search engines and for
tools that read Croissant (`mlcroissant` validates it: tests/tools/test_export_croissant.py):

- `distribution`: manifest.json, README.md and each shard as a `cr:FileObject` (its
  `contentUrl` relative to the JSON file's folder, `sha256`, `contentSize`, HDF5's
  media type), and the `cr:FileSet` "shards" gathering them (an `includes` glob per split);
- `recordSet` "splits": the splits, as `cr:Split` records;
- `recordSet` "sequences": one record per sequence, a field per HDF5 dataset of the shards
  (`extract.column` is the dataset's name; row i of a shard is the sequence `first + i` of
  its split) with its Croissant data type, `isArray` and `arrayShape` (the row's shape,
  without the sequence axis), and the field `split`, read from the shard's file name.

Each shard is hashed as it is described (progress counts shards) and must match the
manifest's sha256: a changed shard stops the export (run `movmnist verify`).
"""

from __future__ import annotations

import hashlib
import json
import os
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

from movmnist.errors import DatasetError, OutputError
from movmnist.read.dataset import Dataset
from movmnist.sources.licences import LICENCES, citation, source_licence
from movmnist.store.manifest import MANIFEST, SHARD_NAME
from movmnist.store.reader import ShardReader
from movmnist.tools.exports import target
from movmnist.tools.exports.base import Options, Progress

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"
HDF5 = "application/x-hdf5"
SPLIT = SHARD_NAME.pattern  # a shard's file name, its split's name the first group
# The JSON-LD context of Croissant 1.1 (mlcroissant's `make_context` for 1.1, as data).
CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
DATA_TYPES = {
    "uint8": "cr:UInt8",
    "uint16": "cr:UInt16",
    "uint32": "cr:UInt32",
    "uint64": "cr:UInt64",
    "int8": "cr:Int8",
    "int16": "cr:Int16",
    "int32": "cr:Int32",
    "int64": "cr:Int64",
    "float16": "cr:Float16",
    "float32": "cr:Float32",
    "float64": "cr:Float64",
    "bool": "sc:Boolean",
}


def sha256(path: Path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(block):
            digest.update(data)
    return digest.hexdigest()


def _file(uid: str, url: str, size: int, digest: str, media: str, description: str) -> dict[str, Any]:
    return {
        "@type": "cr:FileObject",
        "@id": uid,
        "name": uid,
        "description": description,
        "contentUrl": url,
        "contentSize": f"{size} B",
        "encodingFormat": media,
        "sha256": digest,
    }


def _field(name: str, description: str, data_type: str, source: dict[str, Any], row: tuple[int, ...] = ()) -> Any:
    field: dict[str, Any] = {
        "@type": "cr:Field",
        "@id": f"sequences/{name}",
        "name": name,
        "description": description,
        "dataType": data_type,
        "source": source,
    }
    if row:
        field.update({"isArray": True, "arrayShape": ",".join(map(str, row))})
    return field


def describe(dataset: Dataset, folder: Path, progress: Progress | None = None) -> dict[str, Any]:
    """The Croissant JSON-LD of `dataset`, its file URLs relative to `folder` (where the JSON goes)."""
    manifest = dataset.manifest
    root = dataset.root.resolve()

    def url(name: str) -> str:
        return Path(os.path.relpath(root / name, folder.resolve())).as_posix()

    def whole(name: str) -> tuple[int, str]:
        return (root / name).stat().st_size, sha256(root / name)

    distribution = [
        _file(
            MANIFEST, url(MANIFEST), *whole(MANIFEST), "application/json", "what the build made: config, splits, shards"
        ),
    ]
    if (root / "README.md").is_file():
        distribution.append(_file("README.md", url("README.md"), *whole("README.md"), "text/markdown", "dataset card"))
    rows: dict[str, tuple[tuple[int, ...], str]] = {}
    for split, info in manifest.splits.items():
        for shard in info.shards:
            digest = sha256(root / shard.file)
            if digest != shard.sha256:
                raise DatasetError(
                    f"{root / shard.file} does not match the sha256 in {MANIFEST}; run `movmnist verify {root}`"
                )
            what = f"sequences {shard.first} to {shard.first + shard.sequences - 1} of {split}"
            distribution.append(_file(shard.file, url(shard.file), shard.bytes, digest, HDF5, what))
            if not rows:
                reader = ShardReader(root / shard.file)
                try:
                    found = reader.datasets()
                    rows = {k: (found[k][0][1:], found[k][1]) for k in ("frames", *dataset[split].annotation_names)}
                finally:
                    reader.close()
            if progress is not None:
                progress(1)
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "shards",
            "name": "shards",
            "description": "the HDF5 shards of every split, named {split}-{i:05d}-of-{n:05d}.h5",
            "encodingFormat": HDF5,
            "includes": [url(f"{split}-*.h5") for split in manifest.splits],
        }
    )
    fields = [
        _field(
            "split",
            "the sequence's split (from its shard's file name)",
            "sc:Text",
            {"fileSet": {"@id": "shards"}, "extract": {"fileProperty": "filename"}, "transform": {"regex": SPLIT}},
        )
    ]
    fields[0]["references"] = {"field": {"@id": "splits/name"}}
    for name, (row, dtype) in rows.items():
        kind = "sc:Text" if dtype.lstrip("|").startswith("S") else DATA_TYPES.get(dtype)  # captions: ASCII bytes
        if kind is None:
            raise DatasetError(f"dataset {name!r} is {dtype}, which Croissant has no data type for")
        what = "the frames, uint8" if name == "frames" else f"the {name} annotation"
        source = {"fileSet": {"@id": "shards"}, "extract": {"column": name}}
        fields.append(_field(name, f"{what} (HDF5 dataset {name!r}, one row per sequence)", kind, source, row))
    t, h, w = manifest.sequence_shape[:3]
    licence = source_licence(manifest.source)
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": dataset.root.resolve().name,
        "description": (
            f"Moving MNIST: {manifest.sequences} videos of {t} frames of {h}x{w} pixels, in HDF5 shards"
            f" built by movmnist {manifest.movmnist_version} (seed {manifest.config.get('seed')})."
        ),
        "license": LICENCES.get(licence, "see README.md"),
        "citeAs": citation(manifest.source),
        "version": manifest.movmnist_version or "0.0.0",
        **({"datePublished": manifest.created} if manifest.created else {}),
        "distribution": distribution,
        "recordSet": [
            {
                "@type": "cr:RecordSet",
                "@id": "splits",
                "name": "splits",
                "description": "the splits of the dataset",
                "dataType": "cr:Split",
                "key": {"@id": "splits/name"},
                "field": [{"@type": "cr:Field", "@id": "splits/name", "name": "name", "dataType": "sc:Text"}],
                "data": [{"splits/name": s} for s in manifest.splits],
            },
            {
                "@type": "cr:RecordSet",
                "@id": "sequences",
                "name": "sequences",
                "description": "one record per sequence",
                "field": fields,
            },
        ],
    }


def write(
    dataset: Dataset,
    out: str | PathLike[str] | BinaryIO,
    splits: tuple[str, ...],
    options: Options,
    progress: Progress | None,
) -> dict[str, Any]:
    """The `croissant` export: the JSON-LD of the whole dataset to the file `out`."""
    if not isinstance(out, str | PathLike) or str(out) == "-":
        raise OutputError("--format croissant writes a file whose URLs are relative to it: give -o a file name")
    path = Path(out)
    data = describe(dataset, path.parent, progress)
    text = json.dumps(data, indent=2) + "\n"
    with target.new_file(path, overwrite=options.overwrite) as f:
        f.write(text.encode("utf-8"))
    shards = [d for d in data["distribution"] if d.get("encodingFormat") == HDF5 and d["@type"] == "cr:FileObject"]
    return {"file": str(path), "shards": len(shards), "sequences": dataset.manifest.sequences, "bytes": len(text)}
