"""The shard schema is the one list of datasets: the config's switches, the core's arrays and
what a build writes all agree with it."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import h5py

from movmnist.builder import build
from movmnist.config import Annotations
from movmnist.core.generate import Chunk, extras
from movmnist.store.schema import BASIC, OPTIONAL, SCHEMA, TABLES, Layout
from tests.conftest import small_config


def test_every_config_switch_and_every_chunk_array_is_a_dataset_of_the_schema() -> None:
    assert set(Annotations.model_fields) <= set(OPTIONAL) | set(TABLES)
    assert [f.name for f in fields(Chunk)] == list(SCHEMA)
    assert BASIC == ("labels", "positions", "source_index")


def test_the_layout_resolves_the_symbols() -> None:
    grey = Layout(sequence=(20, 64, 48), digits=3, extras=("masks", "events", "z_order"))
    assert grey.shapes() == {
        "frames": ((20, 64, 48), "uint8"),
        "labels": ((3,), "int16"),
        "positions": ((20, 3, 2), "int16"),
        "source_index": ((3,), "int32"),
        "masks": ((20, 64, 48), "uint8"),
        "z_order": ((3,), "int8"),
        "events": ((20, 3), "uint8"),
    }
    assert grey.tables() == {}  # every dataset has the sequence axis first
    colour = Layout(sequence=(5, 8, 8, 3), digits=1, extras=("masks",))
    assert colour.shapes()["frames"] == ((5, 8, 8, 3), "uint8") and colour.shapes()["masks"] == ((5, 8, 8), "uint8")


def test_a_build_writes_what_the_layout_says(tmp_path: Path) -> None:
    cfg = small_config("splits.val.sequences=0", "splits.train.sequences=0", "render.combine=over")
    build(cfg, tmp_path / "d", workers=1)
    layout = Layout(sequence=(6, 40, 40), digits=2, extras=extras(cfg))
    with h5py.File(tmp_path / "d" / "test-00000-of-00002.h5") as f:
        held = {name: (f[name].shape[1:], str(f[name].dtype)) for name in f}
        chunks = {name: f[name].chunks for name in f}
    assert held == {**layout.shapes(), **layout.tables()}
    assert chunks["frames"] == (1, 6, 40, 40) and chunks["masks"] == (1, 6, 40, 40)
    assert chunks["labels"] == (10, 2) and chunks["events"] == (10, 6, 2)
