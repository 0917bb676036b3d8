"""gzip shards through zlib-ng (store/shards.py `fast_deflate`), as ratios measured side by side in one run.

Workload "standard" (bench_perf.py), gzip level 1, frames only, 1 worker:

1. `build` in its steady state (from its own progress) vs zlib-ng's `compress(level=1)` alone on
   the same frames, one sequence at a time: how much of the build is not compression;
2. the same build with zlib-ng hidden (HDF5's zlib filter, the fallback) vs with it;
3. stdlib zlib level 1 alone vs zlib-ng level 1 alone, on the same frames.

Builds and codec-only runs alternate in fresh processes; each side keeps its best.
`python bench/bench_gzip.py --quick` runs a smaller build.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from bench_perf import best_of, in_fresh_process, standard
from common import record

QUICK = "--quick" in sys.argv
N_BUILD = 10_000 if QUICK else 40_000
REPEATS = 2 if QUICK else 4

# A build in its steady state: from its first chunk written to its last, by its own progress.
BUILD = """
import json, sys, time
from pathlib import Path
from movmnist.builder import build
from movmnist.config import Config

class Marks:
    def __init__(self): self.done, self.marks = 0, []
    def start(self, total): pass
    def advance(self, n):
        self.done += n
        if n:
            self.marks.append((time.perf_counter(), self.done))

marks = Marks()
data = build(Config.from_data(json.loads(sys.argv[1])), Path(sys.argv[2]), workers=1, overwrite=True, progress=marks)
(ta, na), (tb, nb) = marks.marks[0], marks.marks[-1]
size = sum(s["bytes"] for split in data.to_data()["splits"].values() for s in split["shards"])
print(json.dumps({"bytes": size, "steady_seq_per_s": (nb - na) / (tb - ta)}))
"""

# The codec alone: one shard's frames (2,000 sequences) generated first, then compressed one
# sequence at a time, as the build compresses them.
CODEC_ONLY = """
import json, sys, time, zlib
import numpy as np
from zlib_ng import zlib_ng
from movmnist.config import Config
from movmnist.core.generate import generate
from movmnist.sources import load_pool

cfg = Config.from_data(json.loads(sys.argv[1]))
pool = load_pool(cfg.source, cfg.splits.test.pool, cfg.digits.size)
frames = np.ascontiguousarray(generate(cfg, pool, "test", np.arange(2000)).frames)
rates, sizes = {}, {}
for name, compress in {"zlib_ng": zlib_ng.compress, "zlib": zlib.compress}.items():
    t = time.perf_counter()
    sizes[name] = sum(len(compress(frames[i], 1)) for i in range(len(frames)))
    rates[name] = len(frames) / (time.perf_counter() - t)
print(json.dumps({"rates": rates, "bytes_per_seq": {k: v / len(frames) for k, v in sizes.items()}}))
"""


def main() -> None:
    config = standard(N_BUILD, "gzip", 1)
    with tempfile.TemporaryDirectory(prefix="movmnist-bench-gzip-") as tmp:
        root = Path(tmp)
        # A package named zlib_ng that fails to import, first on the path of the build and of
        # its worker processes (which inherit the environment): the fallback path.
        (root / "hide" / "zlib_ng").mkdir(parents=True)
        (root / "hide" / "zlib_ng" / "__init__.py").write_text("raise ImportError('hidden by bench_gzip')\n")

        def build(hidden: bool) -> tuple[float, float]:
            saved = os.environ.get("PYTHONPATH")
            if hidden:
                os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "hide"), saved]))
            try:
                result = in_fresh_process(BUILD, json.dumps(config), str(root / "built"))
            finally:
                if saved is None:
                    os.environ.pop("PYTHONPATH", None)
                else:
                    os.environ["PYTHONPATH"] = saved
            return result["steady_seq_per_s"], result["bytes"] / N_BUILD

        sizes: dict[str, float] = {}

        def codec_only() -> tuple[float, float]:
            result = in_fresh_process(CODEC_ONLY, json.dumps(config))
            sizes.update({f"{k}_bytes_per_seq": round(v) for k, v in result["bytes_per_seq"].items()})
            return result["rates"]["zlib_ng"], result["rates"]["zlib"]

        best = best_of({"fast": lambda: build(False), "slow": lambda: build(True), "codec": codec_only}, REPEATS)
    fast, slow = best["fast"][0], best["slow"][0]
    ng_rate, zlib_rate = best["codec"]
    rows = [
        (
            "1. build gzip-1 (zlib-ng), steady state / zlib-ng-1 alone on the same frames",
            fast / ng_rate,
            f"{fast:,.0f} vs {ng_rate:,.0f} seq/s",
        ),
        (
            "2. build gzip-1 with zlib-ng / with HDF5's zlib filter, steady state",
            fast / slow,
            f"{fast:,.0f} vs {slow:,.0f} seq/s",
        ),
        (
            "3. zlib-ng-1 alone / zlib-1 alone, same frames",
            ng_rate / zlib_rate,
            f"{ng_rate:,.0f} vs {zlib_rate:,.0f} seq/s; {sizes['zlib_ng_bytes_per_seq']:,} vs "
            f"{sizes['zlib_bytes_per_seq']:,} bytes/seq",
        ),
    ]
    print(f"gzip through zlib-ng: {N_BUILD:,} sequences a build, best of {REPEATS} alternating rounds")
    print("| measure | ratio | figures |\n| --- | --- | --- |")
    for name, ratio, figures in rows:
        print(f"| {name} | **{ratio:.3f}** | {figures} |")
    record(
        "gzip",
        {
            "sequences": N_BUILD,
            "build_zlib_ng_steady_seq_per_s": round(fast),
            "build_zlib_filter_steady_seq_per_s": round(slow),
            "zlib_ng1_only_seq_per_s": round(ng_rate),
            "zlib1_only_seq_per_s": round(zlib_rate),
            "build_over_zlib_ng_only": round(fast / ng_rate, 3),
            "zlib_ng_build_over_zlib_build": round(fast / slow, 3),
            "bytes_per_seq": {"build_zlib_ng": round(best["fast"][1]), "build_zlib": round(best["slow"][1]), **sizes},
        },
    )


if __name__ == "__main__":
    main()
