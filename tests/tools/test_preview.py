"""Previews read back with imageio: frame counts, sizes, colour modes, and what --annotate touches."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.tools.preview import BANNER, CAPTION, DIGIT_COLOURS, cells, parse_index
from tests.datasets import rgb_copy, tiny

H = W = 40  # the small config's canvas
T = 6


@pytest.fixture(scope="module")
def grey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("preview") / "grey")


@pytest.fixture(scope="module")
def rgb(grey: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rgb_copy(grey, tmp_path_factory.mktemp("preview") / "rgb")


def _run(*args: str) -> bytes:
    result = CliRunner().invoke(cli, ["preview", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def _is_grey(pixels: np.ndarray) -> bool:
    return pixels.ndim == 3 or bool(
        (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    )


def test_gif_grid_frames_size_and_grey_mode(grey: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.gif"
    _run(str(grey), "--gif", str(out), "--rows", "1", "--cols", "2", "--scale", "2", "--fps", "5")
    frames = iio.imread(out, index=None)
    border = 2
    assert frames.shape[:3] == (T, BANNER + (2 * H + 2 * border), 2 * (2 * W + 2 * border))
    assert _is_grey(frames)
    assert iio.immeta(out, index=0)["duration"] == 200
    assert _run(str(grey), "--gif", "-", "--rows", "1", "--cols", "2", "--scale", "2", "--fps", "5") == out.read_bytes()


def test_png_contact_sheet_rows_are_sequences_and_columns_frames(grey: Path) -> None:
    sheet = iio.imread(_run(str(grey), "--png", "-", "--index", "3,1", "--scale", "1"), extension=".png")
    b = 2
    assert sheet.ndim == 2  # a grey dataset gives a grey PNG
    assert sheet.shape == (BANNER + 2 * (H + 2 * b), T * (W + 2 * b))
    frames = movmnist.open(grey)["test"][[3, 1]]
    for row in range(2):
        for t in range(T):
            top, left = BANNER + row * (H + 2 * b) + b, t * (W + 2 * b) + b
            np.testing.assert_array_equal(sheet[top : top + H, left : left + W], frames[row, t])


def test_split_at_colours_the_borders_of_input_and_target(grey: Path) -> None:
    sheet = iio.imread(
        _run(str(grey), "--png", "-", "--rows", "1", "--scale", "1", "--split-at", "2"), extension=".png"
    )
    assert sheet.ndim == 3 and sheet.shape[2] == 3
    row = BANNER  # the top border line of the sequence row
    cell = W + 4
    assert tuple(sheet[row, 1 * cell + 5]) == (40, 190, 70)  # frame 1: input
    assert tuple(sheet[row, 2 * cell + 5]) == (235, 95, 30)  # frame 2: target
    bad = CliRunner().invoke(cli, ["preview", str(grey), "--png", "-", "--split-at", str(T)])
    assert bad.exit_code == 2 and "--split-at must be in [1, 5]" in bad.output


def _edges(boxes: np.ndarray, shape: tuple[int, ...], scale: int) -> np.ndarray:
    """[n, T, H*scale, W*scale] bool: the 1-px rim of each (x0, y0, x1, y1) box."""
    edges = np.zeros(shape, bool)
    for i, t, k in np.ndindex(*boxes.shape[:3]):
        left, top, right, bottom = (int(v) * scale for v in boxes[i, t, k])
        if bottom > top:
            edges[i, t, top, left:right] = edges[i, t, bottom - 1, left:right] = True
            edges[i, t, top:bottom, left] = edges[i, t, top:bottom, right - 1] = True
    return edges


@pytest.mark.parametrize("stored", [True, False])
def test_annotate_changes_pixels_only_at_box_edges(grey: Path, tmp_path: Path, stored: bool) -> None:
    # With ink boxes stored (the default) those are drawn; without, the sprite squares.
    path = grey if stored else tiny(tmp_path / "d", "annotations.boxes=false", "annotations.amodal_boxes=false")
    split = movmnist.open(path)["test"]
    plain = cells(split, [0, 4], scale=2, colour=True)
    marked = cells(split, [0, 4], scale=2, annotate=True)
    assert marked.shape == (2, T, 2 * H + CAPTION, 2 * W, 3)
    changed = (marked[:, :, : 2 * H] != plain).any(axis=-1)
    # The boxes, read independently of preview: x0, y0, x1, y1 ink boxes, or positions + the 14 px digit size.
    if stored:
        x0, y0, x1, y1 = np.moveaxis(split.read("amodal_boxes", [0, 4]).astype(int), -1, 0)
        boxes = np.stack([np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)], axis=-1)
    else:
        r, c = np.moveaxis(split.read("positions", [0, 4]).astype(int), -1, 0)
        boxes = np.stack([c, r, np.minimum(c + 14, W), np.minimum(r + 14, H)], axis=-1)
    edges = _edges(boxes, changed.shape, 2)
    assert changed.any()
    assert not (changed & ~edges).any()
    assert marked[:, :, 2 * H :].any()  # the caption strip holds the frame number and labels


def test_annotate_draws_each_visible_track_point_in_its_digits_colour(tmp_path: Path) -> None:
    off = ("annotations.boxes=false", "annotations.amodal_boxes=false")
    split = movmnist.open(tiny(tmp_path / "d", "annotations.tracks=8", *off))["test"]
    plain = cells(split, [0, 1], scale=3, colour=True)
    marked = cells(split, [0, 1], scale=3, annotate=True)[:, :, : 3 * H]
    tracks, occluded = split.read("tracks", [0, 1]), split.read("occluded", [0, 1])
    count = (split.read("labels", [0, 1]) >= 0).sum(axis=1)
    i, p, t = np.nonzero(~occluded)
    assert len(i) and occluded.shape == (2, 8, T)
    r, c = (np.rint(tracks[i, p, t]).astype(int) * 3 + 1).T  # the centre of the upscaled pixel
    np.testing.assert_array_equal(marked[i, t, r, c], np.asarray(DIGIT_COLOURS)[p % count[i]])
    dots = np.zeros(marked.shape[:4], bool)
    dots[i, t, r, c] = True
    rows, cols = np.moveaxis(split.read("positions", [0, 1]).astype(int), -1, 0)
    edges = _edges(np.stack([cols, rows, np.minimum(cols + 14, W), np.minimum(rows + 14, H)], axis=-1), dots.shape, 3)
    assert not ((marked != plain).any(axis=-1) & ~edges & ~dots).any()  # nothing else changed


def test_rgb_dataset_previews_in_colour(rgb: Path) -> None:
    gif = iio.imread(
        _run(str(rgb), "--gif", "-", "--rows", "1", "--cols", "1", "--scale", "1"), index=None, extension=".gif"
    )
    assert gif.shape == (T, BANNER + H + 4, W + 4, 3) and not _is_grey(gif)
    png = iio.imread(_run(str(rgb), "--png", "-", "--index", "2", "--scale", "1"), extension=".png")
    assert png.ndim == 3 and png.shape[2] == 3
    frames = movmnist.open(rgb)["test"][2]
    np.testing.assert_array_equal(png[BANNER + 2 : BANNER + 2 + H, 2 : 2 + W], frames[0])


def test_index_parsing_and_errors(grey: Path) -> None:
    assert parse_index("0,5,8-10") == [0, 5, 8, 9, 10]
    runner = CliRunner()
    out_of_range = runner.invoke(cli, ["preview", str(grey), "--png", "-", "--index", "7"])
    assert out_of_range.exit_code == 2 and "--index 7 is out of range: the split has 5 sequences" in out_of_range.output
    garbled = runner.invoke(cli, ["preview", str(grey), "--png", "-", "--index", "a-b"])
    assert garbled.exit_code == 2 and "--index expects numbers and ranges" in garbled.output
    both = runner.invoke(cli, ["preview", str(grey), "--png", "-", "--gif", "x.gif"])
    assert both.exit_code == 2 and "exactly one of --gif OUT or --png OUT" in both.output
    crowded = runner.invoke(cli, ["preview", str(grey), "--gif", "-", "--index", "0-4", "--rows", "1", "--cols", "2"])
    assert crowded.exit_code == 2 and "raise --rows/--cols" in crowded.output


def test_annotate_writes_each_caption_under_its_tile_only_where_stored(grey: Path, tmp_path: Path) -> None:
    split = movmnist.open(tiny(tmp_path / "d", "annotations.captions=true"))["test"]
    marked = cells(split, [0, 1], scale=3, annotate=True)
    extra = marked.shape[2] - 3 * H - CAPTION
    assert extra > 0 and extra % CAPTION == 0  # whole lines of text
    below = marked[:, :, 3 * H + CAPTION :]
    assert below.any(axis=(2, 3, 4)).all() and (below == below[:, :1]).all()  # every frame, the same text
    assert (below[0] != below[1]).any()  # each sequence its own caption
    assert cells(movmnist.open(grey)["test"], [0], scale=3, annotate=True).shape[2] == 3 * H + CAPTION
