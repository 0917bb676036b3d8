"""Procedural datasets in a training loop, against the on-the-fly generator most papers train on.

The peer is this file's own transcription of OpenSTL's training-set generator
(chengtan9907/OpenSTL, openstl/datasets/dataloader_moving_mnist.py, `MovingMNIST.__getitem__`,
training branch, read at commit 08392ec): per digit a trajectory from Python's `random`
(uniform start and direction, step 0.1, clamp at the walls and reverse), a float32 canvas
the digits are maxed onto, then input and output as float tensors divided by 255. It draws
from the same digit images as our side (real MNIST where $MOVMNIST_MNIST_DIR has it, else
synthetic 28x28 digits), 64x64 canvas, 20 frames (10 + 10), 2 digits.

Our side is `movmnist.procedural(configs/default.yaml)` (the same source), training epoch 1
of a 10,000-sequence train split, the default annotations in the config (items without
annotations do not compute them). In one run, each comparison alternating its sides and
keeping each one's best (the machine is shared and noisy), all on one core unless a row
says workers:

1. item access: `split.with_input_frames(10)[i]` (uint8) at random i and in index order
   (where the split reads ahead), and the same item as float tensors / 255 (what the peer
   returns), vs the peer's `__getitem__`, items/s;
2. batched access: `split.with_input_frames(10)[a : a + 32]`, sequences/s;
3. a DataLoader over `split.epoch(1).stream(32).for_torch(floats=True)` (float tensors, as
   the peer delivers) with 2 workers vs 1 worker, a whole epoch, worker start-up included;
   the same with torch's `file_system` sharing strategy (no file descriptor handed over per
   batch), and with uint8 tensors (a quarter of the bytes through shared memory);
4. the same items read from the built shards through `movmnist.open`, side by side.

`python bench/bench_procedural.py --quick` uses smaller counts.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import best_of, mnist_dir, rate, record
from torch.utils.data import DataLoader

import movmnist
from movmnist.read.torchdata import tensors

QUICK = "--quick" in sys.argv
TRAIN = 2_000 if QUICK else 10_000  # sequences in the train split (OpenSTL's epoch is 10,000)
ITEMS = 1_000 if QUICK else 4_000  # random items per round, our side
PEER_ITEMS = 200 if QUICK else 600  # the peer is ~100x slower
BATCH = 32
ROOT = Path(__file__).resolve().parents[1]


class OpenSTLPeer:
    """Our transcription of OpenSTL's MovingMNIST training branch (see the module docstring)."""

    def __init__(self, digits: np.ndarray, frames_in: int = 10, frames_out: int = 10, size: int = 64) -> None:
        self.digits = digits  # [M, 28, 28] uint8
        self.frames_in, self.frames_out, self.size = frames_in, frames_out, size
        self.digit_size, self.step = digits.shape[1], 0.1

    def trajectory(self, length: int) -> tuple[np.ndarray, np.ndarray]:
        """OpenSTL's get_random_trajectory, step for step (numpy scalars, lists, the four ifs)."""
        room = self.size - self.digit_size
        x, y = random.random(), random.random()
        theta = random.random() * 2 * np.pi
        v_ys, v_xs = [np.sin(theta)] * length, [np.cos(theta)] * length
        rows, cols = np.zeros(length), np.zeros(length)
        bounce_x = bounce_y = 1
        for t, v_x, v_y in zip(range(length), v_xs, v_ys, strict=True):
            y += bounce_y * v_y * self.step
            x += bounce_x * v_x * self.step
            if x <= 0:
                x, bounce_x = 0, -bounce_x
            if x >= 1.0:
                x, bounce_x = 1.0, -bounce_x
            if y <= 0:
                y, bounce_y = 0, -bounce_y
            if y >= 1.0:
                y, bounce_y = 1.0, -bounce_y
            rows[t], cols[t] = y, x
        return (room * rows).astype(np.int32), (room * cols).astype(np.int32)

    def video(self, digits: int = 2) -> np.ndarray:
        """OpenSTL's generate_moving_mnist: a float32 canvas, each digit maxed in by slices."""
        length = self.frames_in + self.frames_out
        data = np.zeros((length, self.size, self.size), dtype=np.float32)
        for _ in range(digits):
            rows, cols = self.trajectory(length)
            image = self.digits[random.randint(0, self.digits.shape[0] - 1)]
            for t in range(length):
                top, left = rows[t], cols[t]
                bottom, right = top + self.digit_size, left + self.digit_size
                data[t, top:bottom, left:right] = np.maximum(data[t, top:bottom, left:right], image)
        return data[..., np.newaxis]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The training branch: a fresh video per call (idx unused), cut and scaled to float tensors."""
        length = self.frames_in + self.frames_out
        images = self.video(random.choice([2]))
        r, w = 1, self.size
        images = images.reshape((length, w, r, w, r)).transpose(0, 2, 4, 1, 3).reshape((length, r * r, w, w))
        given, wanted = images[: self.frames_in], images[self.frames_in : length]
        wanted_t = torch.from_numpy(wanted / 255.0).contiguous().float()
        given_t = torch.from_numpy(given / 255.0).contiguous().float()
        return given_t, wanted_t

    def __len__(self) -> int:
        return 10_000


def overrides() -> list[str]:
    found = mnist_dir()
    source = ["source.kind=idx", f"source.path={found}"] if found else ["source.kind=synthetic", "digits.size=28"]
    return [*source, f"splits.train.sequences={TRAIN}", "splits.val.sequences=0", "splits.test.sequences=0"]


def epoch_through(loader_data: Any, workers: int, sharing: str = "file_descriptor") -> float:
    """Sequences/s of one whole epoch through a DataLoader, worker start-up included; `sharing`
    is torch's strategy for handing tensors between processes (file_descriptor: its default)."""
    torch.multiprocessing.set_sharing_strategy(sharing)
    try:
        started = time.perf_counter()
        n = 0
        for x, _ in DataLoader(loader_data, batch_size=None, num_workers=workers):
            n += len(x)
        return n / (time.perf_counter() - started)
    finally:
        torch.multiprocessing.set_sharing_strategy("file_descriptor")


