"""Keyed randomness: the Python-integer path for few draws gives numpy's bits; epochs key apart."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from movmnist.core import rng


def _numpy_bits(keyed: rng.Keyed, idx: np.ndarray, stream: int, n: int) -> np.ndarray:
    small, rng._SMALL = rng._SMALL, -1  # every call through the numpy path
    try:
        return keyed.bits(idx, stream, n)
    finally:
        rng._SMALL = small


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**63),
    split=st.sampled_from(["train", "val", "test"]),
    epoch=st.integers(0, 1000),
    idx=st.lists(st.integers(0, 2**40), min_size=0, max_size=4),
    stream=st.integers(0, 40),
    n=st.integers(1, 4),
)
def test_few_draws_in_python_integers_are_numpys_bits(
    seed: int, split: str, epoch: int, idx: list[int], stream: int, n: int
) -> None:
    keyed = rng.Keyed(seed, split, epoch)
    index = np.array(idx, dtype=np.int64)
    few = keyed._few_bits(index.astype(np.uint64), stream, n)
    assert few.dtype == np.uint64 and few.shape == (len(idx), n)
    np.testing.assert_array_equal(few, _numpy_bits(keyed, index, stream, n))
    np.testing.assert_array_equal(keyed.bits(index, stream, n), few)  # the threshold's choice


def test_epochs_key_apart_and_epoch_0_is_the_build_key() -> None:
    keys = {e: int(rng.Keyed(7, "train", e).key) for e in range(4)}
    assert len(set(keys.values())) == 4
    assert keys[0] == int(rng.Keyed(7, "train").key)
    assert int(rng.Keyed(7, "test", 1).key) not in keys.values()
