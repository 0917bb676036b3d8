"""Corruptions of the input frames (corruptions.*), OpenSTL's noisy Moving MNIST; pure numpy.

Transcribed from chengtan9907/OpenSTL, openstl/datasets/dataloader_noisy_moving_mnist.py
(`NoisyMovingMNIST`) at c74deb5, where each kind acts on the first n_frames_input frames:
- perceptual: in each input frame, the size x size square (24 there) whose top-left row and
  column are uniform integers in [0, H - size) and [0, W - size) (`np.random.randint(0,
  image_size - 24)`) is set to 0 (every channel): inside the canvas, and never over its
  last row or column, as there.
- missing: each input frame is set to 0 with probability p (`np.random.choice([0, 1],
  p=[1 - p, p])`).
- dynamic: each digit's velocity in each input step gets N(0, sigma) added per component,
  in units of its speed (`motion.presets.input_jitter`); the input frames are drawn there.
Several kinds may be on at once: the digits are drawn where `dynamic` puts them, then the
square is blacked out, then missing frames are zeroed.

Unlike OpenSTL, whose `dynamic` targets continue from where the noisy inputs left the
digits, every target frame and every annotation here is the noise-free scene's, byte for
byte: the corruption is of what a model sees, never of the ground truth. The draws come
from their own streams (rng.BLACKOUT, MISSING, DYNAMIC), so the clean scene does not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movmnist.config.sections import Corruptions
from movmnist.core import render, rng
from movmnist.core.motion import Draw


@dataclass(frozen=True)
class Record:
    """What the corruptions of a chunk of n sequences did, I = corruptions.input_frames.

    blackout: [n, I, 4] int16 (x0, y0, x1, y1), x1 and y1 exclusive: the square set to 0 in
        each input frame (perceptual), or None.
    missing: [n, I] bool, the input frames set to 0 (missing), or None.
    """

    blackout: np.ndarray | None
    missing: np.ndarray | None

    def apply(self, frames: np.ndarray, lo: int = 0) -> None:
        """Corrupt, in place, `frames` [m, T, H, W(, C)]: sequences lo .. lo + m - 1 of the chunk."""
        m = len(frames)
        if m == 0:
            return
        if self.blackout is not None:
            box = self.blackout[lo : lo + m]
            size = int(box[0, 0, 2] - box[0, 0, 0])
            inputs = frames[:, : box.shape[1]]
            seq, frame = np.indices(box.shape[:2]).reshape(2, -1)
            # Each size x size window of a frame is a view of it (render.windows): zero the chosen ones.
            render.windows(inputs, size, size)[seq, frame, box[..., 1].reshape(-1), box[..., 0].reshape(-1)] = 0
        if self.missing is not None:
            missing = self.missing[lo : lo + m]
            frames[:, : missing.shape[1]][missing] = 0


def record(cfg: Corruptions, draw: Draw, canvas: tuple[int, int]) -> Record | None:
    """The blackouts and missing frames of the sequences `draw` is bound to; None if both are off."""
    inputs = cfg.input_frames
    blackout = missing = None
    if cfg.perceptual is not None:
        size = cfg.perceptual.size
        u = draw(rng.BLACKOUT, 2 * inputs)  # [n, 2I]: the rows, then the columns
        high = np.repeat(np.array(canvas) - size, inputs)
        top_left = np.minimum((u * high).astype(np.int64), high - 1).reshape(-1, 2, inputs)
        row, col = top_left[:, 0], top_left[:, 1]
        blackout = np.stack([col, row, col + size, row + size], axis=-1).astype(np.int16)
    if cfg.missing is not None:
        missing = draw(rng.MISSING, inputs) < cfg.missing.probability
    if blackout is None and missing is None:
        return None
    return Record(blackout, missing)
