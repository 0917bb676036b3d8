"""The per-frame loop that most Moving MNIST code in the wild uses, as a speed baseline.

This is the generator of the widely copied PyTorch `MovingMNIST` dataset class (in many
ConvLSTM / PredRNN repositories), itself a per-sequence port of Srivastava et al.'s
`data_handler.py`: for each sequence and each digit, a scalar Python loop steps the
bounce frame by frame, then a second loop slices the digit into each frame with
np.maximum. The frames of a sequence start as a fresh zero array.

As in the original, a sequence accumulates in float32 (values 0..255, the digits' uint8
promoted by np.maximum) and is handed out one at a time, as a Dataset's __getitem__ does.
One departure, in the baseline's favour: digits are drawn with `random.randrange` from an
array already in memory (no per-sequence decoding). `dtype=np.uint8` gives the variant
that writes bytes like ours (faster; the bench reports both).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import numpy as np


def random_trajectory(length: int, free: int, step: float, rnd: random.Random) -> tuple[np.ndarray, np.ndarray]:
    """Top-left (row, col) pixel of one digit in each of `length` frames."""
    y, x = rnd.random(), rnd.random()
    theta = rnd.random() * 2 * math.pi
    v_y, v_x = math.sin(theta), math.cos(theta)
    start_y = np.zeros(length)
    start_x = np.zeros(length)
    for i in range(length):
        y += v_y * step
        x += v_x * step
        if x <= 0:
            x = 0
            v_x = -v_x
        if x >= 1.0:
            x = 1.0
            v_x = -v_x
        if y <= 0:
            y = 0
            v_y = -v_y
        if y >= 1.0:
            y = 1.0
            v_y = -v_y
        start_y[i] = y
        start_x[i] = x
    return (free * start_y).astype(np.int32), (free * start_x).astype(np.int32)


def moving_mnist_sequence(
    digits: np.ndarray,
    rnd: random.Random,
    length: int = 20,
    size: int = 64,
    count: int = 2,
    step: float = 0.1,
    dtype: type = np.float32,
) -> np.ndarray:
    """One sequence [length, size, size] of `count` digits drawn from `digits` [M, h, w]."""
    h = digits.shape[1]
    data = np.zeros((length, size, size), dtype=dtype)
    for _ in range(count):
        rows, cols = random_trajectory(length, size - h, step, rnd)
        digit = digits[rnd.randrange(len(digits))]
        for i in range(length):
            top, left = rows[i], cols[i]
            bottom, right = top + h, left + h
            data[i, top:bottom, left:right] = np.maximum(data[i, top:bottom, left:right], digit)
    return data


def generate(digits: np.ndarray, n: int, seed: int = 0, dtype: type = np.float32) -> Iterator[np.ndarray]:
    """n sequences [length, size, size], one at a time, as a dataset's __getitem__ would."""
    rnd = random.Random(seed)
    for _ in range(n):
        yield moving_mnist_sequence(digits, rnd, dtype=dtype)
