"""The image-folder source (source.kind: images): real PNG and JPEG files in a temporary folder.

Files are taken in name order, grey or RGB as saved (grey ones made RGB beside RGB ones), PNGs
exactly, every label 0; subfolders are splits; a folder that is changed is read again; each
problem is one line naming the file and the fix, exit status 2 from the CLI. As a background
source, each frame is the per-channel max of the digits and the image its index names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import movmnist
from movmnist.cli import cli
from movmnist.config import Config, Source
from movmnist.core.background import resize_cubic
from movmnist.errors import ConfigError, SourceError
from movmnist.sources import open_source


def _save(path: Path, array: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _pictures(n: int, shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    g = np.random.default_rng(seed)
    return [g.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def _open(path: Path) -> object:
    return open_source(Source(kind="images", path=str(path)))


def test_a_flat_folder_is_the_split_all_in_name_order(tmp_path: Path) -> None:
    grey = _pictures(3, (12, 10))
    for name, picture in zip(("b.png", "a.PNG", "c.png"), grey, strict=True):
        _save(tmp_path / name, picture)
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden.png", grey[0])
    source = open_source(Source(kind="images", path=str(tmp_path)))
    assert source.split_names() == ("all",)
    split = source.load("all")
    assert split.images.shape == (3, 12, 10) and split.images.dtype == np.uint8
    assert np.array_equal(split.images, np.stack([grey[1], grey[0], grey[2]]))  # a.PNG, b.png, c.png
    assert (split.labels == 0).all() and not split.images.flags.writeable
    described = source.describe()
    assert described["kind"] == "images" and described["splits"]["all"]["count"] == 3
    assert source.load("all") is split  # decoded once
    _save(tmp_path / "a.PNG", grey[2])  # changed: read again
    again = open_source(Source(kind="images", path=str(tmp_path)))
    assert np.array_equal(again.load("all").images[0], grey[2]) and again.describe() != described


def test_subfolders_are_splits_and_grey_beside_rgb_is_made_rgb(tmp_path: Path) -> None:
    rgb = _pictures(2, (8, 8, 3), seed=1)
    _save(tmp_path / "train" / "0.png", rgb[0])
    _save(tmp_path / "train" / "1.png", rgb[1])
    grey = _save(tmp_path / "train" / "2.png", _pictures(1, (8, 8), seed=2)[0])
    jpeg = _pictures(1, (8, 8, 3), seed=3)[0]
    _save(tmp_path / "test" / "x.jpg", jpeg)
    (tmp_path / "empty").mkdir()
    source = open_source(Source(kind="images", path=str(tmp_path)))
    assert source.split_names() == ("test", "train")  # folders without images are no split
    train = source.load("train").images
    assert train.shape == (3, 8, 8, 3)
    assert np.array_equal(train[:2], np.stack(rgb)) and np.array_equal(train[2], np.repeat(grey[..., None], 3, -1))
    with Image.open(tmp_path / "test" / "x.jpg") as decoded:
        assert np.array_equal(source.load("test").images[0], np.asarray(decoded.convert("RGB")))
    with pytest.raises(SourceError, match=r"has no split 'all'; its splits are: test, train$"):
        source.load("all")
    _save(tmp_path / "test" / "x.jpg", _pictures(1, (9, 8, 3))[0])
    with pytest.raises(SourceError, match=r"different shapes \(test 9x8, train 8x8\);"):
        open_source(Source(kind="images", path=str(tmp_path)))


def _rgba(path: Path) -> None:
    _save(path, np.zeros((8, 8, 4), np.uint8))


def _deep(path: Path) -> None:
    Image.fromarray(np.zeros((8, 8), np.uint16) + 300).save(path)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: None, "holds no PNG or JPEG images (*.png, *.jpg, *.jpeg), directly or in subfolders;"),
        (lambda d: (d / "bad.png").write_bytes(b"not a png"), "cannot read "),
        (lambda d: _save(d / "big.png", np.zeros((9, 8), np.uint8)), "big.png is 9x8 but a.png is 8x8; every image"),
        (
            lambda d: _rgba(d / "b.png"),
            "b.png has an alpha channel (mode RGBA); drop it or composite the image onto black, then save",
        ),
        (lambda d: _deep(d / "b.png"), "b.png has 16- or 32-bit pixels (mode I;16); save it as 8-bit grey or RGB"),
        (lambda d: _save(d / "s" / "c.png", np.zeros((8, 8), np.uint8)), "holds images and also subfolders of images"),
    ],
)
def test_problems_are_one_line_and_exit_2(tmp_path: Path, make: Callable[[Path], object], says: str) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    if "no PNG" not in says:
        _save(folder / "a.png", np.zeros((8, 8), np.uint8))
    make(folder)
    sets = ["source.kind=images", f"source.path={folder}", "splits.train.pool=all", "splits.val.sequences=0"]
    sets += ["splits.test.sequences=0", "digits.size=8"]
    result = CliRunner().invoke(cli, ["build", "-o", str(tmp_path / "d"), "-q", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_file_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"does not exist; point it at a folder of PNG or JPEG images$"):
        _open(tmp_path / "nowhere")
    (tmp_path / "f.png").write_bytes(b"")
    with pytest.raises(SourceError, match="is a file, but kind 'images' needs a folder"):
        _open(tmp_path / "f.png")
    with pytest.raises(ConfigError, match=r"^source.path is required for kind 'images'; set source.path=DIR$"):
        Config.from_data({"source": {"kind": "images"}})


def test_an_image_folder_as_the_background_source(tmp_path: Path) -> None:
    folder = tmp_path / "backgrounds"
    pictures = [_save(folder / f"{i:02d}.png", p) for i, p in enumerate(_pictures(5, (20, 20, 3), seed=4))]
    sets = ["source.kind=synthetic", "canvas.height=32", "canvas.width=32", "sequence.length=4", "digits.size=14"]
    sets += ["splits.train.sequences=0", "splits.val.sequences=0", "splits.test.sequences=6"]
    sets += ["render.background.kind=image", "render.background.source.kind=images"]
    sets += [f"render.background.source.path={folder}", "render.background.pool=all[1:]"]
    out = tmp_path / "d"
    result = CliRunner().invoke(cli, ["build", "-o", str(out), "-q", "-j", "1", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 0, result.output
    with movmnist.open(out) as ds:
        frames = ds["test"][:]
        index = ds["test"].read("background_index", slice(None))
    assert frames.shape == (6, 4, 32, 32, 3) and index.min() >= 1 and index.max() <= 4
    below = resize_cubic(np.stack(pictures)[index], (32, 32))[:, None]
    assert (frames >= below).all() and (frames == below).mean() > 0.5
