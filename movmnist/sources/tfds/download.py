"""TensorFlow Datasets image sets by name. The only module that imports tensorflow_datasets.

Two ways in, one cache out:

- `mnist`, `fashion_mnist`, `kmnist` (the IDX sets): TFDS's own builders for these read
  with tf.io.gfile, that is, they need TensorFlow (1.5 GB). We use only TFDS's download
  manager, with the URLs of its builders and the sha256 checksums it registers for them,
  and decode the files with our IDX reader. No TensorFlow.
- any other image set (`cifar10`, `emnist/letters`, `svhn_cropped`, ...): `tfds.data_source`
  once TFDS has prepared it. Reading a prepared set needs no TensorFlow; preparing it does
  (the `movmnist[tensorflow]` extra).

Either way the decoded uint8 arrays are written once to `{data_dir}/movmnist/{name}/` as
.npy files, with `cache.json` written last (if it exists, the cache is whole). Opening a
cached set reads those files and never imports tensorflow_datasets, so a build starts in
milliseconds. tensorflow_datasets is imported lazily, only to download or prepare.

Offline: TFDS's downloader retries for minutes. Before calling it we try one TCP connection
to each host (or to its proxy) for a few seconds; if that fails, one error names the
dataset and the two ways out (local IDX files, or the synthetic digits).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import DownloadError, SourceError
from movmnist.sources.base import Images, file_stamp, readonly, unknown_split
from movmnist.sources.idx import SPLIT_FILES, read_idx_with_digest

# name -> the class in tensorflow_datasets.image_classification.mnist whose URL we download from.
IDX_SETS: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
CACHE_DIR = "movmnist"
CACHE_FILE = "cache.json"
CACHE_FORMAT = 1
PROBE_SECONDS = 4.0  # per host, all hosts at once: the offline error comes well within 10 s
_BATCH = 1024  # examples read from a data source at a time
WAYS_OUT = (
    "use local IDX files with --set source.kind=idx --set source.path=DIR,"
    " or built-in digits with --set source.kind=synthetic"
)
INSTALL_TENSORFLOW = "pip install 'movmnist[tensorflow]'"


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
        meta = json.loads((directory / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != CACHE_FORMAT or not isinstance(meta.get("splits"), dict):
        return None
    return meta


# --- the source ----------------------------------------------------------------------


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
        images = np.load(images_file, allow_pickle=False)
        labels = np.load(labels_file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SourceError(
            f"the cache file {images_file.parent} is damaged ({exc}); delete that folder and run movmnist fetch"
        ) from None
    return Images(images=readonly(np.ascontiguousarray(images)), labels=readonly(labels.astype(np.int64)))


def open_tfds(name: str, data_dir: str | Path | None = None, mirror: str | None = None) -> TfdsSource:
    """The TFDS set `name`, from the cache, downloading (and caching) it first if needed.

    Raises DownloadError when it cannot be downloaded (or fails its checksum), SourceError when
    the name is unknown or the set cannot be used (e.g. it needs TensorFlow to prepare).
    """
    directory = cache_path(name, data_dir)
    meta = read_cache(directory)
    if meta is None:
        meta = fetch(name, data_dir, mirror=mirror)
    return TfdsSource(name=name, directory=directory, meta=meta)


# --- what is cached ------------------------------------------------------------------


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


# --- downloading ---------------------------------------------------------------------


def fetch(
    name: str,
    data_dir: str | Path | None = None,
    *,
    mirror: str | None = None,
    checksums: str | Path | None = None,
    force: bool = False,
    probe_seconds: float = PROBE_SECONDS,
) -> dict[str, Any]:
    """Download (or prepare) `name` through tensorflow-datasets and cache its decoded arrays.

    Returns the cache's description. A set already cached is left alone unless `force`.
    mirror: an URL base to take the IDX sets' files from instead of TFDS's; the checksums
        TFDS registers for the original URLs are still verified.
    checksums: a TFDS checksums file (url, size, sha256, filename per line, tab-separated) to
        use instead of TFDS's registry, keyed by the original URLs.
    """
    directory = cache_path(name, data_dir)
    meta = None if force else read_cache(directory)
    if meta is not None:
        return meta
    root = data_root(data_dir)
    if mirror is not None and urllib.parse.urlsplit(mirror).scheme not in ("http", "https"):
        raise SourceError(f"the mirror must be an http(s):// URL base (got {mirror!r})")
    if name in IDX_SETS:
        arrays, meta = _fetch_idx(name, root, mirror, checksums, probe_seconds)
    else:
        if mirror is not None:
            raise SourceError(f"source.mirror works for {', '.join(IDX_SETS)} only; unset it for {name}")
        arrays, meta = _fetch_data_source(name, root, probe_seconds)
    _write_cache(directory, arrays, meta)
    return meta


def _fetch_idx(
    name: str, root: Path, mirror: str | None, checksums: str | Path | None, probe_seconds: float
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Download the four IDX files through TFDS's download manager, checksums verified; decode them."""
    import tensorflow_datasets
    from tensorflow_datasets.core.download import checksums as tfds_checksums
    from tensorflow_datasets.core.download import download_manager as tfds_download
    from tensorflow_datasets.core.download import resource as tfds_resource
    from tensorflow_datasets.image_classification import mnist as tfds_mnist

    base = getattr(tfds_mnist, IDX_SETS[name]).URL
    registered = tfds_checksums.load_url_infos(checksums) if checksums else tfds_checksums.get_all_url_infos()
    urls: dict[str, str] = {}  # file name -> the URL we download it from
    expected: dict[str, Any] = {}  # that URL -> the UrlInfo TFDS registers for the original
    for file in (f"{n}.gz" for pair in SPLIT_FILES.values() for n in pair):
        original = urllib.parse.urljoin(base, file)
        if original not in registered:
            raise DownloadError(
                f"tensorflow-datasets {tensorflow_datasets.__version__} registers no checksum for {original};"
                " upgrade tensorflow-datasets"
            )
        url = urllib.parse.urljoin(mirror.rstrip("/") + "/", file) if mirror else original
        urls[file], expected[url] = url, registered[original]
    downloads = root / "downloads"
    have = all(
        (downloads / name / tfds_resource.get_dl_fname(url, expected[url].checksum)).exists() for url in urls.values()
    )
    if not have:
        _check_reachable(name, root, urls.values(), probe_seconds)
    try:
        manager = tfds_download.DownloadManager(
            download_dir=downloads, dataset_name=name, url_infos=expected, force_checksums_validation=True
        )
    except OSError as exc:
        raise SourceError(
            f"cannot write to {downloads} ({exc.strerror or exc}); set source.data_dir to a writable folder"
        ) from None
    try:
        paths = manager.download(urls)
    except tfds_download.NonMatchingChecksumError as exc:
        _remove_partial(downloads / name)
        url = next((u for u in urls.values() if u in str(exc)), "a file")
        info = expected.get(url)
        want = f" ({int(info.size)} bytes, sha256 {info.checksum})" if info else ""
        raise DownloadError(
            f"{name}: {url} does not match the checksum tensorflow-datasets registers for it{want};"
            " the download or the mirror is damaged and nothing was cached. Retry, or " + WAYS_OUT
        ) from None
    except Exception as exc:  # requests' and TFDS's errors alike: all mean "not downloaded"
        _remove_partial(downloads / name)
        raise DownloadError(f"could not download {name} ({_reason(exc)}); {WAYS_OUT}") from None
    arrays: dict[str, np.ndarray] = {}
    splits: dict[str, Any] = {}
    sha256: dict[str, str] = {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images_path, labels_path = Path(paths[f"{images_name}.gz"]), Path(paths[f"{labels_name}.gz"])
        images, images_sha = read_idx_with_digest(images_path)
        labels, labels_sha = read_idx_with_digest(labels_path)
        if images.dtype != np.uint8 or images.ndim != 3 or labels.ndim != 1 or len(labels) != len(images):
            raise DownloadError(
                f"{name}: {images_path.name} and {labels_path.name} are not an MNIST images/labels pair"
                f" (shapes {list(images.shape)} and {list(labels.shape)}); delete {downloads / name} and retry"
            )
        arrays[f"{split}-images"], arrays[f"{split}-labels"] = images, labels.astype(np.int64)
        splits[split] = {"count": len(images), "image_shape": list(images.shape[1:]), "dtype": "uint8"}
        sha256[images_name], sha256[labels_name] = images_sha, labels_sha
    meta = {
        "format": CACHE_FORMAT,
        "name": name,
        "data_dir": str(root),
        "via": "tfds download manager (no TensorFlow)",
        "tensorflow_datasets": tensorflow_datasets.__version__,
        "splits": splits,
        "sha256": dict(sorted(sha256.items())),
        "downloads": {url: expected[url].checksum for url in urls.values()},
    }
    return arrays, meta


def _fetch_data_source(name: str, root: Path, probe_seconds: float) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Prepare `name` with TFDS if needed (TensorFlow), read it with `tfds.data_source`, decode it whole."""
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=str(root))
    except tfds.core.registered.DatasetNotFoundError:
        raise SourceError(
            f"tensorflow-datasets has no dataset {name!r}; see https://www.tensorflow.org/datasets/catalog"
            " for names (image sets such as mnist, cifar10, emnist/letters, svhn_cropped)"
        ) from None
    except Exception as exc:
        raise SourceError(f"tensorflow-datasets cannot open {name!r} ({_reason(exc)})") from None
    image_key, label_key = _feature_keys(name, builder.info)
    prepared = builder.is_prepared()
    if not prepared:
        if importlib.util.find_spec("tensorflow") is None:
            raise SourceError(
                f"{name} is not prepared in {root}, and tensorflow-datasets needs TensorFlow to prepare it:"
                f" {INSTALL_TENSORFLOW} (mnist, fashion_mnist and kmnist need no TensorFlow)"
            )
        urls = [*(builder.url_infos or {}), "https://storage.googleapis.com/tfds-data/"]
        _check_reachable(name, root, urls, probe_seconds)
    try:
        sources = tfds.data_source(name, data_dir=str(root), download=not prepared)
    except Exception as exc:
        raise DownloadError(f"tensorflow-datasets could not prepare {name} ({_reason(exc)}); {WAYS_OUT}") from None
    if not sources:
        raise SourceError(f"tensorflow-datasets lists no splits for {name}; it cannot be used as a source")
    arrays: dict[str, np.ndarray] = {}
    splits: dict[str, Any] = {}
    for split, source in sources.items():
        images, labels = _read_all(name, str(split), source, image_key, label_key)
        arrays[f"{split}-images"], arrays[f"{split}-labels"] = images, labels
        splits[str(split)] = {"count": len(images), "image_shape": list(images.shape[1:]), "dtype": "uint8"}
    meta = {
        "format": CACHE_FORMAT,
        "name": name,
        "data_dir": str(root),
        "via": "tfds.data_source",
        "tensorflow_datasets": tfds.__version__,
        "version": str(builder.info.version),
        "splits": splits,
    }
    return arrays, meta


def _feature_keys(name: str, info: Any) -> tuple[str, str]:
    """The (image, label) feature names: the supervised keys, else 'image' and 'label'."""
    keys = info.supervised_keys if isinstance(info.supervised_keys, tuple) else None
    image_key, label_key = keys if keys and len(keys) == 2 else ("image", "label")
    features = info.features
    if image_key not in features or label_key not in features:
        raise SourceError(f"{name} has no image and label features (it has {', '.join(features)}); pick an image set")
    feature = features[image_key]
    shape = tuple(getattr(feature, "shape", ()))
    if len(shape) != 3 or None in shape or np.dtype(feature.np_dtype) != np.uint8:
        raise SourceError(
            f"{name}'s {image_key} feature is {list(shape)} {np.dtype(feature.np_dtype)}; movmnist needs fixed-size"
            " uint8 images [h, w, c]: pick an image-classification set such as cifar10 or svhn_cropped"
        )
    return image_key, label_key


def _read_all(name: str, split: str, source: Any, image_key: str, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Every example of one split: images [M, h, w(, c)] uint8 (a channel axis of 1 dropped), labels [M] int64."""
    count = len(source)
    images: np.ndarray | None = None
    labels = np.empty(count, np.int64)
    for lo in range(0, count, _BATCH):
        # One at a time: `__getitems__` would batch the reads, but tfds.testing.mock_data's
        # stand-in for it is broken (4.9.10), and decoding, not reading, is the cost here.
        batch = [source[i] for i in range(lo, min(lo + _BATCH, count))]
        pixels = np.stack([np.asarray(example[image_key]) for example in batch])
        if images is None:
            images = np.empty((count, *pixels.shape[1:]), np.uint8)
        if pixels.dtype != np.uint8 or pixels.shape[1:] != images.shape[1:]:
            raise SourceError(f"{name} {split}: images are not all {list(images.shape[1:])} uint8")
        images[lo : lo + len(batch)] = pixels
        labels[lo : lo + len(batch)] = [int(example[label_key]) for example in batch]
    if images is None:
        raise SourceError(f"{name}'s {split} split is empty")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return np.ascontiguousarray(images), labels


def _write_cache(directory: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
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


def _remove_partial(folder: Path) -> None:
    """TFDS leaves a failed download in '<name>.tmp.<uuid>' folders: remove ours."""
    for partial in folder.glob("*.tmp.*") if folder.is_dir() else ():
        shutil.rmtree(partial, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


# --- failing fast offline ------------------------------------------------------------


def _check_reachable(name: str, root: Path, urls: Iterable[str], seconds: float) -> None:
    """DownloadError, at once, if a host the download needs does not take a TCP connection within `seconds`."""
    problem = unreachable(urls, seconds)
    if problem is not None:
        raise DownloadError(f"could not download {name}: {problem}, and it is not cached in {root}; {WAYS_OUT}")


def unreachable(urls: Iterable[str], seconds: float) -> str | None:
    """Why some URL's host (or its proxy) cannot be reached, or None if every one takes a connection.

    All hosts are tried at once, each for at most `seconds` (name lookup included: it runs in
    a daemon thread, since getaddrinfo has no timeout of its own).
    """
    targets: list[tuple[str, int]] = []
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        proxy = proxies.get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(host):
            via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if via.hostname:
                host, port = via.hostname, via.port or (443 if via.scheme == "https" else 80)
        if (host, port) not in targets:
            targets.append((host, port))
    results: dict[tuple[str, int], str | None] = {}

    def attempt(target: tuple[str, int]) -> None:
        try:
            socket.create_connection(target, timeout=seconds).close()
            results[target] = None
        except OSError as exc:
            results[target] = exc.strerror or str(exc) or type(exc).__name__

    threads = [threading.Thread(target=attempt, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for host, port in targets:
        if (host, port) not in results:
            return f"{host}:{port} did not answer within {seconds:g} s"
        error = results[(host, port)]
        if error is not None:
            return f"{host}:{port} is unreachable ({error})"
    return None
