"""Export and stats stream: peak memory stays near one chunk whatever the output's size.

Builds a standard-shaped dataset (20 x 64 x 64, synthetic digits, 4,000 test sequences:
a 328 MB time-major array), then runs each command in a fresh process and reads that
process's peak resident memory (ru_maxrss):

- a baseline process that opens the dataset and reads one chunk of 256 sequences;
- `export` npy tnhw (time-major, mnist_test_seq.npy's layout) to a file, and to a pipe
  (which must emit frame 0 of every sequence first: read in blocks of frames);
- `export` npy ntchw to a file; `export` predrnn-npz (float32, 4x the bytes) to a file;
- `export` webdataset and hf (folders of shards: 4 tars of 1,000 samples, 1 Parquet file of
  5,000 rows) and croissant (hashes the shards);
- `stats` over the whole split, and with --plot.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import build_demo_test, record

SEQUENCES = 4000

CHILD = """
import resource, sys
{body}
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

BASELINE = """
import movmnist
split = movmnist.open(sys.argv[1])["test"]
split[0:256]
"""

EXPORT = """
from movmnist.cli import main
sys.argv = ["movmnist", "export", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
"""

STATS = """
from movmnist.cli import main
sys.argv = ["movmnist", "stats", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
"""


def run(body: str, args: list[str], pipe: bool = False) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of a fresh python running `body` with `args`."""
    code = CHILD.format(body=body)
    started = time.perf_counter()
    if pipe:
        child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert child.stdout is not None
        while child.stdout.read(1 << 20):
            pass
        _, err = child.communicate()
    else:
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, check=True)
        err = done.stderr
    seconds = time.perf_counter() - started
    return seconds, int(err.decode().strip().splitlines()[-1]) / 1024


def _size(path: Path) -> int:
    """Bytes of the file or folder `path` (0 if there is none)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "mm"
        build_demo_test(data, SEQUENCES)
        raw_mb = SEQUENCES * 20 * 64 * 64 / 1e6
        rows = []
        seconds, base = run(BASELINE, [str(data)])
        rows.append(("baseline: open + read one chunk", base, seconds, 0.0))
        d = str(data)

        def export(name: str, out: str, *flags: str) -> tuple[str, str, list[str], Path]:
            return name, EXPORT, [d, "-q", *flags, "-o", str(root / out)], root / out

        cases = [  # (name, body, args, the output to measure, None for the pipe: its frames)
            export("export npy tnhw -> file", "t.npy"),
            ("export npy tnhw -> pipe", EXPORT, [d, "-q", "-o", "-"], None),
            export("export npy ntchw -> file", "n.npy", "--layout", "ntchw"),
            export("export predrnn-npz -> file", "p.npz", "--format", "predrnn-npz"),
            export("export webdataset -> folder", "w", "--format", "webdataset"),
            export("export hf -> folder", "h", "--format", "hf"),
            export("export croissant -> file", "c.json", "--format", "croissant"),
            ("stats (whole split)", STATS, [d, "--json"], root / "none"),
            ("stats --plot", STATS, [d, "--plot", str(root / "s.png")], root / "none"),
        ]
        for name, body, args, output in cases:
            seconds, peak = run(body, args, pipe=output is None)
            rows.append((name, peak, seconds, raw_mb if output is None else _size(output) / 1e6))
            if output is not None and output.is_dir():
                shutil.rmtree(output)
            elif output is not None:
                output.unlink(missing_ok=True)
    print(f"{SEQUENCES} sequences of 20x64x64 ({raw_mb:.0f} MB of frames)")
    print(f"{'command':<32} {'peak RSS MB':>12} {'seconds':>8} {'output MB':>10}")
    for name, peak, seconds, out_mb in rows:
        print(f"{name:<32} {peak:>12.0f} {seconds:>8.1f} {out_mb:>10.0f}")
    record(
        "export",
        {
            "sequences": SEQUENCES,
            "frames_mb": round(raw_mb, 1),
            "runs": [
                {
                    "command": name,
                    "peak_rss_mb": round(peak, 1),
                    "seconds": round(seconds, 2),
                    "output_mb": round(out_mb),
                }
                for name, peak, seconds, out_mb in rows
            ],
        },
    )


if __name__ == "__main__":
    main()
