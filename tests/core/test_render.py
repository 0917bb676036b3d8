"""Rendering: sprites land where the recorded positions say, combined by max."""

from __future__ import annotations

import numpy as np

from movmnist.core import render


def place(canvas: tuple[int, int], sprite: np.ndarray, r: int, c: int) -> np.ndarray:
    out = np.zeros(canvas, dtype=np.uint8)
    out[r : r + sprite.shape[0], c : c + sprite.shape[1]] = sprite
    return out


def test_one_sprite_per_frame_at_its_position() -> None:
    g = np.random.default_rng(0)
    frames = np.zeros((3, 5, 20, 24), dtype=np.uint8)
    sprites = g.integers(0, 256, (3, 6, 7), dtype=np.uint8)
    rows = g.integers(0, 20 - 6 + 1, (3, 5))
    cols = g.integers(0, 24 - 7 + 1, (3, 5))
    render.paste_max(frames, np.arange(3), sprites, rows, cols, first=True)
    for n in range(3):
        for t in range(5):
            np.testing.assert_array_equal(frames[n, t], place((20, 24), sprites[n], rows[n, t], cols[n, t]))


def test_two_sprites_combine_by_max_and_subsets() -> None:
    g = np.random.default_rng(1)
    frames = np.zeros((4, 3, 16, 16), dtype=np.uint8)
    a = g.integers(0, 256, (4, 8, 8), dtype=np.uint8)
    b = g.integers(0, 256, (2, 8, 8), dtype=np.uint8)
    ra, ca = g.integers(0, 9, (4, 3)), g.integers(0, 9, (4, 3))
    rb, cb = g.integers(0, 9, (2, 3)), g.integers(0, 9, (2, 3))
    render.paste_max(frames, np.arange(4), a, ra, ca, first=True)
    render.paste_max(frames, np.array([1, 3]), b, rb, cb, first=False)
    for n in range(4):
        for t in range(3):
            expect = place((16, 16), a[n], ra[n, t], ca[n, t])
            if n in (1, 3):
                j = (1, 3).index(n)
                expect = np.maximum(expect, place((16, 16), b[j], rb[j, t], cb[j, t]))
            np.testing.assert_array_equal(frames[n, t], expect)


def test_colour_channels_are_carried() -> None:
    frames = np.zeros((1, 2, 10, 10, 3), dtype=np.uint8)
    sprite = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(1, 4, 4, 3)
    render.paste_max(frames, np.array([0]), sprite, np.array([[0, 6]]), np.array([[1, 2]]), first=True)
    np.testing.assert_array_equal(frames[0, 1, 6:10, 2:6], sprite[0])
    assert frames[0, 0].sum() == sprite.sum()
