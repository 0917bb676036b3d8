"""Previews read back with imageio: frame counts, sizes, colour modes, and what --annotate touches."""

from __future__ import annotations

import hashlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.tools import preview
from movmnist.tools.preview import BANNER, CAPTION, CONTACT, CORRUPT, DIGIT_COLOURS, cells, parse_index
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


def _sprite_edges(positions: np.ndarray, shape: tuple[int, ...], scale: int, size: int = 14) -> np.ndarray:
    rows, cols = np.moveaxis(positions.astype(int), -1, 0)
    return _edges(np.stack([cols, rows, np.minimum(cols + size, W), np.minimum(rows + size, H)], axis=-1), shape, scale)


def test_annotate_leaves_a_dataset_without_corruptions_or_collisions_as_before(grey: Path) -> None:
    # The default tiny dataset (wall bounces in `events`, no corrupt_* records): the tiles' sha256
    # that preview drew before corruptions and collisions were drawn (main at 6d86ab2).
    tiles = cells(movmnist.open(grey)["test"], list(range(5)), scale=2, annotate=True)[:, :, : 2 * H]
    assert hashlib.sha256(np.ascontiguousarray(tiles).tobytes()).hexdigest()[:16] == "49e40962daa33a8e"


def test_annotate_draws_blackouts_missing_frames_and_where_jittered_digits_are_drawn(tmp_path: Path) -> None:
    inputs, scale = 3, 2
    split = movmnist.open(
        tiny(
            tmp_path / "d",
            "annotations.boxes=false",
            "annotations.amodal_boxes=false",
            f"corruptions.input_frames={inputs}",
            "corruptions.perceptual.size=10",
            "corruptions.missing.probability=0.5",
            "corruptions.dynamic.sigma=0.5",
        )
    )["test"]
    chosen = list(range(5))
    plain = cells(split, chosen, scale=scale, colour=True)
    full = cells(split, chosen, scale=scale, annotate=True)
    marked = full[:, :, : scale * H]
    blackout, missing = split.read("corrupt_blackout", chosen), split.read("corrupt_missing", chosen)
    drawn = split.read("corrupt_positions", chosen)
    assert missing.any() and not missing.all()
    expected = _sprite_edges(split.read("positions", chosen), marked.shape[:4], scale)  # the clean scene's boxes
    rims = _edges(blackout[:, :, None], (5, inputs, *marked.shape[2:4]), scale)
    expected[:, :inputs] |= rims
    assert (marked[:, :inputs][rims] == CORRUPT).all()
    side = scale * H
    diagonal = np.zeros((side, side), bool)
    diagonal[np.arange(side), np.arange(side)] = diagonal[np.arange(side), side - 1 - np.arange(side)] = True
    i, t = np.nonzero(missing)
    assert (marked[i, t][:, diagonal] == CORRUPT).all()
    expected[i, t] |= diagonal
    dots = _sprite_edges(drawn, (5, inputs, *marked.shape[2:4]), scale)
    dots &= (np.add.outer(np.arange(side), np.arange(side)) % 2 == 0)[None, None]
    dotted = marked[:, :inputs][dots]
    colours = np.vstack([CORRUPT, *DIGIT_COLOURS[:2]])  # a dot, or the blackout or cross drawn over it
    assert (dotted[:, None] == colours[None]).all(axis=-1).any(axis=1).all()
    assert (dotted[:, None] == colours[None, 1:]).all(axis=-1).any()
    expected[:, :inputs] |= dots
    assert not ((marked != plain).any(axis=-1) & ~expected).any()  # nothing else changed
    assert not (marked[:, inputs:] == CORRUPT).all(axis=-1).any()  # the targets carry no corruption marks
    strip = full[:, :, side : side + CAPTION]
    bare = preview._captions(split.read("labels", chosen), marked.shape)
    worded = (strip != bare).any(axis=(2, 3, 4))  # [n, T]: the frames whose strip says "missing"
    np.testing.assert_array_equal(worded, np.pad(missing, ((0, 0), (0, T - inputs))))


