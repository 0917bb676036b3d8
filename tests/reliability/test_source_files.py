"""Broken source files: each refused by `movmnist plan` with exit 2 and one line naming the file and the problem."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests import faults

IMAGES, LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
T_IMAGES, T_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def _idx(array: np.ndarray, magic: int, count: int | None = None) -> bytes:
    shape = (count if count is not None else array.shape[0], *array.shape[1:])
    return bytes([0, 0, 8, magic]) + struct.pack(f">{len(shape)}I", *shape) + array.astype(np.uint8).tobytes()


def _good_idx(folder: Path) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for images, labels, n in ((IMAGES, LABELS, 120), (T_IMAGES, T_LABELS, 60)):
        (folder / images).write_bytes(_idx(rng.integers(0, 256, (n, 8, 8)), 3))
        (folder / labels).write_bytes(_idx(rng.integers(0, 10, n), 1))
    return folder


def _break(kind: str, root: Path) -> tuple[dict[str, object], str, str]:
    """A broken source: (source section, the file the message must name, a phrase it must hold)."""
    folder = _good_idx(root / "mnist")
    images = folder / IMAGES
    raw = images.read_bytes()
    if kind == "truncated":
        images.write_bytes(raw[:-10])
        return {"kind": "idx", "path": str(folder)}, str(images), ""
    if kind == "wrong magic":
        images.write_bytes(b"\x12\x34" + raw[2:])
        return {"kind": "idx", "path": str(folder)}, str(images), "is not an IDX file"
    if kind == "count larger than the data":
        images.write_bytes(raw[:4] + struct.pack(">I", 500) + raw[8:])
        return {"kind": "idx", "path": str(folder)}, str(images), ""
    if kind == "labels != images":
        (folder / LABELS).write_bytes(_idx(np.zeros(100), 1))
        return {"kind": "idx", "path": str(folder)}, "labels", "120"
    if kind == "bad gzip":
        images.unlink()
        (folder / (IMAGES + ".gz")).write_bytes(gzip.compress(raw)[:-20])
        return {"kind": "idx", "path": str(folder)}, str(folder / (IMAGES + ".gz")), ""
    if kind == "empty directory":
        empty = root / "empty"
        empty.mkdir()
        return {"kind": "idx", "path": str(empty)}, str(empty), "is empty"
    if kind == "missing directory":
        return {"kind": "idx", "path": str(root / "nowhere")}, str(root / "nowhere"), "does not exist"
    if kind == "npz missing a key":
        npz = root / "mnist.npz"
        np.savez(npz, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.zeros(4, np.uint8), x_test=np.zeros((2, 8, 8)))
        return {"kind": "npz", "path": str(npz)}, str(npz), "y_test"
    if kind == "npz not a zip":
        npz = root / "mnist.npz"
        npz.write_bytes(b"not a zip at all")
        return {"kind": "npz", "path": str(npz)}, str(npz), "not an .npz"
    raise AssertionError(kind)


KINDS = [
    "truncated",
    "wrong magic",
    "count larger than the data",
    "labels != images",
    "bad gzip",
    "empty directory",
    "missing directory",
    "npz missing a key",
    "npz not a zip",
]


def _plan(config: Path, **popen: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "movmnist", "plan", str(config)], capture_output=True, text=True, timeout=60, **popen
    )  # type: ignore[call-overload]


def _config(root: Path, source: dict[str, object]) -> Path:
    data = faults.tiny_config(root / "unused.npz", source=source)
    data["source"] = source
    data["splits"]["train"]["pool"] = "train[:100]"
    data["splits"]["test"]["pool"] = "test"
    data["splits"]["val"] = {"sequences": 0, "pool": "train[100:]"}
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_broken_source_is_one_line_naming_the_file(
    kind: str, tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    source, names, phrase = _break(kind, tmp_path)
    result = _plan(_config(tmp_path, source))
    line = result.stderr.strip()
    ok = result.returncode == 2 and "\n" not in line and "Traceback" not in result.stderr
    ok = ok and names in line and phrase in line
    case("sources", ok)
    assert ok, f"{kind}: exit {result.returncode}: {result.stderr!r}"


def test_unreadable_directory(tmp_path: Path, case: Callable[[str, bool], None]) -> None:
    folder = _good_idx(tmp_path / "mnist")
    folder.chmod(0o000)
    popen = {"preexec_fn": faults.without_dac_override} if os.geteuid() == 0 else {}
    try:
        result = _plan(_config(tmp_path, {"kind": "idx", "path": str(folder)}), **popen)
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    line = result.stderr.strip()
    ok = result.returncode == 2 and "\n" not in line and str(folder) in line and "permission denied" in line
    case("sources", ok)
    assert ok, result.stderr