def main() -> None:
    torch.set_num_threads(1)  # one core, both sides
    config = ROOT / "configs" / "default.yaml"
    over = overrides()
    train = movmnist.procedural(config, set=over)["train"].epoch(1).with_input_frames(10)
    peer = OpenSTLPeer(np.ascontiguousarray(train.pool().images))
    g = np.random.default_rng(0)
    picks = [int(i) for i in g.integers(0, TRAIN, ITEMS)]
    train[0]  # the pool's ink windows, once per process, before any clock

    def ours_item() -> float:
        return rate(ITEMS, lambda: [train[i] for i in picks])

    def ours_item_in_order() -> float:
        return rate(ITEMS, lambda: [train[i] for i in range(ITEMS)])

    def ours_item_floats() -> float:
        return rate(ITEMS, lambda: [tensors(train[i], floats=True) for i in picks])

    def ours_batch() -> float:
        return rate(TRAIN, lambda: [train[a : a + BATCH] for a in range(0, TRAIN, BATCH)])

    def peer_item() -> float:
        return rate(PEER_ITEMS, lambda: [peer[i] for i in range(PEER_ITEMS)])

    sides = {"item": ours_item, "in_order": ours_item_in_order, "item_floats": ours_item_floats, "batch": ours_batch}
    access = best_of({**sides, "peer": peer_item})

    stream = train.stream(BATCH).for_torch(floats=True)
    raw = train.stream(BATCH).for_torch()
    loader = best_of(
        {
            "workers_1": lambda: epoch_through(stream, 1),
            "workers_2": lambda: epoch_through(stream, 2),
            "uint8_workers_1": lambda: epoch_through(raw, 1),
            "uint8_workers_2": lambda: epoch_through(raw, 2),
            "fs_workers_1": lambda: epoch_through(stream, 1, "file_system"),
            "fs_workers_2": lambda: epoch_through(stream, 2, "file_system"),
        }
    )

    with tempfile.TemporaryDirectory() as tmp:
        movmnist.build(movmnist.load_config(config, over), Path(tmp) / "mm", workers=2)
        built = movmnist.open(Path(tmp) / "mm", input_frames=10)["train"]
        build_epoch = train.epoch(0)
        for i in picks[:32]:  # the same items, byte for byte
            assert all(np.array_equal(a, b) for a, b in zip(built[i], build_epoch[i], strict=True))
        shards = best_of(
            {
                "item": lambda: rate(ITEMS, lambda: [built[i] for i in picks]),
                "batch": lambda: rate(TRAIN, lambda: [built[a : a + BATCH] for a in range(0, TRAIN, BATCH)]),
            }
        )
        built.close()

    source = "real MNIST" if mnist_dir() else "synthetic 28x28 digits"
    p = access["peer"]
    rows = [
        ("item access, uint8 (x, y)", access["item"], p, "random split[i], items/s vs the peer's __getitem__"),
        ("item access, in index order", access["in_order"], p, "split[i] for i = 0, 1, 2, ... (read-ahead)"),
        ("item access, float tensors", access["item_floats"], p, "the same, as float32 / 255 tensors"),
        ("batched access, 32", access["batch"], p, "sequences/s, split[a:a+32] (uint8)"),
        ("DataLoader, 2 workers", loader["workers_2"], loader["workers_1"], "vs 1 worker: float tensors, batch 32"),
        (
            "DataLoader, file_system, 2 workers",
            loader["fs_workers_2"],
            loader["fs_workers_1"],
            "vs 1 worker: float, torch's file_system sharing",
        ),
        (
            "DataLoader, uint8, 2 workers",
            loader["uint8_workers_2"],
            loader["uint8_workers_1"],
            "vs 1 worker: uint8 tensors",
        ),
        ("built shards, item", shards["item"], p, "movmnist.open(...)[i], gzip 1, page cache warm"),
        ("built shards, batch 32", shards["batch"], p, "movmnist.open(...)[a:a+32]"),
        ("procedural vs shards, item", access["item"], shards["item"], "generating vs reading the same item"),
        ("procedural vs shards, batch", access["batch"], shards["batch"], "generating vs reading, batch 32"),
    ]
    print(f"train epoch 1 of {TRAIN} sequences of 20x64x64, 2 digits, {source}; peer: OpenSTL's generator")
    print(f"{'access':<30} {'rate/s':>10} {'other/s':>10} {'ratio':>8}  other side")
    for name, ours, other, what in rows:
        print(f"{name:<30} {ours:>10.0f} {other:>10.0f} {ours / other:>7.1f}x  {what}")
    dl1 = loader["workers_1"]
    print(f"(DataLoader, 1 worker: {dl1:.0f} sequences/s = {dl1 / p:.1f}x the peer's one core)")
    record(
        "procedural",
        {
            "sequences": TRAIN,
            "source": source,
            "peer_items_per_s": p,
            "item_per_s": access["item"],
            "item_in_order_per_s": access["in_order"],
            "item_float_tensors_per_s": access["item_floats"],
            "batch32_seq_per_s": access["batch"],
            "dataloader_float_seq_per_s": {"workers_1": dl1, "workers_2": loader["workers_2"]},
            "dataloader_float_file_system_seq_per_s": {
                "workers_1": loader["fs_workers_1"],
                "workers_2": loader["fs_workers_2"],
            },
            "dataloader_uint8_seq_per_s": {
                "workers_1": loader["uint8_workers_1"],
                "workers_2": loader["uint8_workers_2"],
            },
            "shards_item_per_s": shards["item"],
            "shards_batch32_seq_per_s": shards["batch"],
            "ratios": {
                "item_vs_peer": access["item"] / p,
                "item_in_order_vs_peer": access["in_order"] / p,
                "item_floats_vs_peer": access["item_floats"] / p,
                "batch32_vs_peer": access["batch"] / p,
                "dataloader_2_vs_1_workers": loader["workers_2"] / dl1,
                "dataloader_file_system_2_vs_1_workers": loader["fs_workers_2"] / loader["fs_workers_1"],
            },
        },
    )


if __name__ == "__main__":
    main()