def test_annotate_marks_each_collision_midway_between_the_two_digits(tmp_path: Path) -> None:
    scale = 2
    split = movmnist.open(tiny(tmp_path / "d", "motion.preset=elastic", "digits.count=3"))["test"]
    chosen = list(range(5))
    plain = cells(split, chosen, scale=scale, colour=True)
    marked = cells(split, chosen, scale=scale, annotate=True)[:, :, : scale * H]
    events, ink = split.read("events", chosen).astype(int), split.read("amodal_boxes", chosen).astype(int)
    x0, y0, x1, y1 = np.moveaxis(ink, -1, 0)
    boxes = np.stack([np.clip(x0, 0, W), np.clip(y0, 0, H), np.clip(x1, 0, W), np.clip(y1, 0, H)], axis=-1)
    expected = _edges(boxes, marked.shape[:4], scale)
    pairs = 0
    for i, t, k, j in np.ndindex(*events.shape, events.shape[2]):
        if k < j and events[i, t, k] >> (4 + j) & 1:
            assert events[i, t, j] >> (4 + k) & 1  # both digits hold the collision
            centre = (boxes[i, t, k] + boxes[i, t, j]) * scale  # twice the midpoint, (x, y) twice
            r, c = (centre[1] + centre[3]) // 4, (centre[0] + centre[2]) // 4
            plus = np.zeros((scale * H, scale * W), bool)
            plus[max(r - 2 * scale, 0) : r + 2 * scale + 1, c] = plus[r, max(c - 2 * scale, 0) : c + 2 * scale + 1] = (
                True
            )
            assert (marked[i, t][plus] == CONTACT).all()
            expected[i, t] |= plus
            pairs += 1
    assert pairs >= 3
    assert not ((marked != plain).any(axis=-1) & ~expected).any()  # nothing else changed


def test_flow_colours_put_each_direction_on_the_wheel_and_invalid_pixels_in_black() -> None:
    # right, down, left, up (dy, dx; y grows downwards), no motion, half a pixel down but not valid
    flow = np.array([[0, 2], [2, 0], [0, -2], [-2, 0], [0, 0], [0.5, 0]], np.float16).reshape(1, 1, 1, 6, 2)
    valid = np.array([1, 1, 1, 1, 1, 0], bool).reshape(1, 1, 1, 6)
    wheel = preview.flow_colours(flow, valid)
    assert wheel.shape == (1, 2, 1, 6, 3) and not wheel[:, 1].any()  # the last frame has no next one
    expected = [[255, 0, 0], [128, 255, 0], [0, 255, 255], [128, 0, 255], [255, 255, 255], [0, 0, 0]]
    np.testing.assert_array_equal(wheel[0, 0, 0], expected)
    half = preview.flow_colours(flow[..., :1, :] / 2, valid[..., :1])  # 1 px right, below the 1 px floor: full
    np.testing.assert_array_equal(half[0, 0, 0, 0], [255, 0, 0])


def test_annotate_draws_the_flow_under_each_tile_where_stored(tmp_path: Path) -> None:
    split = movmnist.open(tiny(tmp_path / "d", "annotations.flow=true"))["test"]
    marked = cells(split, [0, 1], scale=3, annotate=True)
    assert marked.shape[2] == 3 * H + CAPTION + 3 * H
    strip = marked[:, :, 3 * H + CAPTION :]
    valid = np.repeat(np.repeat(split.read("flow_valid", [0, 1]), 3, axis=2), 3, axis=3)  # [2, T-1, 3H, 3W]
    assert valid.any() and not strip[:, -1].any()
    assert (strip[:, :-1].any(axis=-1) == valid).all()  # coloured exactly where the flow is valid
    flow = split.read("flow", [0, 1]).astype(np.float32)
    moving = np.hypot(flow[..., 0], flow[..., 1]) > 0
    shown = strip[:, :-1, 1::3, 1::3]  # the centre of each upscaled pixel
    white = (shown == 255).all(axis=-1)
    assert (white == (split.read("flow_valid", [0, 1]) & ~moving)).all()  # white: valid and still
    # each moving valid pixel's hue points the flow's way: its dominant channel is that of its direction
    angle = np.degrees(np.arctan2(flow[..., 0], flow[..., 1])) % 360
    lit = split.read("flow_valid", [0, 1]) & moving
    right = lit & ((angle < 30) | (angle > 330))
    assert right.any() or (lit & (np.abs(angle - 180) < 30)).any()
    assert (shown[right][:, 0] == 255).all() and (shown[right][:, 2] < 255).all()
