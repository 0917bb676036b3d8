"""The README's default build, end to end, against the 2015-style loop, as ratios measured in one run.

1. `movmnist build configs/default.yaml --workers 2` as a user runs it (a fresh interpreter,
   start-up, the digit pools, the workers, the card and the manifest: wall time from the
   command to its exit), 20,000 sequences (train 10,000 + test 10,000, val 0), the default
   annotations, gzip level 1; vs the 2015-style loop (bench/baseline_tutorial.py: the
   per-sequence port of Srivastava et al.'s data_handler.py that most Moving MNIST code
   copies) generating sequences into RAM (a uint8 array) from the same digits. Target >= 8x.
2. The same build with every optional annotation off; target >= 12x.
3. Context: the same build with masks on (annotations.masks: true), and what each
   annotation costs (tracks: 64 points a sequence): a build of frames and that one annotation against frames alone,
   seq/s and bytes/seq (README "Annotations: what each costs"); so does each corruption kind with OpenSTL's
   parameters (input frames 10 of 20), its record included; and frames over a background
   (render.background: a static one, and one drifting 1 px a frame), from CIFAR-sized images the
   bench makes (32x32 RGB, smooth: 8x8 noise resized bicubically, plus noise; no CIFAR-10 offline);
   and frames in colour (render.colour with label_correlation 0.9: RGB frames and `colours`).

The default source is tensorflow-datasets' MNIST, which needs the network; the bench reads
the same digits from $MOVMNIST_MNIST_DIR (source.kind: idx) and, where that is absent, the
synthetic digits (the table says which). Sides alternate and each keeps its best (the
machine is shared and noisy): read the ratios. `python bench/bench_default.py --quick`
builds 4,000 sequences; `--config PATH` builds another default config (an older checkout's,
run with that checkout's interpreter, for the README's old-and-new table).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import baseline_tutorial
import numpy as np
from common import best_of, mnist_dir, rate, record

QUICK = "--quick" in sys.argv
HALF = 2_000 if QUICK else 10_000  # train and test sequences each
BASE = 1_000 if QUICK else 4_000  # sequences the loop generates per round
REPEATS = 2 if QUICK else 3
CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
if "--config" in sys.argv:
    CONFIG = Path(sys.argv[sys.argv.index("--config") + 1]).resolve()
OPTIONAL = (
    "trajectories",
    "velocities",
    "boxes",
    "amodal_boxes",
    "masks",
    "visibility",
    "events",
    "flow",
    "tracks",
    "captions",
    "event_captions",
)
# The value that turns each on and off: a flag, or for tracks a point count (P = 64).
ON, OFF = {"tracks": "64"}, {"tracks": "0"}
# Each corruption kind with its defaults (OpenSTL's), on frames alone like the annotations.
CORRUPTIONS = ("perceptual", "missing", "dynamic")


def source_args() -> list[str]:
    mnist = mnist_dir()
    if mnist is not None:
        return ["source.kind=idx", f"source.path={mnist}"]
    return ["source.kind=synthetic"]


def build(out: Path, *overrides: str) -> tuple[float, float]:
    """(seq/s end to end, bytes/seq) of the default config's build with `overrides`."""
    sets = [*source_args(), f"splits.train.sequences={HALF}", "splits.val.sequences=0"]
    sets += [f"splits.test.sequences={HALF}", *overrides]
    argv = [str(Path(sys.executable).with_name("movmnist")), "build", str(CONFIG), "-o", str(out)]
    argv += ["--overwrite", "--workers", "2", "-q", *(a for s in sets for a in ("--set", s))]
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in out.glob("*.h5"))
    return 2 * HALF / seconds, size / (2 * HALF)


def cifar_like(path: Path, count: int = 10_000) -> Path:
    """A Keras-layout npz of `count` CIFAR-sized images (32x32 RGB) per split, made here."""
    from movmnist.core.background import resize_cubic

    g = np.random.default_rng(10)
    coarse = resize_cubic(g.integers(0, 256, (count, 8, 8, 3), dtype=np.uint8), (32, 32))
    images = np.clip(coarse + g.normal(0, 8, coarse.shape), 0, 255).astype(np.uint8)
    labels = np.zeros(count, np.int64)
    np.savez(path, x_train=images, y_train=labels, x_test=images, y_test=labels)
    return path


