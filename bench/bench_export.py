"""Export and stats stream: peak memory stays near one chunk whatever the output's size.

Builds a standard-shaped dataset (20 x 64 x 64, synthetic digits, 4,000 test sequences:
a 328 MB time-major array), then runs each command in a fresh process and reads that
process's peak resident memory (ru_maxrss):

- a baseline process that opens the dataset and reads one chunk of 256 sequences;
- `export` npy tnhw (time-major, mnist_test_seq.npy's layout) to a file, and to a pipe
  (which must emit frame 0 of every sequence first: read in blocks of frames);
- `export` npy ntchw to a file; `export` predrnn-npz (float32, 4x the bytes) to a file;
- `stats` over the whole split, and with --plot.
"""

from __future__ import annotations

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
        cases = [
            ("export npy tnhw -> file", EXPORT, [str(data), "-q", "-o", str(root / "t.npy")], False, raw_mb),
            ("export npy tnhw -> pipe", EXPORT, [str(data), "-q", "-o", "-"], True, raw_mb),
            (
                "export npy ntchw -> file",
                EXPORT,
                [d, "-q", "--layout", "ntchw", "-o", str(root / "n.npy")],
                False,
                raw_mb,
            ),
            (
                "export predrnn-npz -> file",
                EXPORT,
                [d, "-q", "--format", "predrnn-npz", "-o", str(root / "p.npz")],
                False,
                4 * raw_mb,
            ),
            ("stats (whole split)", STATS, [str(data), "--json"], False, 0.0),
            ("stats --plot", STATS, [str(data), "--plot", str(root / "s.png")], False, 0.0),
        ]
        for name, body, args, pipe, out_mb in cases:
            seconds, peak = run(body, args, pipe)
            rows.append((name, peak, seconds, out_mb))
            for f in root.glob("*.np*"):
                f.unlink()
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
