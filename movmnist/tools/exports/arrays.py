"""The single-array exports: one split as one .npy or one PredRNN .npz, written to a binary stream.

Formats:

- `npy`, layout `tnhw` (the default): [T, N, H, W] uint8, time-major, the layout of the
  original `mnist_test_seq.npy` (Srivastava et al.), so code written for that file
  works unchanged. Colour: [T, N, H, W, C].
- `npy`, layout `nthw`: [N, T, H, W] (colour: [N, T, H, W, C]), our own layout.
- `npy`, layout `ntchw`: [N, T, C, H, W], torchvision's video layout (C = 1 for grey).
- `predrnn-npz`: the `.npz` of PredRNN / E3D-LSTM (thuml/predrnn-pytorch,
  core/data_provider/mnist.py, `InputHandle`, read at commit 49d3b0f): `input_raw_data`
  [N*T, C, H, W] float32 in [0, 1] (frames of all sequences stacked on one axis; the
  loader transposes them to channels-last and its trainer multiplies by 255 to show
  them), `clips` [2, N, 2] int32 where clips[0, i] = (start, K) is sequence i's input
  and clips[1, i] = (start + K, T - K) its target, as offsets into input_raw_data, and
  `dims` [1, 3] int32 = [[C, H, W]].

Memory: we never hold more than one chunk of sequences, except for a time-major export
to a stream that cannot seek (a pipe), which must emit frame 0 of every sequence before
frame 1 of any: there we read the split once per block of frames, holding at most
`memory` bytes of output (one frame of every sequence at the least).
"""

from __future__ import annotations

import zipfile
from os import PathLike
from typing import IO, Any, BinaryIO

import numpy as np

from movmnist.errors import ConfigError
from movmnist.read.dataset import Dataset
from movmnist.read.views import SplitView as Split
from movmnist.tools.exports import target
from movmnist.tools.exports.base import Options, Progress

LAYOUTS = ("tnhw", "nthw", "ntchw")
MEMORY = 256 * 1024 * 1024  # bytes a pipe export of the time-major layout may buffer


def output_shape(split: Split, layout: str) -> tuple[int, ...]:
    """The shape of the npy array `layout` gives for `split`."""
    n, t, h, w = split.shape[:4]
    extra = split.shape[4:]
    if layout == "tnhw":
        return (t, n, h, w, *extra)
    if layout == "nthw":
        return (n, t, h, w, *extra)
    if layout == "ntchw":
        return (n, t, extra[0] if extra else 1, h, w)
    raise ConfigError(f"layout {layout!r} is not known; use one of: {', '.join(LAYOUTS)}")


def _write_header(f: IO[bytes], shape: tuple[int, ...], dtype: str) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(f, header)


Target = str | PathLike[str] | BinaryIO


def _no_progress(n: int) -> None:
    pass


