"""Chunks deflated and inflated a batch at a time (`store.deflate`, the kernel's zlib-ng loops):
the bytes of zlib_ng.compress one chunk a call, and every damaged chunk found."""

from __future__ import annotations

import numpy as np
import pytest

from movmnist.store import checksum, deflate

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")

ROWS = [
    np.random.default_rng(seed).integers(0, 3, size, dtype=np.uint8) * 100
    for seed, size in enumerate([1, 7, 4096, 81_920])
]


@pytest.fixture(params=["batched", "per-call"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "batched" and not deflate.BATCHED:
        pytest.skip("the kernel's zlib-ng loops are not bound here (no compiled kernel, or not zlib-ng 2)")
    monkeypatch.setattr(deflate, "BATCHED", request.param == "batched")
    return str(request.param)


def test_the_kernel_binds_to_zlib_ng() -> None:
    from movmnist.core import compiled

    if compiled.kernel is None:
        pytest.skip("no compiled kernel in this install")
    assert deflate.BATCHED, "zlib_ng is installed but the kernel's batch loops did not bind (deflate._bind)"


@pytest.mark.parametrize("level", range(10))
def test_a_batch_gives_the_bytes_of_one_call_a_chunk(path: str, level: int) -> None:
    assert deflate.compress(ROWS, level) == [checksum.seal(zlib_ng.compress(row, level)) for row in ROWS]


def stored_chunks(rows: list[np.ndarray]) -> tuple[bytes, np.ndarray]:
    chunks = deflate.compress(rows, 1)
    offsets = np.cumsum([0] + [len(c) for c in chunks[:-1]]) + 5  # after 5 bytes of something else
    return b"\xff" * 5 + b"".join(chunks), np.stack([offsets, [len(c) for c in chunks]], axis=1)


def test_chunks_inflate_into_their_rows(path: str) -> None:
    rows = [ROWS[3], ROWS[3][::-1].copy(), np.zeros_like(ROWS[3])]
    stored, places = stored_chunks(rows)
    out = np.full((3, len(ROWS[3])), 7, np.uint8)
    assert deflate.inflate_into(stored, places, out, checked=True) == -1
    np.testing.assert_array_equal(out, np.stack(rows))


def test_each_damage_is_named_with_its_chunk(path: str) -> None:
    rows = [ROWS[3], ROWS[3][::-1].copy()]
    stored, places = stored_chunks(rows)
    out = np.empty((2, len(ROWS[3])), np.uint8)
    flipped = bytearray(stored)
    flipped[int(places[1, 0]) + 10] ^= 0x10
    assert deflate.inflate_into(bytes(flipped), places, out, checked=True) == 4 * 1 + 1  # its checksum
    assert deflate.inflate_into(bytes(flipped), places, out, checked=False) in (4 * 1 + 2, 4 * 1 + 3)
    small = np.empty((2, len(ROWS[3]) - 1), np.uint8)  # a chunk that holds one byte more than its row
    assert deflate.inflate_into(stored, places, small, checked=True) == 3
    large = np.empty((2, len(ROWS[3]) + 1), np.uint8)  # one byte less
    assert deflate.inflate_into(stored, places, large, checked=True) == 3
    garbage = b"\x00" * 40
    assert deflate.inflate_into(garbage, np.array([[0, 40]]), out[:1], checked=False) == 2


@pytest.mark.parametrize("damaged", [None, 1, 6])  # none, in the caller's half, in the other thread's
def test_a_batch_inflated_on_two_threads_is_one_inflated_on_one(
    path: str, damaged: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [np.roll(ROWS[3], k) for k in range(deflate.PARALLEL_CHUNKS)]
    stored, places = stored_chunks(rows)
    if damaged is not None:
        flipped = bytearray(stored)
        flipped[int(places[damaged, 0]) + 10] ^= 0x10
        stored = bytes(flipped)
    got = {}
    for threads in (1, 2):
        monkeypatch.setattr(deflate, "PARALLEL_CHUNKS", 8 if threads == 2 else 10**9)
        out = np.zeros((len(rows), len(ROWS[3])), np.uint8)
        got[threads] = (deflate.inflate_into(stored, places, out, checked=True), out)
    assert got[1][0] == got[2][0] == (-1 if damaged is None else 4 * damaged + 1)
    if damaged is None:
        np.testing.assert_array_equal(got[2][1], np.stack(rows))
