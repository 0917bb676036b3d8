"""The plan: shard boundaries and names as plain data, and a size estimate that stays honest.

The codec catalogue's `ratio`s feed `movmnist plan`'s estimate; a build of standard-sized
sequences must land within a factor of two of it, for every codec, with and without the
frame-sized masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from movmnist.builder import build, prepare
from movmnist.builder.plan import make_plan, shard_boundaries
from movmnist.config import codecs
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[2]

STANDARD = (
    "canvas.height=64",
    "canvas.width=64",
    "sequence.length=20",
    "digits.size=28",
    "splits.train.sequences=0",
    "splits.val.sequences=0",
    "splits.test.sequences=150",
    "output.shard_size=150",
)


def test_shards_are_full_but_the_last() -> None:
    assert shard_boundaries(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert shard_boundaries(0, 2) == []
    plan = make_plan(small_config(), (14, 14))
    assert plan.filenames == (
        "train-00000-of-00003.h5",
        "train-00001-of-00003.h5",
        "train-00002-of-00003.h5",
        "val-00000-of-00001.h5",
        "test-00000-of-00002.h5",
        "test-00001-of-00002.h5",
    )
    assert [s.first for s in plan.shards[:3]] == [0, 10, 20] and plan.sequences == 48


@pytest.mark.parametrize("masks", [True, False])
@pytest.mark.parametrize("codec", codecs.NAMES)
def test_the_size_estimate_is_within_a_factor_of_two(codec: str, masks: bool, tmp_path: Path) -> None:
    cfg = small_config(*STANDARD, f"output.compression={codec}", f"annotations.masks={str(masks).lower()}")
    plan, _, _ = prepare(cfg)
    written = sum(shard.bytes for shard in build(cfg, tmp_path / "d", workers=1).shards)
    assert 0.5 < written / plan.estimated_bytes < 2, (written, plan.estimated_bytes)


def test_plan_offline_for_a_tfds_set_not_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from movmnist.cli import cli

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "empty"))
    for where in ("movmnist.sources.tfds.fetch", "movmnist.sources.tfds.download.fetch"):
        monkeypatch.setattr(where, None)  # any download attempt fails loudly
    result = CliRunner().invoke(cli, ["plan", str(ROOT / "configs" / "default.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sequences"] == 21_000 and data["estimate"] == "codec ratio" and data["sprite_shape"] == [28, 28]
    text = CliRunner().invoke(cli, ["plan", "--set", "source.name=kmnist", "--set", "splits.train.pool=train[:70000]"])
    assert text.exit_code == 2 and "ends past the source's train split (60000 images)" in text.output
    assert not (tmp_path / "empty").exists()
