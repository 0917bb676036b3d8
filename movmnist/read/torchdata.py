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

    shared: float frames are written straight into shared memory, as the DataLoader's own
    collate does in a worker, so that sending them to the main process copies nothing.
    """
    if isinstance(item, tuple):
        return tuple(_tensor(a, floats, shared) for a in item)
    if isinstance(item, dict):
        return {name: _tensor(a, floats and name in FRAMES, shared) for name, a in item.items()}
    return _tensor(item, floats, shared)


def _tensor(a: np.ndarray, floats: bool, shared: bool) -> torch.Tensor:
    if not floats:
        return torch.from_numpy(np.ascontiguousarray(a))
    out = _shared_empty(a.shape) if shared else torch.empty(a.shape, dtype=torch.float32)
    # numpy's float32 division: the same values as torch's, ~10x faster than its uint8 cast here.
    np.divide(a, np.float32(255), out=out.numpy())
    return out


def _shared_empty(shape: tuple[int, ...]) -> torch.Tensor:
    """An empty float32 tensor in shared memory (torch.utils.data's default_collate's way)."""
    proto: Any = torch.empty(0, dtype=torch.float32)
    storage = proto._typed_storage()._new_shared(int(np.prod(shape)), device=proto.device)
    return proto.new(storage).resize_(*shape)  # type: ignore[no-any-return]
