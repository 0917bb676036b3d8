"""Fletcher-32 as HDF5 computes it: the compiled kernel, the numpy fallback and HDF5's own filter agree."""

from __future__ import annotations

import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from movmnist.core import compiled
from movmnist.store import checksum


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=3000))
def test_kernel_and_numpy_give_the_same_checksum(data: bytes) -> None:
    assert compiled.kernel is not None
    assert checksum.fletcher32(data) == checksum._fletcher32_numpy(data)


def test_our_checksum_is_the_one_hdf5_stores_and_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = rng.integers(0, 3, (6, 5, 16, 17), dtype=np.uint8)  # odd row sizes: odd chunk lengths too
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", data=data, chunks=(1, 5, 16, 17), compression="gzip", fletcher32=True)
        for i in range(6):  # HDF5 wrote these: we check them as it does
            mask, stored = ds.id.read_direct_chunk((i, 0, 0, 0))
            body = checksum.unseal(stored)
            assert mask == 0 and body is not None and bytes(body) == stored[:-4]
            damaged = bytearray(stored)
            damaged[len(stored) // 3] ^= 4
            assert checksum.unseal(bytes(damaged)) is None
        # and HDF5 reads what we seal
        ds.id.write_direct_chunk((2, 0, 0, 0), checksum.seal(zlib.compress(data[5].tobytes())), 0)
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["x"][2], data[5])


def test_without_the_kernel_the_numpy_checksum_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    expect = checksum.fletcher32(b"movmnist checks every chunk")
    monkeypatch.setattr(compiled, "kernel", None)
    assert checksum.fletcher32(b"movmnist checks every chunk") == expect
    assert checksum.unseal(checksum.seal(b"abc")) is not None and checksum.unseal(b"ab") is None
