"""Previews: animated GIF grids read back from the shards. The only owner of imageio."""

from __future__ import annotations

import io

import numpy as np

from movmnist.dataset import Dataset

GAP = 2  # pixels of border between sequences, before upscaling
BANNER = 12  # pixels of title strip, before upscaling


def grid(frames: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tile sequences into one video.

    frames: [n, T, H, W(, C)] uint8, n <= rows * cols -> [T, rows*(H+GAP)+GAP, cols*(W+GAP)+GAP(, C)],
    empty cells left black, borders mid-grey so that black digits' edges stay visible.
    """
    n, t, h, w = frames.shape[:4]
    extra = frames.shape[4:]
    out = np.full((t, rows * (h + GAP) + GAP, cols * (w + GAP) + GAP, *extra), 96, dtype=np.uint8)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        top, left = GAP + r * (h + GAP), GAP + c * (w + GAP)
        out[:, top : top + h, left : left + w] = frames[i]
    return out


def banner(video: np.ndarray, text: str) -> np.ndarray:
    """Prepend a title strip with `text` (Pillow's built-in font) to every frame."""
    from PIL import Image, ImageDraw

    t, _, width = video.shape[:3]
    strip = Image.new("L", (width, BANNER), 0)
    ImageDraw.Draw(strip).text((2, 0), text, fill=255)
    pixels = np.asarray(strip, dtype=np.uint8)
    if video.ndim == 4:
        pixels = np.repeat(pixels[..., None], video.shape[3], axis=-1)
    return np.concatenate([np.broadcast_to(pixels, (t, *pixels.shape)), video], axis=1)


def gif_bytes(video: np.ndarray, fps: float) -> bytes:
    """Encode [T, H, W(, C)] uint8 as a looping animated GIF."""
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, video, extension=".gif", duration=1000.0 / fps, loop=0)
    return buf.getvalue()


def preview_gif(
    dataset: Dataset, split: str = "test", rows: int = 4, cols: int = 4, scale: int = 3, fps: float = 10.0
) -> bytes:
    """An animated GIF of the first rows x cols sequences of `split`, upscaled `scale` times."""
    part = dataset[split]
    frames = part[0 : min(rows * cols, len(part))]
    video = grid(frames, rows, cols)
    kind = "synthetic digits" if dataset.synthetic else dataset.manifest["source"].get("kind", "")
    video = banner(video, f"{split} · {kind}")
    video = np.repeat(np.repeat(video, scale, axis=1), scale, axis=2)
    return gif_bytes(video, fps)
