"""The published Moving MNIST test set, `mnist_test_seq.npy` of Srivastava et al. 2015.

The fixed file that papers report on: 10,000 sequences of 20 frames of 64x64 uint8, stored
time-major as [20, 10000, 64, 64]. It is *not* what `movmnist build` makes: our test split
follows the same rules with other random draws. `fetch` downloads it (URL and md5 as
torchvision's `MovingMNIST` dataset records them; the size and the .npy header's shape
and dtype are checked too), `load` opens it memory-mapped and checks it, `summarize` is
`movmnist info` for it, and `stats` gives the frame statistics `movmnist stats` shows (the
file holds no labels or positions, so those are not reported).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from movmnist import files
from movmnist.errors import DatasetError, DownloadError, SourceError
from movmnist.sources.base import load_npy
from movmnist.tools.stats import SplitStats

NAME = "mnist_test_seq"
FILE = "mnist_test_seq.npy"
URL = "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy"
MD5 = "be083ec986bfe91a449d63653c411eb2"  # torchvision.datasets.MovingMNIST
SHAPE = (20, 10_000, 64, 64)  # [T, N, H, W], time-major
HEADER = 128  # bytes of the .npy header before the array: 819,200,128 bytes in all
SIZE = HEADER + int(np.prod(SHAPE))
_BLOCK = 1 << 22


def fetch(
    out: str | Path,
    *,
    mirror: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    force: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Download mnist_test_seq.npy to `out` (a file path), check it, and return the path.

    mirror: an URL base (http(s):// or file://) to take the file from instead; the md5 is
    still checked. A file already at `out` is kept if its size and md5 match, unless
    `force`. The download goes to a temporary name and is renamed into place only once it
    matches, so `out` never holds a partial or wrong file. md5, size: the expected file, for
    tests (default: MD5 and SIZE); progress: called with the bytes of each block as it arrives.
    """
    md5, size = md5 or MD5, size or SIZE
    target = Path(out).expanduser()
    if target.exists() and not force and _matches(target, md5, size):
        return target
    url = urllib.parse.urljoin(mirror.rstrip("/") + "/", FILE) if mirror else URL
    if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise SourceError(f"the mirror must be an http(s):// or file:// URL base (got {mirror!r})")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, got = hashlib.md5(usedforsecurity=False), 0
    try:
        with urllib.request.urlopen(url, timeout=30) as response, files.atomic_file(target) as f:
            while block := response.read(_BLOCK):
                digest.update(block)
                f.write(block)
                got += len(block)
                if progress is not None:
                    progress(len(block))
                if got > size:
                    raise DownloadError(f"{url} is larger than the {size} bytes of {FILE}; is it the right file?")
            if got != size or digest.hexdigest() != md5:
                raise DownloadError(
                    f"{url} gave {got} bytes with md5 {digest.hexdigest()}, not {FILE} ({size} bytes, md5 {md5});"
                    " nothing was kept"
                )
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise DownloadError(
            f"could not download {url} ({reason}); where there is network, run movmnist fetch {NAME}"
            " and copy the file, or give --mirror URL"
        ) from None
    load(target)  # the header: shape and dtype
    return target


def _matches(path: Path, md5: str, size: int | None) -> bool:
    if size is not None and path.stat().st_size != size:
        return False
    digest = hashlib.md5(usedforsecurity=False)
    with files.open_regular(path) as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest() == md5


def load(path: str | Path) -> np.ndarray:
    """The file's array [T, N, H, W] uint8, memory-mapped (read-only); DatasetError if it is not one."""
    file = Path(path)
    try:
        array = load_npy(file, mmap=True)  # a FIFO is refused, not waited on
    except FileNotFoundError:
        raise DatasetError(f"{file} does not exist; download it with movmnist fetch {NAME}") from None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{file} is not a readable .npy file ({exc}); download it again") from None
    if array.dtype != np.uint8 or array.ndim != 4:
        raise DatasetError(
            f"{file} holds {array.dtype} {list(array.shape)}, not the uint8 [T, N, H, W] frames of {FILE}"
        )
    return np.asarray(array)


def is_npy(path: str | os.PathLike[str]) -> bool:
    """True for a path to an .npy file (what `info` and `stats` read as the published layout)."""
    return Path(path).suffix == ".npy" and Path(path).is_file()


def summarize(path: str | Path, check: bool = True) -> dict[str, Any]:
    """`movmnist info` for an npy of the published layout: shape, sizes, and whether it is the published file."""
    file = Path(path)
    array = load(file)
    t, n, h, w = array.shape
    published = _matches(file, MD5, SIZE) if check else None
    return {
        "path": str(file),
        "layout": "tnhw",
        "sequences": n,
        "frames_per_sequence": t,
        "canvas": [h, w],
        "bytes": file.stat().st_size,
        "published": published,  # md5 and size are those of Srivastava et al.'s file
    }


def format_text(summary: dict[str, Any]) -> str:
    """The lines `movmnist info` prints for an npy file."""
    h, w = summary["canvas"]
    verdict = {
        True: f"the published {FILE} of Srivastava et al. 2015 (md5 {MD5})",
        False: f"not the published {FILE} (its md5 or size differ): a file of the same layout",
        None: "not checked against the published file",
    }[summary["published"]]
    return "\n".join(
        [
            f"{summary['path']}: {summary['sequences']} sequences of {summary['frames_per_sequence']} frames of"
            f" {h}x{w} uint8, time-major [T, N, H, W]",
            f"  {verdict}",
        ]
    )


def stats(path: str | Path, limit: int | None = None, chunk: int = 256) -> SplitStats:
    """Frame statistics of an npy of the published layout (pixels, movement, PCA); no labels or positions."""
    array = load(path)
    t, n, h, w = array.shape
    n = n if limit is None else min(limit, n)
    acc = SplitStats(h, w, 1, annotated=False)
    for start in range(0, n, chunk):
        frames = np.ascontiguousarray(array[:, start : min(start + chunk, n)].swapaxes(0, 1))
        m = len(frames)
        absent = np.full((m, t, 1, 4), -1, np.int64)
        acc.add(frames, np.full((m, 1), -1, np.int64), absent[..., :2], absent)
    return acc
