"""The compression pipeline (`store.sinks.Pipeline`): a block compressed on its own thread while
the next is drawn, and a shard's bytes exactly those of one chunk written after the other."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from movmnist.builder import worker
from movmnist.core.generate import Frames
from movmnist.store import shards, sinks
from tests.conftest import small_config
from tests.store.test_fast_gzip import OVERRIDES, write_test_split

pytest.importorskip("zlib_ng.zlib_ng")
REAL_DEFLATE = shards.fast_deflate


class OneAtATime(sinks.Pipeline):
    """Every batch in the file before `put` returns: no overlap at all."""

    def put(self, ds: h5py.Dataset, starts: list[int], rows: list[np.ndarray]) -> None:
        super().put(ds, starts, rows)
        self.drain()


def slow_deflate(compression: str, level: int) -> Any:
    """The real deflate, a millisecond late: a buffer drawn over while its block waits shows."""
    deflate = REAL_DEFLATE(compression, level)
    assert deflate is not None

    def late(rows: Any) -> bytes:
        time.sleep(0.001)
        return deflate(rows)

    return late


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param((), id="chunks-in-two-buffers"),  # masks on: whole chunks, drawn with the mask
        pytest.param(("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false"), id="lazy"),
    ],
)
def test_overlapped_shards_are_the_bytes_of_one_block_after_the_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, overrides: tuple[str, ...]
) -> None:
    cfg = small_config(*OVERRIDES, "build.chunk_size=3", *overrides)
    monkeypatch.setattr(shards, "WRITE_BLOCK", 2 * 6 * 40 * 40)  # lazy frames: 2 sequences a block
    monkeypatch.setattr(shards, "fast_deflate", slow_deflate)
    overlapped = [p.read_bytes() for p in write_test_split(cfg, tmp_path / "overlapped")]
    monkeypatch.setattr(sinks, "Pipeline", OneAtATime)
    serial = [p.read_bytes() for p in write_test_split(cfg, tmp_path / "serial")]
    assert len(overlapped) == 2 and overlapped == serial


def test_a_failed_compression_fails_the_shard_and_stops_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(compression: str, level: int) -> Any:
        def deflate(rows: Any) -> bytes:
            raise MemoryError("deflate ran out")

        return deflate

    monkeypatch.setattr(shards, "fast_deflate", broken)
    with pytest.raises(MemoryError, match="deflate ran out"):
        write_test_split(small_config(*OVERRIDES), tmp_path / "out")
    assert not [p for p in (tmp_path / "out").iterdir()]  # the temporary is gone
    assert not [t for t in threading.enumerate() if t.name.startswith("movmnist-deflate")]


def test_lazy_frames_take_the_halves_of_their_buffer_in_turn() -> None:
    drawn: list[int] = []

    def draw(lo: int, hi: int, out: np.ndarray) -> None:
        out[:] = lo
        drawn.append(lo)

    frames = Frames((6, 2, 3), draw, np.zeros(2 * 2 * 6, np.uint8))
    a, b = frames[0:2], frames[2:4]
    assert not np.shares_memory(a, b) and (a == 0).all() and (b == 2).all()
    c = frames[4:6]
    assert np.shares_memory(a, c) and (b == 2).all()  # the slice before last, drawn over
    with pytest.raises(ValueError, match="does not fit half the buffer"):
        frames[0:3]


def test_the_worker_keeps_two_buffers_of_each(tmp_path: Path) -> None:
    write_test_split(small_config(*OVERRIDES, "build.chunk_size=4"), tmp_path / "out")
    assert {"frames-0", "frames-1", "masks-0", "masks-1"} <= set(worker._buffers)