def loop_into_ram() -> float:
    """seq/s of the 2015-style loop filling a uint8 array, on the test pool's digits."""
    from movmnist.config.load import load_config
    from movmnist.sources import load_pool

    cfg = load_config(CONFIG, source_args())
    digits = load_pool(cfg.source, cfg.splits.test.pool, cfg.digits.size).images
    out = np.empty((BASE, 20, 64, 64), np.uint8)

    def body() -> None:
        for i, sequence in enumerate(baseline_tutorial.generate(digits, BASE)):
            out[i] = sequence

    return rate(BASE, body)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="movmnist-bench-default-") as tmp:
        root = Path(tmp)
        sizes: dict[str, float] = {}

        def side(name: str, *overrides: str) -> float:
            seq_per_s, sizes[name] = build(root / name, *overrides)
            return seq_per_s

        off = [f"annotations.{a}={OFF.get(a, 'false')}" for a in OPTIONAL]
        best = best_of(
            {
                "default": lambda: side("default"),
                "no_annotations": lambda: side("no_annotations", *off),
                "masks": lambda: side("masks", "annotations.masks=true"),
                "loop": loop_into_ram,
            },
            REPEATS,
        )

        def alone(name: str) -> float:  # frames and that one annotation
            return side(f"+{name}", *off, f"annotations.{name}={ON.get(name, 'true')}")

        each = {name: best_of({name: lambda name=name: alone(name)}, 1)[name] for name in OPTIONAL}  # keyed "+name"
        for kind in CORRUPTIONS:
            each[kind] = side(f"+{kind}", *off, f"corruptions.{kind}={{}}")
        npz = cifar_like(root / "cifar-like.npz")
        below = ["render.background.kind=image", "render.background.source.kind=npz"]
        below += [f"render.background.source.path={npz}", "render.background.pool=train"]
        for name, drift in (("background", "0"), ("background drifting", "1")):
            each[name] = best_of(
                {name: lambda d=drift, n=name: side("+" + n, *off, *below, f"render.background.drift={d}")}, 1
            )[name]
        each["colour"] = side("+colour", *off, "render.colour={label_correlation: 0.9}")
    loop = best["loop"]
    digits = "real MNIST" if mnist_dir() else "synthetic digits (no $MOVMNIST_MNIST_DIR)"
    load = os.getloadavg()[0]
    print(f"default config, {2 * HALF:,} sequences, --workers 2, end to end; {digits}; best of {REPEATS}", end="")
    print(f"; load average {load:.1f}")
    print("| build | seq/s | / 2015-style loop | bytes/seq | target |\n| --- | --- | --- | --- | --- |")
    rows = [
        ("default annotations", "default", ">= 8x"),
        ("annotations off", "no_annotations", ">= 12x"),
        ("default + masks", "masks", ""),
    ]
    for label, key, target in rows:
        print(f"| {label} | {best[key]:,.0f} | **{best[key] / loop:.2f}x** | {sizes[key]:,.0f} | {target} |")
    print(f"| 2015-style loop into RAM (one core) | {loop:,.0f} | 1 | | |")
    print("\nEach annotation alone, next to frames only (same build):")
    print("| annotation | seq/s | / frames only | bytes/seq added |\n| --- | --- | --- | --- |")
    print(f"| (frames, labels, positions, source_index) | {best['no_annotations']:,.0f} | 1 | 0 |")
    for name, seq_per_s in each.items():
        added = sizes["+" + name] - sizes["no_annotations"]
        print(f"| {name} | {seq_per_s:,.0f} | {seq_per_s / best['no_annotations']:.2f}x | {added:,.0f} |")
    record(
        "default_build" if "--config" not in sys.argv else f"default_build:{CONFIG}",
        {
            "sequences": 2 * HALF,
            "digits": "mnist" if mnist_dir() else "synthetic",
            "seq_per_s": {k: round(v) for k, v in best.items()},
            "over_loop": {k: round(best[k] / loop, 2) for k in ("default", "no_annotations", "masks")},
            "bytes_per_seq": {k: round(v) for k, v in sizes.items()},
            "each_annotation_seq_per_s": {k: round(v) for k, v in each.items()},
        },
    )


if __name__ == "__main__":
    main()
