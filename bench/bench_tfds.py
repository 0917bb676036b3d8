"""The tfds source: first download (from a local mirror), then how fast a cached build starts.

Serves the real MNIST files ($MOVMNIST_MNIST_DIR; else MNIST-sized synthetic IDX files) on
127.0.0.1, fetches them through tensorflow-datasets' download manager into a temporary data
dir, then times fresh processes that only read the cache:

- `movmnist plan` on the default config (process start to exit: imports, config, cache, pools);
- opening the cached source and loading both splits (after the imports), and whether
  tensorflow_datasets got imported;
- the offline failure (a closed local port as the mirror).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import mnist_dir, record

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"


def idx_files(folder: Path) -> None:
    """MNIST-sized IDX files from the synthetic digits, for machines without the real ones."""
    from movmnist.sources.synthetic import render_digits

    for split, prefix in (("train", "train"), ("test", "t10k")):
        digits = render_digits(0, split, 0, 60000 if split == "train" else 10000)
        for kind, array, magic in (("images-idx3", digits.images, 3), ("labels-idx1", digits.labels, 1)):
            header = bytes([0, 0, 8, magic]) + struct.pack(f">{array.ndim}I", *array.shape)
            data = header + array.astype("u1").tobytes()
            (folder / f"{prefix}-{kind}-ubyte.gz").write_bytes(gzip.compress(data, 6, mtime=0))


def main() -> None:
    from movmnist.errors import DownloadError
    from movmnist.sources import tfds

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        served = mnist_dir()
        if served is None:
            served = root / "served"
            served.mkdir()
            idx_files(served)
        lines = []
        for file in sorted(served.glob("*.gz")):
            data = file.read_bytes()
            lines.append(f"{MNIST_URL}{file.name}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\t{file.name}\n")
        (root / "mnist.txt").write_text("".join(lines))

        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
        handler.log_message = lambda *a: None  # type: ignore[attr-defined]
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        data_dir = root / "tfds"
        started = time.perf_counter()
        tfds.fetch(
            "mnist", data_dir, mirror=f"http://127.0.0.1:{httpd.server_address[1]}/", checksums=root / "mnist.txt"
        )
        fetch_s = time.perf_counter() - started
        httpd.shutdown()

        cli = [sys.executable, "-c", "from movmnist.cli import main; main()"]
        plan = [*cli, "plan", "--set", f"source.data_dir={data_dir}"]
        plan_s = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(plan, check=True, capture_output=True)
            plan_s.append(time.perf_counter() - t0)
        load = (
            "import sys, time; from movmnist.sources.tfds import open_tfds; t0 = time.perf_counter();"
            f"s = open_tfds('mnist', {str(data_dir)!r}); s.load('train'); s.load('test');"
            "print(time.perf_counter() - t0, any(m.startswith('tensorflow') for m in sys.modules))"
        )
        out = subprocess.run([sys.executable, "-c", load], check=True, capture_output=True, text=True).stdout.split()
        load_s, imported = float(out[0]), out[1] == "True"

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        t0 = time.perf_counter()
        with contextlib.suppress(DownloadError):
            tfds.fetch("kmnist", root / "empty", mirror=f"http://127.0.0.1:{port}/")
        offline_s = time.perf_counter() - t0

    figures = {
        "source": "real MNIST" if mnist_dir() else "synthetic IDX files of MNIST's size",
        "first_fetch_seconds": round(fetch_s, 3),
        "cached_plan_process_seconds_median": round(statistics.median(plan_s), 3),
        "cached_open_and_load_both_splits_seconds": round(load_s, 3),
        "cached_path_imports_tensorflow_datasets": imported,
        "offline_failure_seconds": round(offline_s, 3),
    }
    for key, value in figures.items():
        print(f"{key:<45} {value}")
    record("tfds", figures)


if __name__ == "__main__":
    main()
