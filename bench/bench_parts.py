"""A build in 2 parts on 2 cores against 1 build of the same plan, end to end.

The default config (64x64, 20 frames, 2 digits), train only, MOVMNIST_BENCH_PARTS_N
sequences (default 60,000) in shards of 1,000, from the real MNIST files when
$MOVMNIST_MNIST_DIR names them, else synthetic digits (whose pool takes ~1.3 s to render in
every process). Each side runs the `movmnist` command as a user would, start-up included:

- `single`: one `movmnist build -j 1` (one worker: what one job of an array does). The
  worker renders and deflates while the driver writes, so it already uses part of the
  second core;
- `single, 1 core`: the same pinned to one core (`taskset`, Linux): what one task of an
  array that is given one CPU does;
- `parts`: `build --shard-index K --num-shards 2 -j 1` for K = 0, 1 as two processes at
  once on the same directory, then `movmnist merge`;
- `single -j 2`: one build with 2 workers, for reference (the same cores, one process tree).

Sides alternate, best of 2. `parts / single, 1 core` is what a job array gains from a second
CPU (~2x is the most); `parts / single` is what it gains on a 2-core machine that the single
build already half uses. Each process pays a fixed start-up (imports, the source's pool) and
merge ~0.5 s. The machine is shared with other work, so the load average is printed with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import best_of, mnist_dir, record

N = int(os.environ.get("MOVMNIST_BENCH_PARTS_N", "60000"))
MNIST = mnist_dir()
SOURCE = ["source.kind=idx", f"source.path={MNIST}"] if MNIST else ["source.kind=synthetic"]
SETS = [
    *SOURCE,
    f"splits.train.sequences={N}",
    "splits.val.sequences=0",
    "splits.test.sequences=0",
    "output.shard_size=1000",
]


def _movmnist(*args: str, pin: bool = False) -> subprocess.Popen[bytes]:
    command = [*(["taskset", "-c", "0"] if pin else []), sys.executable, "-m", "movmnist", *args, "--quiet"]
    for item in SETS if args[0] == "build" else []:
        command += ["--set", item]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _wait(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"bench_parts: {proc.args} failed with exit status {proc.returncode}")


def _timed(root: Path, side: str) -> float:
    out = root / "".join(c for c in side if c.isalnum())
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    if side == "parts":
        _wait(
            *(_movmnist("build", "--out", str(out), "-j", "1", "--shard-index", k, "--num-shards", "2") for k in "01")
        )
        merge = subprocess.Popen([sys.executable, "-m", "movmnist", "merge", str(out)], stdout=subprocess.DEVNULL)
        _wait(merge)
    else:
        _wait(_movmnist("build", "--out", str(out), "-j", "2" if "2" in side else "1", pin="core" in side))
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return N / seconds


SIDES = ("single", *(["single, 1 core"] if shutil.which("taskset") else []), "parts", "single -j 2")


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("MOVMNIST_BENCH_DIR")) as tmp:
        before = os.getloadavg()
        rates = best_of({side: lambda side=side: _timed(Path(tmp), side) for side in SIDES}, 2)
        after = os.getloadavg()
    ratio = rates["parts"] / rates["single"]
    digits = "real MNIST" if MNIST else "synthetic digits"
    print(f"bench_parts: {N} sequences (64x64, 20 frames, {digits}), shards of 1000, end to end")
    for side, value in rates.items():
        print(f"  {side:<15} {value:8.0f} seq/s  {N / value:6.1f} s")
    one_core = rates.get("single, 1 core")
    print(f"  parts / single: {ratio:.2f}x   (parts / single -j 2: {rates['parts'] / rates['single -j 2']:.2f}x)")
    if one_core:
        print(f"  parts / single, 1 core: {rates['parts'] / one_core:.2f}x")
    print(f"  load average before {before[0]:.2f}, after {after[0]:.2f} (1 min); {os.cpu_count()} cpus, shared machine")
    record(
        "parts",
        {
            "sequences": N,
            "seq_per_s": {k: round(v, 1) for k, v in rates.items()},
            "parts_over_single": round(ratio, 3),
            "parts_over_single_2_workers": round(rates["parts"] / rates["single -j 2"], 3),
            "parts_over_single_1_core": round(rates["parts"] / one_core, 3) if one_core else None,
            "digits": digits,
            "load_average_before": before,
            "load_average_after": after,
        },
    )


if __name__ == "__main__":
    main()