def _raw(array: np.ndarray) -> memoryview:
    """The bytes of `array` (copied only if it is not C-contiguous), for f.write without a tobytes copy."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data


def _seekable(f: IO[bytes]) -> bool:
    try:
        return f.seekable()
    except (AttributeError, OSError, ValueError):
        return False


def write_npy(
    split: Split,
    f: IO[bytes],
    layout: str = "tnhw",
    chunk: int = 256,
    memory: int = MEMORY,
    progress: Progress | None = None,
) -> int:
    """Write `split` as one .npy array in `layout` to the binary stream `f`; return the bytes written.

    progress: called with the number of frames written, as they are (N x T in all).
    """
    tick = progress or _no_progress
    shape = output_shape(split, layout)
    start = f.tell() if _seekable(f) else 0
    _write_header(f, shape, "uint8")
    header = (f.tell() - start) if _seekable(f) else None
    n, t = len(split), split.shape[1]
    if layout != "tnhw":
        for frames in split.chunks(chunk):
            if layout == "ntchw":
                frames = frames[:, :, None] if frames.ndim == 4 else np.moveaxis(frames, -1, 2)
            f.write(_raw(frames))
            tick(len(frames) * t)
        return int(np.prod(shape))
    frame_bytes = int(np.prod(split.shape[2:]))
    if header is not None:
        # A file: one pass, each chunk's frame t written where it belongs.
        base = start + header
        for first in range(0, n, chunk):
            frames = split[first : first + chunk]
            for step in range(t):
                f.seek(base + (step * n + first) * frame_bytes)
                f.write(_raw(frames[:, step]))
            tick(len(frames) * t)
        f.seek(base + n * t * frame_bytes)
        return int(np.prod(shape))
    # A pipe: blocks of frames, each the frames of every sequence, in order.
    block = max(1, min(t, memory // max(1, n * frame_bytes)))
    for t0 in range(0, t, block):
        t1 = min(t, t0 + block)
        if block == 1:  # not even one frame of every sequence fits: stream chunk by chunk
            for first in range(0, n, chunk):
                frames = split[first : first + chunk]
                f.write(_raw(frames[:, t0]))
                tick(len(frames))
            continue
        buf = np.empty((t1 - t0, n, *split.shape[2:]), np.uint8)
        for first in range(0, n, chunk):
            frames = split[first : first + chunk]
            buf[:, first : first + len(frames)] = frames[:, t0:t1].swapaxes(0, 1)
            tick(len(frames) * (t1 - t0))
        f.write(_raw(buf))  # no copy of the block
    return int(np.prod(shape))


def write_predrnn_npz(
    split: Split, f: IO[bytes], input_frames: int | None = None, chunk: int = 256, progress: Progress | None = None
) -> int:
    """Write `split` as PredRNN's .npz (see the module docstring) to `f`; K defaults to T // 2.

    progress: called with the number of frames written, as they are (N x T in all).
    """
    n, t, h, w = split.shape[:4]
    c = split.shape[4] if len(split.shape) > 4 else 1
    k = t // 2 if input_frames is None else input_frames
    if not 1 <= k < t:
        raise ConfigError(f"--input-frames must be in [1, {t - 1}] for sequences of {t} frames (got {k})")
    starts = np.arange(n, dtype=np.int32) * t
    clips = np.empty((2, n, 2), np.int32)
    clips[0, :, 0], clips[0, :, 1] = starts, k
    clips[1, :, 0], clips[1, :, 1] = starts + k, t - k
    dims = np.array([[c, h, w]], np.int32)
    written = 0
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        for name, array in (("clips", clips), ("dims", dims)):
            with z.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array)
        with z.open("input_raw_data.npy", "w", force_zip64=True) as entry:
            _write_header(entry, (n * t, c, h, w), "float32")
            # float32 is 4x the frames: convert a quarter chunk at a time, into one reused buffer.
            step = max(1, chunk // 4)
            buf = np.empty((step * t, c, h, w), np.float32)
            for frames in split.chunks(step):
                x = frames[:, :, None] if frames.ndim == 4 else np.moveaxis(frames, -1, 2)
                out = buf[: len(x) * t]
                np.divide(x.reshape(-1, c, h, w), np.float32(255), out=out)
                entry.write(_raw(out))
                written += out.nbytes
                if progress is not None:
                    progress(len(out))
    return written


def write_npy_export(
    dataset: Dataset, out: Target, splits: tuple[str, ...], options: Options, progress: Progress | None
) -> dict[str, Any]:
    """The `npy` export of `splits[0]` to `out` (a path, '-' or a stream)."""
    part = dataset[splits[0]]
    shape = output_shape(part, options.layout)  # checks the layout before anything is written
    with target.new_file(out) as f:
        written = write_npy(part, f, options.layout, options.chunk, progress=progress)
    return _summary(part, options.layout, shape, written)


def write_predrnn_export(
    dataset: Dataset, out: Target, splits: tuple[str, ...], options: Options, progress: Progress | None
) -> dict[str, Any]:
    """The `predrnn-npz` export of `splits[0]` to `out` (a path, '-' or a stream)."""
    part = dataset[splits[0]]
    with target.new_file(out) as f:
        written = write_predrnn_npz(part, f, options.input_frames, options.chunk, progress=progress)
    n, t = part.shape[:2]
    return _summary(part, None, (n * t, *output_shape(part, "ntchw")[2:]), written)


def _summary(part: Split, layout: str | None, shape: tuple[int, ...], written: int) -> dict[str, Any]:
    return {"split": part.name, "layout": layout, "shape": list(shape), "sequences": len(part), "bytes": written}
