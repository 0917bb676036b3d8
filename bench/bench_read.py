"""The loader at disk speed: reads through movmnist.open next to plain h5py on the same files.

Builds 10,000 test sequences of the standard shape (20 x 64 x 64, the demo's digits, the
default annotations, gzip level 1, shards of 2,000: the default), then, in one process,
with the files warm in the page cache (the loader's cost, not the disk's):

1. random single reads/s: `split[i]` vs plain h5py `frames[row]` on datasets opened once;
2. sequential batched reads (batch 32) over the whole split: `split[a : a + 32]` vs h5py
   `frames[a : a + 32]`, shard by shard;
3. `with_annotations()` random reads/s vs frames-only random reads (target >= 0.5x); and vs
   plain h5py reading every dataset of the item (what the loader did before its block cache);
4. the same with masks on (annotations.masks: true: a second frame-sized inflate an item).

Each comparison alternates its sides and keeps the best of each (the machine is shared and
noisy); ratios are what to read, absolute rates are context.
`python bench/bench_read.py --quick` builds 2,000 sequences.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np
from common import best_of, rate, record

import movmnist

QUICK = "--quick" in sys.argv
SEQUENCES = 2_000 if QUICK else 10_000
RANDOM = 1_000 if QUICK else 3_000  # random reads per round
BATCH = 32


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, masked = Path(tmp) / "mm", Path(tmp) / "mm-masks"
        for out, masks in ((data, "false"), (masked, "true")):
            subprocess.run(
                [
                    sys.executable, "-c", "from movmnist.cli import main; main()",
                    "build", "configs/demo.yaml", "-o", str(out), "-q",
                    "--set", f"splits.test.sequences={SEQUENCES}", "--set", "output.shard_size=2000",
                    "--set", "splits.train.sequences=0", "--set", "splits.val.sequences=0",
                    "--set", f"annotations.masks={masks}",
                ],
                check=True,
            )  # fmt: skip
        with_masks = movmnist.open(masked)["test"].with_annotations()
        ds = movmnist.open(data)
        split = ds["test"]
        annotated = split.with_annotations()
        files = [h5py.File(data / s.file, "r") for s in split.info.shards]
        names = ("frames", *split.annotation_names)
        plain = [{name: f[name] for name in names} for f in files]
        where = [(k, row) for k, s in enumerate(split.info.shards) for row in range(s.sequences)]
        picks = np.random.default_rng(0).integers(0, SEQUENCES, RANDOM)
        batches = [
            (k, lo, min(lo + BATCH, s.sequences))
            for k, s in enumerate(split.info.shards)
            for lo in range(0, s.sequences, BATCH)
        ]
        for i in picks[:64]:  # same answers, and every file open on both sides
            k, row = where[i]
            assert np.array_equal(split[int(i)], plain[k]["frames"][row])
            item = annotated[int(i)]
            assert all(np.array_equal(item[n], plain[k][n][row]) for n in names)

        def loader_random() -> float:
            return rate(RANDOM, lambda: [split[int(i)] for i in picks])

        def h5py_random() -> float:
            return rate(RANDOM, lambda: [plain[where[i][0]]["frames"][where[i][1]] for i in picks])

        def loader_batches() -> float:
            return rate(SEQUENCES, lambda: [split[a : a + BATCH] for a in range(0, SEQUENCES, BATCH)])

        def h5py_batches() -> float:
            return rate(SEQUENCES, lambda: [plain[k]["frames"][lo:hi] for k, lo, hi in batches])

        def loader_annotated() -> float:
            return rate(RANDOM, lambda: [annotated[int(i)] for i in picks])

        def loader_masks() -> float:  # the same items with masks: two frame-sized inflates an item
            return rate(RANDOM, lambda: [with_masks[int(i)] for i in picks])

        def h5py_annotated() -> float:
            def body() -> None:
                for i in picks:
                    k, row = where[i]
                    {n: files[k][n][row] for n in names}  # a dataset opened per read, as the old loader did

            return rate(RANDOM, body)

        single = best_of({"loader": loader_random, "h5py": h5py_random})
        seq = best_of({"loader": loader_batches, "h5py": h5py_batches})
        sides = {"annotated": loader_annotated, "frames": loader_random, "masks": loader_masks, "h5py": h5py_annotated}
        ann = best_of(sides)
        ds.close()
        with_masks.close()
        for f in files:
            f.close()
    rows = [
        ("random single reads/s", single["loader"], single["h5py"], "movmnist.open vs h5py frames[i]"),
        ("sequential seq/s, batch 32", seq["loader"], seq["h5py"], "split[a:a+32] vs h5py frames[a:a+32]"),
        ("with_annotations() items/s", ann["annotated"], ann["frames"], "vs frames-only items/s (loader)"),
        ("with_annotations() items/s", ann["annotated"], ann["h5py"], "vs h5py, every dataset per item"),
        ("... with masks on, items/s", ann["masks"], ann["frames"], "vs frames-only items/s (loader)"),
    ]
    print(f"{SEQUENCES} test sequences of 20x64x64, configs/demo.yaml's digits, default annotations, gzip 1")
    print(f"{'reads':<28} {'movmnist':>10} {'other':>10} {'ratio':>7}  other side")
    for name, ours, other, what in rows:
        print(f"{name:<28} {ours:>10.0f} {other:>10.0f} {ours / other:>6.2f}x  {what}")
    record(
        "read",
        {
            "sequences": SEQUENCES,
            "random_reads_per_s": {"loader": single["loader"], "h5py": single["h5py"]},
            "batch32_seq_per_s": {"loader": seq["loader"], "h5py": seq["h5py"]},
            "annotated_items_per_s": {
                "loader": ann["annotated"],
                "frames_only": ann["frames"],
                "with_masks": ann["masks"],
                "h5py": ann["h5py"],
            },
        },
    )


if __name__ == "__main__":
    main()
