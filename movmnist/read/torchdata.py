"""The PyTorch adapter: a `views.Stream` as an `IterableDataset`. The only module that imports torch.

Optional: the rest of the package never imports it, and torch is not a dependency
(`pip install torch`). Map-style access needs no adapter: a split is a map-style dataset
as it is (`__len__`, `__getitem__`, and `__getitems__`, which the DataLoader calls with a
whole batch's indices). This adapter is for streams: each DataLoader worker generates every
num_workers-th batch, and the DataLoader takes the workers' batches in turn, so the batches
arrive in the stream's order whatever the worker count, and no sampler is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

if TYPE_CHECKING:
    from movmnist.read.views import Stream

# The arrays of an item that hold pixels: what `floats` turns into float32 in [0, 1].
FRAMES = ("frames", "input", "target")


class TorchStream(IterableDataset[Any]):
    """Batches of a stream as tensors (uint8, or float32 / 255 with `floats`); `DataLoader(ds, batch_size=None)`."""

    def __init__(self, stream: Stream, floats: bool = False) -> None:
        self.stream, self.floats = stream, floats

    def __len__(self) -> int:
        return len(self.stream)

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for batch in self.stream.batches(worker, workers):
            yield tensors(batch, self.floats, shared=info is not None)


def tensors(item: Any, floats: bool = False, shared: bool = False) -> Any:
    """An item (array, (input, target) pair or dict) as tensors; with floats, its frames as float32 / 255.

    The item's frame arrays (frames, or input and target) are packed into one buffer, each a
    contiguous tensor on it. shared: that buffer is in shared memory, written there directly
    (as the DataLoader's own collate does in a worker), so the batch crosses to the main
    process as one segment, with one hand-over, instead of one per array after a copy.
    """
    if isinstance(item, np.ndarray):
        return _pack([item], floats, shared)[0]
    names = list(range(len(item))) if isinstance(item, tuple) else list(item)
    pixels = [n for n in names if isinstance(item, tuple) or n in FRAMES]
    packed = dict(zip(pixels, _pack([item[n] for n in pixels], floats, shared), strict=True))
    out = {n: packed[n] if n in packed else torch.from_numpy(np.ascontiguousarray(item[n])) for n in names}
    return tuple(out.values()) if isinstance(item, tuple) else out


def _pack(arrays: list[np.ndarray], floats: bool, shared: bool) -> list[torch.Tensor]:
    """The arrays as contiguous tensors on one buffer (float32 / 255 with floats, else their dtype)."""
    dtype = np.dtype(np.float32) if floats else arrays[0].dtype
    if any(a.dtype != arrays[0].dtype for a in arrays):  # not one buffer: one tensor each
        return [t for a in arrays for t in _pack([a], floats, shared)]
    sizes = [a.size for a in arrays]
    flat = _empty(sum(sizes), torch.from_numpy(np.empty(0, dtype)).dtype, shared)
    out, at = [], 0
    for a, n in zip(arrays, sizes, strict=True):
        t = flat[at : at + n].view(a.shape)
        if floats:  # numpy's float32 division: torch's values, ~10x faster than its uint8 cast here
            np.divide(a, np.float32(255), out=t.numpy())
        else:
            t.numpy()[...] = a
        out.append(t)
        at += n
    return out


def _empty(n: int, dtype: torch.dtype, shared: bool) -> torch.Tensor:
    """An empty 1-D tensor, in shared memory if `shared` (torch.utils.data's default_collate's way)."""
    proto: Any = torch.empty(0, dtype=dtype)
    if not shared:
        return torch.empty(n, dtype=dtype)
    storage = proto._typed_storage()._new_shared(n, device=proto.device)
    return proto.new(storage).resize_(n)  # type: ignore[no-any-return]
