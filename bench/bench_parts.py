"""A build in 2 parts on 2 cores against 1 build of the same plan, end to end.

The default config (64x64, 20 frames, 2 digits) on synthetic digits, train only,
MOVMNIST_BENCH_PARTS_N sequences (default 12,000) in shards of 1,000. Each side runs the
`movmnist` command as a user would, start-up included:

- `single`: one `movmnist build -j 1` (one worker: what one job of an array does);
- `parts`: `build --shard-index K --num-shards 2 -j 1` for K = 0, 1 as two processes at
  once on the same directory, then `movmnist merge`;
- `single -j 2`: one build with 2 workers, for reference (the same cores, one process tree).

Sides alternate, best of 2. The ratio `parts / single` is what splitting a build into a job
array gains on one 2-core machine (~2x is the most; the expectation is >= 1.7x on an idle
machine); the machine is shared with other work, so the load average is printed with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import best_of, record

N = int(os.environ.get("MOVMNIST_BENCH_PARTS_N", "12000"))
SETS = [
    "source.kind=synthetic",
    f"splits.train.sequences={N}",
    "splits.val.sequences=0",
    "splits.test.sequences=0",
    "output.shard_size=1000",
]


def _movmnist(*args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "movmnist", *args, "--quiet"]
    for item in SETS if args[0] == "build" else []:
        command += ["--set", item]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL)


def _wait(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"bench_parts: {proc.args} failed with exit status {proc.returncode}")


def _timed(root: Path, side: str) -> float:
    out = root / side.replace(" ", "")
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    if side == "parts":
        _wait(
            *(_movmnist("build", "--out", str(out), "-j", "1", "--shard-index", k, "--num-shards", "2") for k in "01")
        )
        merge = subprocess.Popen([sys.executable, "-m", "movmnist", "merge", str(out)], stdout=subprocess.DEVNULL)
        _wait(merge)
    else:
        _wait(_movmnist("build", "--out", str(out), "-j", "2" if "2" in side else "1"))
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return N / seconds


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("MOVMNIST_BENCH_DIR")) as tmp:
        before = os.getloadavg()
        rates = best_of(
            {side: lambda side=side: _timed(Path(tmp), side) for side in ("single", "parts", "single -j 2")}, 2
        )
        after = os.getloadavg()
    ratio = rates["parts"] / rates["single"]
    print(f"bench_parts: {N} sequences (64x64, 20 frames, synthetic digits), shards of 1000, end to end")
    for side, value in rates.items():
        print(f"  {side:<12} {value:8.0f} seq/s  {N / value:6.1f} s")
    print(f"  parts / single: {ratio:.2f}x   (parts / single -j 2: {rates['parts'] / rates['single -j 2']:.2f}x)")
    print(f"  load average before {before[0]:.2f}, after {after[0]:.2f} (1 min); {os.cpu_count()} cpus, shared machine")
    record(
        "parts",
        {
            "sequences": N,
            "seq_per_s": {k: round(v, 1) for k, v in rates.items()},
            "parts_over_single": round(ratio, 3),
            "parts_over_single_2_workers": round(rates["parts"] / rates["single -j 2"], 3),
            "load_average_before": before,
            "load_average_after": after,
        },
    )


if __name__ == "__main__":
    main()
