"""The latent state of a chunk: what `generate` decides, then draws (render) and annotates (annotate).

Pure data, built once per chunk. n is the number of sequences, T the frames, K the digit
slots (the maximum digit count); pixel coordinates are (row, col) on the canvas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from movmnist.core.motion import Trajectory
from movmnist.core.render import Ink


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything about a chunk of sequences but its pixels.

    idx:         [n] int64, each sequence's split-global index.
    choice:      [n, K] int64, the pool image each digit slot shows.
    present:     [n, K] bool, whether the sequence uses the slot (it has fewer digits than K otherwise).
    path:        the motion of the n * K sprites, arrays [T, n * K, ...]: sprite i * K + j is
                 slot j of sequence i (see `Trajectory` for the units).
    pixels:      [n, T, K, 2] int64, top-left pixel of each digit's sprite in each frame; may
                 leave the canvas (wrap, open walls, bounce_on: ink). Chunk.positions.
    ink_box:     [n, K, 4] int64 (r0, c0, r1, c1), r1 and c1 exclusive, each sprite's ink in
                 sprite coordinates; when `warped`, [n, T, K, 4] per frame in canvas
                 coordinates. None when nothing needs it (no annotations, bounce_on: patch).
    ink_count:   [n, K] int64 ([n, T, K] when `warped`), each sprite's ink pixels; None with ink_box.
    sprite:      (h, w), the sprite size in pixels.
    wrap:        the canvas is a torus (motion.boundary: wrap).
    z_order:     [n, K] int8, each slot's layer with render.combine: over (0 at the bottom, -1
                 if absent); None for the other combines.
    ink_windows: `render.ink_windows` of the pool (top [M], left [M], (rows, cols)): a window
                 within each pool image that holds its ink; None when `warped`.
    warped:      mmnist++: each digit is warped onto a whole canvas of its own in every frame
                 (layers.warp), so it may show anywhere in the frame and its ink changes per frame.
    """

    idx: np.ndarray
    choice: np.ndarray
    present: np.ndarray
    path: Trajectory
    pixels: np.ndarray
    ink_box: np.ndarray | None
    ink_count: np.ndarray | None
    sprite: tuple[int, int]
    wrap: bool
    z_order: np.ndarray | None
    ink_windows: Ink | None = None
    warped: bool = False

    def __repr__(self) -> str:
        n, length, k = self.pixels.shape[:3]
        return f"<Scene {n} sequences x {length} frames x {k} slots, sprite {self.sprite[0]}x{self.sprite[1]}>"
