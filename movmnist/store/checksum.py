"""HDF5's Fletcher-32 chunk checksum, for the chunks that movmnist compresses and inflates itself.

Every chunked dataset of a shard declares HDF5's fletcher32 filter after its codec, so HDF5
appends a 4-byte checksum of each stored (compressed) chunk and checks it on every read:
one flipped bit in a shard is an error, never wrong data. The fast paths that bypass
HDF5's filters (`shards` writing zlib-ng-deflated chunks directly, `reader` inflating them
itself) do the same here: `seal` appends the checksum as HDF5's filter would (little-endian),
`unseal` checks and strips it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from movmnist.core import compiled


def fletcher32(data: Any) -> int:
    """H5_checksum_fletcher32 of `data` (bytes-like): the compiled kernel, else numpy."""
    if compiled.kernel is not None:
        return int(compiled.kernel.fletcher32(data))
    return _fletcher32_numpy(data)


def _fletcher32_numpy(data: Any) -> int:
    """The same sums as HDF5's C loop, 360 words at a time (Python ints do not overflow)."""
    raw = np.frombuffer(data, np.uint8)
    n = len(raw) // 2
    words = (raw[: 2 * n : 2].astype(np.int64) << 8) | raw[1 : 2 * n : 2]
    sum1 = sum2 = 0
    for lo in range(0, n, 360):
        running = np.cumsum(words[lo : lo + 360])
        sum2 += len(running) * sum1 + int(running.sum())
        sum1 += int(running[-1])
        sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    if len(raw) % 2:
        sum1 += int(raw[-1]) << 8
        sum2 += sum1
        sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    return (sum2 << 16) | sum1


def seal(chunk: bytes) -> bytes:
    """`chunk` as HDF5's fletcher32 filter stores it: followed by its checksum, little-endian."""
    return chunk + fletcher32(chunk).to_bytes(4, "little")


def unseal(stored: bytes | memoryview) -> memoryview | None:
    """The chunk inside `stored` (as `seal` made it), or None if its checksum does not match."""
    view = memoryview(stored)
    if len(view) < 4:
        return None
    body = view[:-4]
    return body if int.from_bytes(view[-4:], "little") == fletcher32(body) else None
