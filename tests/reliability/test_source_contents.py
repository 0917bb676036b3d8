"""Source files that are well-formed but hold what a dataset cannot: refused in one line before any build work.

An RGBA or grey+alpha npz (the card's preview crashed on every build and resume, so no manifest
was ever written), labels outside the class numbers (70000 stored as 4464, -1 read as "no digit"),
and splits whose images differ in shape (the build "succeeded", then `verify` failed).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from movmnist.sources.idx import SPLIT_FILES
from tests import faults
from tests.reliability.conftest import Case

RNG = np.random.default_rng(7)


def _images(n: int, shape: tuple[int, ...] = (8, 8)) -> np.ndarray:
    return RNG.integers(0, 256, (n, *shape), dtype=np.uint8)


def _npz(path: Path, **arrays: np.ndarray) -> dict[str, object]:
    good = {
        "x_train": _images(400),
        "y_train": RNG.integers(0, 10, 400, dtype=np.uint8),
        "x_test": _images(100),
        "y_test": RNG.integers(0, 10, 100, dtype=np.uint8),
    }
    np.savez(path, **{**good, **arrays})
    return {"kind": "npz", "path": str(path)}


def _idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _idx(folder: Path, train: np.ndarray, test: np.ndarray) -> dict[str, object]:
    folder.mkdir()
    for (images_name, labels_name), images in zip(SPLIT_FILES.values(), (train, test), strict=True):
        (folder / images_name).write_bytes(_idx_bytes(images))
        (folder / labels_name).write_bytes(_idx_bytes(RNG.integers(0, 10, len(images), dtype=np.uint8)))
    return {"kind": "idx", "path": str(folder)}


def _tfds_cache(root: Path, labels: np.ndarray) -> dict[str, object]:
    """A decoded-array cache as `movmnist fetch` leaves it, for a set whose train labels are `labels`."""
    folder = root / "movmnist" / "mnist"
    folder.mkdir(parents=True)
    splits = {}
    for split, n in (("train", 400), ("test", 100)):
        np.save(folder / f"{split}-images.npy", _images(n))
        np.save(folder / f"{split}-labels.npy", labels if split == "train" else np.zeros(n, np.int64))
        splits[split] = {"count": n, "image_shape": [8, 8], "dtype": "uint8"}
    (folder / "cache.json").write_text(json.dumps({"format": 1, "name": "mnist", "splits": splits}))
    return {"kind": "tfds", "name": "mnist", "data_dir": str(root)}


def _source(kind: str, root: Path) -> tuple[dict[str, object], str]:
    """A source that must be refused, and a phrase its one-line error must hold."""
    npz = root / "digits.npz"
    if kind == "npz rgba":
        return _npz(npz, x_train=_images(400, (8, 8, 4)), x_test=_images(100, (8, 8, 4))), "4 channels"
    if kind == "npz grey+alpha":
        return _npz(npz, x_train=_images(400, (8, 8, 2)), x_test=_images(100, (8, 8, 2))), "2 channels"
    if kind == "idx rgba":
        return _idx(root / "mnist", _images(400, (8, 8, 4)), _images(100, (8, 8, 4))), "4 channels"
    if kind == "label 70000":
        return _npz(npz, y_train=np.full(400, 70000, np.int64)), "label 70000"
    if kind == "label -1":
        return _npz(npz, y_test=np.full(100, -1, np.int8)), "label -1"
    if kind == "label 256 in a uint16":
        return _npz(npz, y_train=np.full(400, 256, np.uint16)), "label 256"
    if kind == "tfds cache label -1":
        return _tfds_cache(root / "tfds", np.full(400, -1, np.int64)), "label -1"
    if kind == "npz shapes differ":
        return _npz(npz, x_test=_images(100, (10, 10))), "different shapes (x_train 8x8, x_test 10x10)"
    if kind == "npz grey and rgb":
        return _npz(npz, x_test=_images(100, (8, 8, 3))), "different shapes"
    if kind == "idx shapes differ":
        return _idx(root / "mnist", _images(400), _images(100, (9, 8))), "different shapes"
    raise AssertionError(kind)


KINDS = [
    "npz rgba",
    "npz grey+alpha",
    "idx rgba",
    "label 70000",
    "label -1",
    "label 256 in a uint16",
    "tfds cache label -1",
    "npz shapes differ",
    "npz grey and rgb",
    "idx shapes differ",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_source_a_dataset_cannot_hold_is_refused_before_any_build_work(kind: str, tmp_path: Path, case: Case) -> None:
    source, phrase = _source(kind, tmp_path)
    data = faults.tiny_config(tmp_path / "unused.npz")
    data["source"] = source
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "ds"
    result = faults.invoke(["build", str(config), "-o", str(out), "-q", "-j", "1"])
    ok = faults.refused(result, phrase) and not out.exists()
    case("sources", ok, traceback=result.traceback, wrong=result.code == 0)
    assert ok, (kind, result.code, result.output)
