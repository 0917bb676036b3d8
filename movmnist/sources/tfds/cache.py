"""The decoded-array cache of the TFDS sets, and reading it (`TfdsSource`).

A set is cached once in `{data_dir}/movmnist/{name}/`: one .npy file for each split's
images and one for its labels, with `cache.json` (its description) written last, so if
that file exists the cache is whole. Reading a cache needs no tensorflow_datasets, and
this module never imports it: a build on a cached set starts in milliseconds.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import SourceError
from movmnist.files import read_bounded
from movmnist.sources.base import Images, check_images, check_labels, file_stamp, load_npy, readonly, unknown_split

CACHE_DIR = "movmnist"
CACHE_FILE = "cache.json"
CACHE_FORMAT = 1


def default_data_dir() -> Path:
    """TFDS's default data dir: $TFDS_DATA_DIR, else ~/tensorflow_datasets.

    The same rule as `tensorflow_datasets.core.constants.get_default_data_dir`, restated so
    that finding a cached set does not import tensorflow_datasets (0.5 s).
    """
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets").expanduser()


def data_root(data_dir: str | Path | None = None) -> Path:
    """The data dir to use, absolute: `data_dir`, else TFDS's default."""
    return (Path(data_dir).expanduser() if data_dir else default_data_dir()).absolute()


def cache_path(name: str, data_dir: str | Path | None = None) -> Path:
    """Where the decoded arrays of `name` live: {data_dir}/movmnist/{name} (':' spelled '@')."""
    return data_root(data_dir) / CACHE_DIR / name.replace(":", "@")


def read_cache(directory: Path) -> dict[str, Any] | None:
    """The cache's description, or None if there is no whole cache in `directory`."""
    try:
        meta = json.loads(read_bounded(directory / CACHE_FILE, 1 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or not isinstance(meta.get("splits"), dict):
        return None
    return meta


@dataclass(frozen=True, eq=False)
class TfdsSource:
    """A TFDS image set, decoded and cached: its own splits (e.g. 'train', 'test'), whole."""

    name: str
    directory: Path
    meta: dict[str, Any]

    kind = "tfds"
    synthetic = False

    def split_names(self) -> tuple[str, ...]:
        return tuple(self.meta["splits"])

    def load(self, split: str) -> Images:
        """The split's images [M, h, w] (or [M, h, w, C]) uint8 and labels [M] int64, read once per process."""
        if split not in self.meta["splits"]:
            raise unknown_split(f"the tfds source {self.name}", split, self.meta["splits"])
        images = self.directory / f"{split}-images.npy"
        return _load_split(
            images, self.directory / f"{split}-labels.npy", file_stamp(images, fix="run movmnist fetch again")
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "path": str(self.directory),
            "synthetic": self.synthetic,
            **{k: v for k, v in self.meta.items() if k not in ("format", "name")},
        }


@functools.lru_cache(maxsize=8)
def _load_split(images_file: Path, labels_file: Path, stamp: tuple[int, int]) -> Images:
    try:
        images, labels = load_npy(images_file), load_npy(labels_file)
    except (OSError, ValueError) as exc:
        raise SourceError(
            f"the cache file {images_file.parent} is damaged ({exc}); delete that folder and run movmnist fetch"
        ) from None
    check_images(images_file, "the images", images.shape)
    check_labels(labels_file, "the labels", labels)
    return Images(images=readonly(np.ascontiguousarray(images)), labels=readonly(labels.astype(np.int64)))


def write_cache(directory: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write the arrays and cache.json into a temporary folder, then rename it into place.

    Safe when several machines fetch into one shared data dir at once: the temporary name is
    per host and process, and whoever renames second finds a whole cache and keeps it.
    """
    tmp = directory.with_name(f".{directory.name}.tmp-{socket.gethostname()}-{os.getpid()}")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", array, allow_pickle=False)
        (tmp / CACHE_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if directory.exists():  # stale, or being replaced (fetch --force): the manifest-like file first
            (directory / CACHE_FILE).unlink(missing_ok=True)
            shutil.rmtree(directory, ignore_errors=True)
        try:
            os.replace(tmp, directory)
        except OSError:
            if read_cache(directory) is None:  # not another process's finished cache
                raise
    except OSError as exc:
        raise SourceError(
            f"cannot write the cache {directory} ({exc.strerror or exc}); set source.data_dir to a writable folder"
        ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
