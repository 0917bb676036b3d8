"""The dataset card that build writes: README.md with an embedded preview GIF."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import pytest

from movmnist.builder import build
from movmnist.errors import OutputError
from tests.conftest import small_config
from tests.datasets import tiny


def test_build_writes_a_card_with_a_preview(tmp_path: Path) -> None:
    out = tiny(tmp_path / "mm")
    text = (out / "README.md").read_text()
    assert text.startswith("---\npretty_name: mm\n")
    assert "![The first sequences of the test split](preview.gif)" in text
    assert "| test | 5 | 30 | 2 |" in text and "| train | 4 | 24 | 2 |" in text
    assert "**The digits are synthetic**" in text
    assert "| `frames` | [N, 6, 40, 40] | uint8 | the videos |" in text
    assert "| `positions` | [N, 6, 2, 2] | int16 |" in text
    assert 'movmnist.open("mm")["test"]' in text and "with_input_frames(3)" in text
    assert "```yaml\nseed: 0\ncanvas:\n  height: 40\n" in text
    assert "motion rule: the bounce of Srivastava et al. 2015" in text
    assert "2 synthetic digits bouncing" in text and "handwritten" not in text
    assert "## License and citation" in text and "no third-party images" in text
    assert "srivastava2015unsupervised" in text and "lecun1998gradient" not in text
    assert "not the `mnist_test_seq.npy` of Srivastava et al." in text
    assert "import hdf5plugin" not in text  # gzip: any HDF5 reader
    gif = iio.imread(out / "preview.gif", index=None)
    assert gif.shape[0] == 6  # one GIF frame per sequence frame
    # The manifest is still written last and lists only shards; the card files are ours to replace.
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(s["file"].endswith(".h5") for sp in manifest["splits"].values() for s in sp["shards"])
    build(small_config("seed=5", "splits.train.sequences=0", "splits.val.sequences=0"), out, workers=1, overwrite=True)
    assert "| test | 16 |" in (out / "README.md").read_text() and "| train |" not in (out / "README.md").read_text()


def test_a_lone_readme_is_not_taken_for_a_dataset(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "README.md").write_text("my notes")
    with pytest.raises(OutputError, match="is not empty and is not a movmnist dataset"):
        build(small_config(), mine, workers=1, overwrite=True)
    assert (mine / "README.md").read_text() == "my notes"


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_a_plugin_codecs_card_says_import_hdf5plugin_and_hdf5_plugin_path(tmp_path: Path, codec: str) -> None:
    cfg = small_config(f"output.compression={codec}", "splits.train.sequences=0", "splits.val.sequences=0")
    build(cfg, tmp_path / "d", workers=1)
    text = (tmp_path / "d" / "README.md").read_text()
    assert f"import hdf5plugin                # registers the {codec} filter" in text
    assert "HDF5_PLUGIN_PATH=$(python -c" in text
