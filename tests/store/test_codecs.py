"""Codecs: every output.compression round-trips through the loader and through plain h5py."""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

import movmnist as mds
from movmnist.builder import build
from movmnist.config import Config
from movmnist.core.generate import generate
from movmnist.errors import ConfigError
from movmnist.sources import load_pool
from tests.conftest import small_config

# HDF5 filter ids as stored in the file (so a reader knows which plugin it needs).
FILTERS = {"gzip": 1, "lzf": 32000, "zstd": hdf5plugin.ZSTD_ID, "lz4": hdf5plugin.LZ4_ID}


@pytest.mark.parametrize("codec", ["gzip", "lzf", "zstd", "lz4", "none"])
def test_each_codec_round_trips(tmp_path: Path, codec: str) -> None:
    cfg = small_config("splits.train.sequences=0", "splits.val.sequences=0", f"output.compression={codec}")
    data = build(cfg, tmp_path / "d", workers=1).to_data()
    pool = load_pool(cfg.source, cfg.splits.test.pool, cfg.digits.size)
    expect = generate(cfg, pool, "test", np.arange(cfg.splits.test.sequences))
    with mds.open(tmp_path / "d") as ds:
        np.testing.assert_array_equal(ds["test"][:], expect.frames)
        np.testing.assert_array_equal(ds["test"][[3, 0, 12]], expect.frames[[3, 0, 12]])
        np.testing.assert_array_equal(ds["test"].read("positions", slice(None)), expect.positions)
    shard = data["splits"]["test"]["shards"][0]
    with h5py.File(tmp_path / "d" / shard["file"], "r") as f:  # plain h5py; hdf5plugin is imported above
        assert {"frames", "positions", "masks", "boxes", "events"} <= set(f)
        for name in f:  # one codec per shard, the annotations and tables too, then the checksum
            plist = f[name].id.get_create_plist()
            ids = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            assert ids == ([FILTERS[codec]] if codec != "none" else []) + [h5py.h5z.FILTER_FLETCHER32], name
        np.testing.assert_array_equal(f["frames"][:], expect.frames[: shard["sequences"]])


def test_zstd_level_defaults_to_3_and_gzip_keeps_1() -> None:
    assert small_config("output.compression=zstd").output.compression_level == 3
    assert small_config("output.compression=zstd", "output.compression_level=19").output.compression_level == 19
    assert small_config().output.compression_level == 1
    assert Config.from_data({}).to_data()["output"] == {
        "shard_size": 2000,
        "compression": "gzip",
        "compression_level": 1,
    }
    # A config read back from a manifest (level written out) validates to the same config.
    cfg = small_config("output.compression=lz4")
    assert Config.from_data(cfg.to_data()) == cfg


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("output.compression=zstd", "output.compression_level=0"), "within [1, 22] for zstd (got 0)"),
        (("output.compression=gzip", "output.compression_level=10"), "within [0, 9] for gzip (got 10)"),
        (("output.compression_level=23",), "output.compression_level must be <= 22 (got 23)"),
    ],
)
def test_levels_out_of_range_are_refused(overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        small_config(*overrides)
