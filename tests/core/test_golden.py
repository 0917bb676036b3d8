"""The bytes contract of the generation core: these digests must never change.

Speed work rewrites the hot path (rendering, motion, buffers); sequence i must stay a pure
function of (config, split, i), bit for bit. The sprites here are random arrays built in
the test (not MNIST, not the Pillow-drawn synthetic digits), so the digests depend on
nothing but numpy and our own code. A deliberate change of the output format updates them
in the same commit, and says so.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from movmnist.core import compiled
from movmnist.core.generate import generate
from movmnist.core.pool import Pool
from tests.conftest import small_config


def _pool(size: int, colour: bool = False) -> Pool:
    g = np.random.default_rng(2015)
    shape = (300, size, size, 3) if colour else (300, size, size)
    images = g.integers(0, 256, shape, dtype=np.uint8)
    images[:, :2] = 0  # MNIST-like empty borders, so zeros meet ink under max
    return Pool(
        images=images,
        labels=g.integers(0, 10, 300),
        source_index=np.arange(300, dtype=np.int64),
        spec="train[:300]",
    )


def _digest(overrides: tuple[str, ...], size: int, colour: bool, split: str, lo: int, hi: int) -> str:
    cfg = small_config(f"digits.size={size}", *overrides)
    chunk = generate(cfg, _pool(size, colour), split, np.arange(lo, hi))
    h = hashlib.sha256()
    for a in (chunk.frames, chunk.labels, chunk.positions, chunk.source_index):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


CASES = {
    # name: (overrides, sprite size, colour, split, first index, stop index) -> digest
    "standard 64x64, 2 digits, 20 frames": (
        ("canvas.height=64", "canvas.width=64", "sequence.length=20"),
        28,
        False,
        "train",
        0,
        37,
    ),
    "1 to 3 digits": (("digits.count=[1, 3]",), 14, False, "test", 1000, 1050),
    "32x32 canvas, speed range": (
        ("canvas.height=32", "canvas.width=32", "motion.speed=[0.05, 0.4]"),
        14,
        False,
        "val",
        5,
        40,
    ),
    "colour sprites, non-square canvas": (
        ("canvas.height=30", "canvas.width=50", "digits.count=3"),
        10,
        True,
        "train",
        7,
        30,
    ),
}
DIGESTS = {
    "standard 64x64, 2 digits, 20 frames": "e07555b68dcecfe5",
    "1 to 3 digits": "dc54a9a6ecb6d5cd",
    "32x32 canvas, speed range": "31dfe822234142f9",
    "colour sprites, non-square canvas": "f0780808c6fd4cf5",
}


@pytest.mark.parametrize("path", ["as installed", "numpy"])
@pytest.mark.parametrize("name", list(CASES))
def test_generation_bytes_are_pinned(name: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "numpy":  # the fallback where the C kernel is not built: the same bytes
        monkeypatch.setattr(compiled, "kernel", None)
    assert _digest(*CASES[name]) == DIGESTS[name]
