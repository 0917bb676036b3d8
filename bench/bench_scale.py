"""Memory flat in N: peak resident memory of `movmnist build` (driver + workers) next to N.

Builds the default config on synthetic digits (no download) with `--set
splits.train.sequences=N` (val and test off), for N = 10,000, 100,000 and 1,000,000 by
default, in a fresh process each, and samples the resident memory of the whole process
tree (driver, forkserver, workers) every 0.1 s from /proc:

- peak total: the largest sum of RSS over the tree seen at one instant (shared pages are
  counted once per process, so this overstates the true footprint);
- peak PSS: the same with proportional set sizes (shared pages split between the
  processes that share them): the memory the build really takes from the machine;
- sum of peaks: the sum of every process's own high-water mark (VmHWM), an upper bound
  of the peak total that no sampling can miss.

Also prints the build's time, sequences/s per worker, and the bytes written, then removes
the dataset. The target: peak total under 1 GB at N = 1,000,000, and not growing with N.

Quick run:  MOVMNIST_BENCH_SCALE_N=20000 .venv/bin/python bench/bench_scale.py   (or --n 20000,50000)
Where:      MOVMNIST_BENCH_DIR=/big/disk (default: the system temp dir; 1M needs ~3 GB)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import record

DEFAULT_N = "10000,100000,1000000"
TARGET = 1_000_000_000  # bytes: 1 GB for driver + workers


def _tree(root: int) -> list[int]:
    """`root` and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    parents[int(entry.name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        tree += kids
        frontier += kids
    return tree


def _status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM and Pss of a process, in bytes (empty if it is gone)."""
    found = {}
    for name, keys in (("status", ("VmRSS", "VmHWM")), ("smaps_rollup", ("Pss",))):
        try:
            with open(f"/proc/{pid}/{name}") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in keys:
                        found[key] = int(value.split()[0]) * 1024
        except OSError:
            pass
    return found


class TreeSampler(threading.Thread):
    """Samples the RSS of a process tree until stopped; keeps the peak sum and each process's HWM."""

    def __init__(self, root: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root, self.every = root, every
        self.peak_total = 0
        self.peak_pss = 0
        self.hwm: dict[int, int] = {}
        self.processes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = pss = 0
            pids = _tree(self.root)
            for pid in pids:
                status = _status(pid)
                total += status.get("VmRSS", 0)
                pss += status.get("Pss", 0)
                if "VmHWM" in status:
                    self.hwm[pid] = max(self.hwm.get(pid, 0), status["VmHWM"])
            self.peak_total = max(self.peak_total, total)
            self.peak_pss = max(self.peak_pss, pss)
            self.processes = max(self.processes, len(pids))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def measure(n: int, workers: int, where: Path) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp(prefix=f"movmnist-scale-{n}-", dir=where)) / "ds"
    config = [
        *("--set", "source.kind=synthetic", "--set", "source.path=null"),
        *("--set", f"splits.train.sequences={n}", "--set", "splits.val.sequences=0"),
        *("--set", "splits.test.sequences=0"),
    ]
    command = [sys.executable, "-m", "movmnist", "build", *config]
    command += ["--out", str(out), "--quiet", "--json", "--workers", str(workers)]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stdout, _ = proc.communicate()
    seconds = time.perf_counter() - started
    sampler.stop()
    try:
        if proc.returncode != 0:
            raise SystemExit(f"build of {n} sequences failed with exit status {proc.returncode}")
        summary = json.loads(stdout)
        plan = subprocess.run(
            [sys.executable, "-m", "movmnist", "plan", *config, "--json"], capture_output=True, text=True, check=True
        )
    finally:
        shutil.rmtree(out.parent)
    return {
        "sequences": n,
        "workers": summary["workers"],
        "seconds": round(seconds, 1),
        "sequences_per_second": round(n / seconds, 1),
        "sequences_per_second_per_worker": round(n / seconds / summary["workers"], 1),
        "bytes": summary["bytes"],
        "shards": summary["shards"],
        "peak_rss_total": sampler.peak_total,
        "peak_pss_total": sampler.peak_pss,
        "sum_of_peak_rss": sum(sampler.hwm.values()),
        "processes": sampler.processes,
        "plan_worker_memory": json.loads(plan.stdout)["worker_memory_bytes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default=os.environ.get("MOVMNIST_BENCH_SCALE_N", DEFAULT_N), help="comma-separated N")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    where = Path(os.environ.get("MOVMNIST_BENCH_DIR", tempfile.gettempdir()))
    sizes = [int(x.replace("_", "")) for x in args.n.split(",") if x.strip()]
    print(f"default config, synthetic digits, train only, {args.workers} workers, in {where}")
    print(
        f"{'N':>10} {'seconds':>8} {'seq/s':>7} {'/worker':>7} {'on disk':>9} "
        f"{'peak RSS':>9} {'peak PSS':>9} {'sum HWM':>9} procs"
    )
    rows = []
    for n in sizes:
        row = measure(n, args.workers, where)
        rows.append(row)
        mb = 1e6
        print(
            f"{n:>10,} {row['seconds']:>8.1f} {row['sequences_per_second']:>7.0f} "
            f"{row['sequences_per_second_per_worker']:>7.0f} {row['bytes'] / mb:>7.0f}MB "
            f"{row['peak_rss_total'] / mb:>7.0f}MB {row['peak_pss_total'] / mb:>7.0f}MB "
            f"{row['sum_of_peak_rss'] / mb:>7.0f}MB {row['processes']:>5}",
            flush=True,
        )
    worst = max(r["sum_of_peak_rss"] for r in rows)
    verdict = "under" if worst < TARGET else "OVER"
    print(f"largest sum of peaks: {worst / 1e6:.0f} MB, {verdict} the 1 GB target")
    record("scale", {"runs": rows, "target_bytes": TARGET})


if __name__ == "__main__":
    main()
