"""Downloading (or preparing) a TFDS set and decoding it for the cache: the two ways in.

- `mnist`, `fashion_mnist`, `kmnist` (the IDX sets): TFDS's own builders for these read
  with tf.io.gfile, that is, they need TensorFlow (1.5 GB). We use only TFDS's download
  manager, with the URLs of its builders and the sha256 checksums it registers for them,
  and decode the files with our IDX reader. No TensorFlow.
- any other image set (`cifar10`, `emnist/letters`, `svhn_cropped`, ...): `tfds.data_source`
  once TFDS has prepared it. Reading a prepared set needs no TensorFlow; preparing it does
  (the `movmnist[tensorflow]` extra).

The only module that imports tensorflow_datasets, and only inside the functions that
download or prepare. Before TFDS's downloader (which retries for minutes) is called, the
hosts are probed (`probe.unreachable`), so that offline the error comes in seconds.
"""

from __future__ import annotations

import importlib.util
import shutil
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.errors import DownloadError, SourceError
from movmnist.sources.base import check_images, check_labels
from movmnist.sources.idx import SPLIT_FILES, read_idx_with_digest
from movmnist.sources.tfds.cache import CACHE_FORMAT, cache_path, data_root, read_cache, write_cache
from movmnist.sources.tfds.probe import unreachable

# name -> the class in tensorflow_datasets.image_classification.mnist whose URL we download from.
IDX_SETS: dict[str, str] = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}
# What each of them holds (all three alike), so that `movmnist plan` can plan without them.
IDX_SET_SPLITS: dict[str, int] = {"train": 60_000, "test": 10_000}
IDX_SET_IMAGE = (28, 28)
PROBE_SECONDS = 4.0  # per host, all hosts at once: the offline error comes well within 10 s
_BATCH = 1024  # examples read from a data source at a time
# Said by `build` and by `fetch` (which takes no --set: the options are the build's).
WAYS_OUT = (
    "offline, build from local IDX files (movmnist build --set source.kind=idx --set source.path=DIR)"
    " or from the MNIST sample shipped with movmnist (--set source.kind=sample, 1,000 + 500 digits)"
)
INSTALL_TENSORFLOW = "pip install 'movmnist[tensorflow]'"
INSTALL_TFDS = "pip install 'movmnist[tfds]'"


def import_tfds(name: str) -> Any:
    """tensorflow_datasets, or a one-line SourceError saying how to install it (it is an extra)."""
    try:
        import tensorflow_datasets
    except ImportError:
        raise SourceError(
            f"{name} is not cached, and downloading it needs tensorflow-datasets: {INSTALL_TFDS}; {WAYS_OUT}"
        ) from None
    return tensorflow_datasets


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
    write_cache(directory, arrays, meta)
    return meta


def _fetch_idx(
    name: str, root: Path, mirror: str | None, checksums: str | Path | None, probe_seconds: float
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Download the four IDX files through TFDS's download manager, checksums verified; decode them."""
    tensorflow_datasets = import_tfds(name)
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
        # One file at a time: given all four, TFDS downloads them in threads and raises on the
        # first failure while the others still run, so their '.tmp.' folders would appear after
        # `_remove_partial` and stay (seen in CI). Four files of 10 MB in all: no loss worth it.
        paths = {file: manager.download(url) for file, url in urls.items()}
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
    tfds = import_tfds(name)

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
    classes = getattr(builder.info.features[label_key], "num_classes", None)  # a ClassLabel's count
    classes = classes if isinstance(classes, int) and classes > 0 else None
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
        images, labels = _read_all(name, str(split), source, image_key, label_key, classes)
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


def _read_all(
    name: str, split: str, source: Any, image_key: str, label_key: str, classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
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
    check_images(f"{name} {split}", image_key, images.shape)
    check_labels(f"{name} {split}", label_key, labels, classes)
    return np.ascontiguousarray(images), labels


def _remove_partial(folder: Path) -> None:
    """TFDS leaves a failed download in '<name>.tmp.<uuid>' folders: remove ours."""
    for partial in folder.glob("*.tmp.*") if folder.is_dir() else ():
        shutil.rmtree(partial, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _check_reachable(name: str, root: Path, urls: Iterable[str], seconds: float) -> None:
    """DownloadError, at once, if a host the download needs does not take a TCP connection within `seconds`."""
    problem = unreachable(urls, seconds)
    if problem is not None:
        raise DownloadError(f"could not download {name}: {problem}, and it is not cached in {root}; {WAYS_OUT}")
