"""Faults at length, and what a per-chunk checksum would cost.

1. kill -9 at random moments, then --resume: the reliability suite's trial, run
   MOVMNIST_BENCH_KILL_TRIALS times (default 40; CI runs 10), through pytest.
2. The HDF5 fletcher32 filter on `frames`: write and read 400 standard sequences (20 x 64 x
   64, one per chunk, gzip level 1) with and without it, and compare time and size. Shards
   do not use it today (it would change every shard's bytes); `verify` checks it where present.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from common import record

ROOT = Path(__file__).resolve().parents[1]


def kill_trials(n: int) -> dict[str, object]:
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/reliability/test_build_faults.py",
            "-k",
            "kill",
        ],
        cwd=ROOT,
        env={**os.environ, "MOVMNIST_KILL_TRIALS": str(n)},
        capture_output=True,
        text=True,
    )
    summary = [line for line in result.stdout.splitlines() if line.startswith("reliability:")]
    return {
        "trials": n,
        "passed": result.returncode == 0,
        "summary": summary[0] if summary else result.stdout.strip().splitlines()[-1:],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _frames(n: int) -> np.ndarray:
    """Sparse bright blobs on black, about as compressible as Moving MNIST frames."""
    rng = np.random.default_rng(0)
    frames = np.zeros((n, 20, 64, 64), np.uint8)
    for i in range(n):
        for _ in range(2):
            r, c = rng.integers(0, 36, 2)
            frames[i, :, r : r + 28, c : c + 28] = np.maximum(
                frames[i, :, r : r + 28, c : c + 28], rng.integers(0, 256, (28, 28), dtype=np.uint8) // 2 * 2
            )
    return frames


def fletcher32_cost(repeats: int = 3) -> dict[str, object]:
    frames = _frames(400)
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for checksum in (False, True):
            path = Path(tmp) / f"f{int(checksum)}.h5"
            writes, reads = [], []
            for _ in range(repeats):
                t = time.perf_counter()
                with h5py.File(path, "w") as f:
                    f.create_dataset(
                        "frames", data=frames, chunks=(1, 20, 64, 64), compression="gzip", compression_opts=1,
                        fletcher32=checksum,
                    )  # fmt: skip
                writes.append(time.perf_counter() - t)
                t = time.perf_counter()
                with h5py.File(path, "r") as f:
                    f["frames"][:]
                reads.append(time.perf_counter() - t)
            figures["with" if checksum else "without"] = {
                "write_seconds": round(min(writes), 4),
                "read_seconds": round(min(reads), 4),
                "bytes": path.stat().st_size,
            }
    w, o = figures["with"], figures["without"]
    figures["write_overhead"] = round(w["write_seconds"] / o["write_seconds"] - 1, 3)  # type: ignore[index]
    figures["read_overhead"] = round(w["read_seconds"] / o["read_seconds"] - 1, 3)  # type: ignore[index]
    figures["size_overhead"] = round(w["bytes"] / o["bytes"] - 1, 4)  # type: ignore[index]
    return figures


def main() -> None:
    trials = int(os.environ.get("MOVMNIST_BENCH_KILL_TRIALS", "40"))
    kills = kill_trials(trials)
    verdict = "all passed" if kills["passed"] else "FAILED"
    print(f"kill -9 then --resume, {trials} trials: {verdict} in {kills['seconds']} s")
    print(f"  {kills['summary']}")
    cost = fletcher32_cost()
    print("fletcher32 on frames (400 sequences, gzip 1, best of 3):")
    for name in ("without", "with"):
        f = cost[name]
        print(
            f"  {name:>7}: write {f['write_seconds']:.3f} s, read {f['read_seconds']:.3f} s, {f['bytes'] / 1e6:.2f} MB"
        )  # type: ignore[index]
    print(
        f"  overhead: write {cost['write_overhead']:+.1%}, read {cost['read_overhead']:+.1%}, "
        f"size {cost['size_overhead']:+.2%}"
    )
    record("faults", {"kill_trials": kills, "fletcher32": cost})


if __name__ == "__main__":
    main()
