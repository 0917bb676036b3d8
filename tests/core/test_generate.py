"""Generation: invariants, determinism per index, and frames that match the annotations."""

from __future__ import annotations

import numpy as np

from movmnist.config import Config
from movmnist.core.generate import generate
from movmnist.sources import load_pool
from tests.conftest import small_config


def _pool(cfg: Config, split: str = "train"):  # type: ignore[no-untyped-def]
    return load_pool(cfg.source, getattr(cfg.splits, split).pool, cfg.digits.size)


def test_frames_are_the_max_of_the_digits_at_their_positions(small: Config) -> None:
    pool = _pool(small)
    chunk = generate(small, pool, "train", np.arange(12))
    h, w = pool.images.shape[1:3]
    index_of = {int(i): j for j, i in enumerate(pool.source_index)}
    for n in range(12):
        for t in range(small.sequence.length):
            expect = np.zeros((40, 40), dtype=np.uint8)
            for k in range(2):
                r, c = chunk.positions[n, t, k]
                sprite = pool.images[index_of[int(chunk.source_index[n, k])]]
                expect[r : r + h, c : c + w] = np.maximum(expect[r : r + h, c : c + w], sprite)
            np.testing.assert_array_equal(chunk.frames[n, t], expect)
        assert list(chunk.labels[n]) == [pool.labels[index_of[int(i)]] for i in chunk.source_index[n]]


def test_positions_inside_canvas_and_shapes() -> None:
    cfg = small_config("canvas.height=30", "canvas.width=50", "motion.speed=[0.05, 0.9]")
    pool = _pool(cfg)
    chunk = generate(cfg, pool, "train", np.arange(40))
    assert chunk.frames.shape == (40, 6, 30, 50) and chunk.frames.dtype == np.uint8
    assert chunk.positions.shape == (40, 6, 2, 2) and chunk.positions.dtype == np.int16
    assert chunk.positions.min() >= 0
    assert chunk.positions[..., 0].max() <= 30 - 14 and chunk.positions[..., 1].max() <= 50 - 14


def test_one_digit_conserves_pixel_mass() -> None:
    cfg = small_config("digits.count=1")
    pool = _pool(cfg)
    chunk = generate(cfg, pool, "train", np.arange(10))
    index_of = {int(i): j for j, i in enumerate(pool.source_index)}
    for n in range(10):
        mass = int(pool.images[index_of[int(chunk.source_index[n, 0])]].sum(dtype=np.int64))
        assert (chunk.frames[n].reshape(6, -1).sum(axis=1, dtype=np.int64) == mass).all()


def test_a_sequence_depends_only_on_its_index(small: Config) -> None:
    pool = _pool(small)
    whole = generate(small, pool, "train", np.arange(30))
    parts = [generate(small, pool, "train", np.arange(a, b)) for a, b in [(0, 7), (7, 8), (8, 30)]]
    np.testing.assert_array_equal(whole.frames, np.concatenate([p.frames for p in parts]))
    np.testing.assert_array_equal(whole.positions, np.concatenate([p.positions for p in parts]))
    buffer = np.empty(64 * 6 * 40 * 40, dtype=np.uint8)
    again = generate(small, pool, "train", np.arange(30), out=buffer)
    np.testing.assert_array_equal(again.frames, whole.frames)


def test_seed_and_split_change_the_sequences(small: Config) -> None:
    pool = _pool(small)
    a = generate(small, pool, "train", np.arange(8))
    b = generate(small_config("seed=1"), pool, "train", np.arange(8))
    c = generate(small, pool, "val", np.arange(8))
    assert not np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.positions, c.positions)


def test_variable_digit_count_marks_absent_digits() -> None:
    cfg = small_config("digits.count=[1, 3]")
    pool = _pool(cfg)
    chunk = generate(cfg, pool, "train", np.arange(200))
    counts = (chunk.labels >= 0).sum(axis=1)
    assert set(counts.tolist()) == {1, 2, 3}
    absent = chunk.labels < 0
    assert (chunk.source_index[absent] == -1).all()
    assert (chunk.positions.transpose(0, 2, 1, 3)[absent] == -1).all()
    # Present digits fill the first slots.
    assert ((chunk.labels >= 0) == (np.arange(3)[None, :] < counts[:, None])).all()
