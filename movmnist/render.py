"""Rendering: place sprites on frames. Pure numpy, writes into a buffer the caller owns."""

from __future__ import annotations

import numpy as np


def windows(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """A writeable view of every h x w window of every frame.

    frames: [N, T, H, W, ...] -> [N, T, H - h + 1, W - w + 1, h, w, ...], sharing memory,
    so `view[n, t, r, c]` is the patch whose top-left pixel is (r, c) in frame (n, t).
    Trailing axes (colour channels) are carried along.
    """
    n, t, height, width = frames.shape[:4]
    s = frames.strides
    shape = (n, t, height - h + 1, width - w + 1, h, w, *frames.shape[4:])
    strides = (s[0], s[1], s[2], s[3], s[2], s[3], *s[4:])
    return np.lib.stride_tricks.as_strided(frames, shape=shape, strides=strides, writeable=True)


def paste_max(
    frames: np.ndarray, seq: np.ndarray, sprites: np.ndarray, rows: np.ndarray, cols: np.ndarray, first: bool
) -> None:
    """Combine sprites into the frames of their sequences by pixel-wise max, in place.

    frames: [N, T, H, W(, C)] uint8. seq: [M] distinct sequence numbers in 0..N-1.
    sprites: [M, h, w(, C)] uint8, one per entry of seq. rows, cols: [M, T] int, the
    top-left pixel of the sprite in each frame (the sprite must fit).
    first: those frames are known to be zero, so the max is a plain copy (saves a read).
    Because `seq` holds no repeats, every (sequence, frame) pair is written once, so the
    gather-max-scatter below never has two writers on one pixel.
    """
    m, t = rows.shape
    if m == 0:
        return
    h, w = sprites.shape[1:3]
    view = windows(frames, h, w)
    seqs = np.repeat(seq, t)
    frame = np.tile(np.arange(t), m)
    r, c = rows.reshape(-1), cols.reshape(-1)
    patches = np.repeat(sprites, t, axis=0)
    if not first:
        np.maximum(patches, view[seqs, frame, r, c], out=patches)
    view[seqs, frame, r, c] = patches
