"""TensorFlow Datasets image sets by name: `open_tfds`, `fetch` and `status`.

Two ways in, one cache out. `download` gets a set either through TFDS's download manager
alone (mnist, fashion_mnist, kmnist: no TensorFlow) or through `tfds.data_source` once TFDS
has prepared it (any other image set; preparing it needs TensorFlow), and is the only module
that imports tensorflow_datasets, lazily. `probe` makes a download fail within seconds
offline, so that one error names the dataset and the ways out. `cache` keeps the decoded
uint8 arrays in `{data_dir}/movmnist/{name}/` (`cache.json` written last), and opening a
cached set (`TfdsSource`) never imports tensorflow_datasets, so a build starts in
milliseconds. This module joins them: `open_tfds` (the cache, fetched first if need be) and
`status`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from movmnist.errors import SourceError
from movmnist.sources.base import check_same_shapes
from movmnist.sources.tfds.cache import (
    CACHE_DIR,
    CACHE_FILE,
    CACHE_FORMAT,
    TfdsSource,
    cache_path,
    data_root,
    default_data_dir,
    read_cache,
)
from movmnist.sources.tfds.download import (
    IDX_SET_IMAGE,
    IDX_SET_SPLITS,
    IDX_SETS,
    INSTALL_TENSORFLOW,
    PROBE_SECONDS,
    WAYS_OUT,
    fetch,
)
from movmnist.sources.tfds.probe import unreachable

__all__ = [
    "CACHE_DIR",
    "CACHE_FILE",
    "CACHE_FORMAT",
    "IDX_SETS",
    "IDX_SET_IMAGE",
    "IDX_SET_SPLITS",
    "INSTALL_TENSORFLOW",
    "PROBE_SECONDS",
    "WAYS_OUT",
    "TfdsSource",
    "cache_path",
    "data_root",
    "default_data_dir",
    "fetch",
    "open_tfds",
    "read_cache",
    "status",
    "unreachable",
]


def open_tfds(
    name: str, data_dir: str | Path | None = None, mirror: str | None = None, download: bool = True
) -> TfdsSource:
    """The TFDS set `name`, from the cache, downloading (and caching) it first if needed
    (`download=False`: SourceError instead; nothing is created, no URL contacted).

    Raises DownloadError when it cannot be downloaded (or fails its checksum), SourceError when
    the name is unknown or the set cannot be used (e.g. it needs TensorFlow to prepare).
    """
    directory = cache_path(name, data_dir)
    meta = read_cache(directory)
    if meta is None and not download:
        raise SourceError(f"the tfds set {name} is not cached in {directory}; fetch it first: movmnist fetch {name}")
    if meta is None:
        meta = fetch(name, data_dir, mirror=mirror)
    check_same_shapes(directory, {split: tuple(info["image_shape"]) for split, info in meta["splits"].items()})
    return TfdsSource(name=name, directory=directory, meta=meta)


def status(name: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """Whether `name` is cached (and, for the other sets, prepared by TFDS), without importing TFDS."""
    root = data_root(data_dir)
    directory = cache_path(name, root)
    meta = read_cache(directory)
    info: dict[str, Any] = {
        "name": name,
        "data_dir": str(root),
        "cached": meta is not None,
        "path": str(directory),
        "needs_tensorflow": name not in IDX_SETS,
    }
    if meta is not None:
        info["splits"] = {k: v["count"] for k, v in meta["splits"].items()}
        info["image_shape"] = next(iter(meta["splits"].values()))["image_shape"]
    if name not in IDX_SETS:
        base, _, version = name.partition(":")
        info["prepared"] = any((root / base).glob(f"{version or '*'}/dataset_info.json"))
    return info
