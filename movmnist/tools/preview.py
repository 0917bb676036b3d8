"""Previews: animated GIF grids and PNG contact sheets read back from the shards.

The only owner of imageio. Pictures are built in three steps, each a small function:
`cells` turns sequences into upscaled (optionally annotated) tiles, `frame_cells` puts a
border round every tile (grey, or input/target colours with `split_at`), and `grid` or
`sheet` arranges them: a grid of R x C sequences per GIF frame, or a contact sheet with
one row per sequence and one column per frame.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from movmnist.core.annotate import WALLS
from movmnist.errors import ConfigError
from movmnist.read.dataset import Dataset, Split
from movmnist.text import cut

BANNER = 12  # pixels of title strip
CAPTION = 11  # pixels of caption strip under each tile with --annotate (frame number, labels)
GREY = 96  # border and empty cells: mid-grey, so black digits' edges stay visible
INPUT = (40, 190, 70)  # border of input frames (t < split_at)
TARGET = (235, 95, 30)  # border of target frames (t >= split_at)
DIGIT_COLOURS = ((255, 60, 60), (60, 160, 255), (255, 210, 0), (0, 220, 140), (210, 90, 255), (255, 140, 200))
CORRUPT = (0, 255, 255)  # --annotate: blackout outlines, the cross over a missing frame, its word in the strip
CONTACT = (255, 0, 255)  # --annotate: the plus where two digits collided


def pick(length: int, index: Sequence[int] | None, count: int) -> list[int]:
    """The sequences to show: `index` (checked against `length`), else the first `count`."""
    if index is None:
        return list(range(min(count, length)))
    bad = [i for i in index if not -length <= i < length]
    if bad:
        raise ConfigError(f"--index {bad[0]} is out of range: the split has {length} sequences (0..{length - 1})")
    return [i % length for i in index]


MAX_SHOWN = 32 * 32  # the largest grid (--rows x --cols)


def parse_index(text: str) -> list[int]:
    """'0,5,8-11' -> [0, 5, 8, 9, 10, 11]; ConfigError on anything else, or for more than a preview
    can show (`MAX_SHOWN`), counted before any list is made (0-999999999 would take gigabytes)."""
    out: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            span = range(int(lo), int(hi) + 1) if dash and lo else range(int(part), int(part) + 1)
        except ValueError:  # also an integer of thousands of digits
            raise ConfigError(f"--index expects numbers and ranges like 0,5,8-11 (got {cut(text)!r})") from None
        if len(out) + max(0, span.stop - span.start) > MAX_SHOWN:  # not len(): it overflows past 2**63
            raise ConfigError(f"--index names more than {MAX_SHOWN} sequences, the most a preview shows; name fewer")
        out.extend(span)
    return out


def _label_font() -> Any:
    from PIL import ImageFont

    return ImageFont.load_default()


def cells(
    split: Split, indices: Sequence[int], scale: int = 3, annotate: bool = False, colour: bool = False
) -> np.ndarray:
    """Sequences as tiles: [n, T, H*scale (+CAPTION), W*scale(, 3)] uint8.

    colour: RGB output (grey frames repeated into three channels); RGB datasets are always
    colour. annotate: each digit's box outline (1 px, inside the box, a colour per digit
    slot; the stored ink box when the shards hold one, else the sprite square) drawn on
    the frame, and a strip under it with the frame number and the labels in their boxes'
    colours, and under that, where the shards hold `captions`, the sequence's caption wrapped to
    the tile's width (the same in every frame; as many lines as the longest caption needs);
    where the shards hold `tracks`, each visible point as one pixel in its digit's colour at
    the centre of its upscaled pixel (occluded points are not drawn). Where the shards hold
    corruption records (`corrupt_*`), on the input frames they cover: the outline of each
    perceptual blackout in CORRUPT; a missing frame crossed by both diagonals in CORRUPT and
    "missing" in its strip; under `dynamic`, each digit's sprite square where it is drawn
    (`corrupt_positions`) dotted in its colour (the boxes stay those of the clean scene).
    Where `events` holds collisions (bit 4 + j), a plus in CONTACT of 2 * scale + 1 pixels
    midway between the centres of the two digits' boxes in the frame after the contact. The
    frame is otherwise untouched. Where the shards hold `flow`, under the strip a tile of the
    flow from each frame to the next on the colour wheel (`flow_colours`; the last frame's black).
    """
    frames = split[list(indices)] if len(indices) else np.zeros((0, *split.shape[1:]), np.uint8)
    rgb = colour or annotate or frames.ndim == 5
    if rgb and frames.ndim == 4:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    tiles = np.repeat(np.repeat(frames, scale, axis=2), scale, axis=3)
    if not annotate or not len(indices):
        return np.ascontiguousarray(tiles)
    boxes = split.digit_boxes(list(indices)) * scale  # [n, T, K, 4]
    labels = split.read("labels", list(indices))  # [n, K]
    for (i, t, k), (left, top, right, bottom) in _present(boxes):
        _outline(tiles[i, t], left, top, right, bottom, DIGIT_COLOURS[k % len(DIGIT_COLOURS)])
    names = split.annotation_names
    if "tracks" in names:
        _points(tiles, split.read("tracks", list(indices)), split.read("occluded", list(indices)), labels, scale)
    missing = split.read("corrupt_missing", list(indices)) if "corrupt_missing" in names else None
    if "corrupt_positions" in names and split.sprite is not None:
        _drawn_at(tiles, split.read("corrupt_positions", list(indices)), split.sprite, scale)
    if "corrupt_blackout" in names:
        _blackouts(tiles, split.read("corrupt_blackout", list(indices)), scale)
    if missing is not None:
        _crosses(tiles, missing)
    if "events" in names:
        _contacts(tiles, split.read("events", list(indices)), boxes, scale)
    strips = [tiles, _captions(labels, tiles.shape, missing)]
    if "flow" in names:
        wheel = flow_colours(split.read("flow", list(indices)), split.read("flow_valid", list(indices)))
        strips.append(np.repeat(np.repeat(wheel, scale, axis=2), scale, axis=3))
    if "captions" in names:
        texts = [bytes(c).decode("ascii") for c in split.read("captions", list(indices))]
        text = _sentences(texts, tiles.shape[3])[:, None]  # [n, 1, rows, width, 3]: every frame the same
        strips.append(np.broadcast_to(text, (text.shape[0], tiles.shape[1], *text.shape[2:])))
    return np.concatenate(strips, axis=2)


def flow_colours(flow: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`flow` [n, T-1, H, W, 2] (dy, dx) on the colour wheel: [n, T, H, W, 3] uint8.

    Hue is the direction (red: right, yellow-green: down, cyan: left, violet: up; y grows
    downwards), saturation the length against the longest valid vector shown (at least 1 px):
    white is no motion. Pixels where `flow_valid` is false (background, occluded targets) and
    the last frame, which has no next one, are black.
    """
    dy, dx = flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32)
    length = np.hypot(dy, dx)
    longest = max(1.0, float(length[valid].max())) if valid.any() else 1.0
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    saturation = np.minimum(length / longest, 1.0)
    # HSV (value 1) to RGB: channel n (R 5, G 3, B 1) is 1 - s * max(0, min(k, 4 - k, 1)), k = (n + 6h) mod 6.
    k = (np.array([5.0, 3.0, 1.0], np.float32) + hue[..., None] * 6) % 6
    rgb = 1 - saturation[..., None] * np.clip(np.minimum(k, 4 - k), 0, 1)
    shown = np.where(valid[..., None], np.rint(255 * rgb), 0).astype(np.uint8)
    last = np.zeros_like(shown[:, :1])
    return np.concatenate([shown, last], axis=1)


def _points(tiles: np.ndarray, tracks: np.ndarray, occluded: np.ndarray, labels: np.ndarray, scale: int) -> None:
    """Mark each visible point of `tracks` [n, P, T, 2] on `tiles` [n, T, H*scale, W*scale, 3], in
    place: point j follows digit slot j mod the sequence's digit count (core.tracks)."""
    count = np.maximum((labels >= 0).sum(axis=1), 1)  # [n]
    slot = np.arange(tracks.shape[1])[None, :] % count[:, None]  # [n, P]
    i, p, t = np.nonzero(~occluded)
    cell = np.rint(tracks[i, p, t]).astype(np.int64) * scale + scale // 2
    palette = np.asarray(DIGIT_COLOURS, dtype=np.uint8)
    tiles[i, t, cell[:, 0], cell[:, 1]] = palette[slot[i, p] % len(palette)]


def _outline(tile: np.ndarray, left: int, top: int, right: int, bottom: int, colour: tuple[int, int, int]) -> None:
    """A 1-px outline just inside the box [top, bottom) x [left, right) of one tile, in place."""
    tile[top, left:right] = colour
    tile[bottom - 1, left:right] = colour
    tile[top:bottom, left] = colour
    tile[top:bottom, right - 1] = colour


def _blackouts(tiles: np.ndarray, boxes: np.ndarray, scale: int) -> None:
    """Outline each perceptual blackout `corrupt_blackout` [n, I, 4] (x0, y0, x1, y1) on input frame t < I."""
    for i, t in np.ndindex(*boxes.shape[:2]):
        left, top, right, bottom = (int(v) * scale for v in boxes[i, t])
        if right > left and bottom > top:
            _outline(tiles[i, t], left, top, right, bottom, CORRUPT)


def _crosses(tiles: np.ndarray, missing: np.ndarray) -> None:
    """Cross each input frame that `corrupt_missing` [n, I] marks by both of its diagonals."""
    h, w = tiles.shape[2:4]
    steps = np.arange(max(h, w))
    rows, cols = steps * (h - 1) // max(len(steps) - 1, 1), steps * (w - 1) // max(len(steps) - 1, 1)
    for i, t in zip(*np.nonzero(missing), strict=True):
        tiles[i, t, rows, cols] = CORRUPT
        tiles[i, t, rows, w - 1 - cols] = CORRUPT


def _drawn_at(tiles: np.ndarray, positions: np.ndarray, sprite: tuple[int, int], scale: int) -> None:
    """Dot, on every other pixel in its digit's colour, the rim of the sprite square each digit is
    drawn at on input frame t < I (`corrupt_positions` [n, I, K, 2] top-left (row, col), -1 if
    absent); only the part of the rim on the canvas."""
    h, w = tiles.shape[2:4]
    for i, t, k in zip(*np.nonzero(positions[..., 0] >= 0), strict=True):
        rows, cols = _rim(int(positions[i, t, k, 0]) * scale, int(positions[i, t, k, 1]) * scale, sprite, scale)
        keep = ((rows + cols) % 2 == 0) & (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        tiles[i, t, rows[keep], cols[keep]] = DIGIT_COLOURS[k % len(DIGIT_COLOURS)]


def _rim(top: int, left: int, sprite: tuple[int, int], scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the 1-px rim just inside the upscaled sprite square at (top, left), unclipped."""
    bottom, right = top + sprite[0] * scale - 1, left + sprite[1] * scale - 1
    across, down = np.arange(left, right + 1), np.arange(top, bottom + 1)
    rows = np.concatenate([np.full_like(across, top), np.full_like(across, bottom), down, down])
    cols = np.concatenate([across, across, np.full_like(down, left), np.full_like(down, right)])
    return rows, cols


def _contacts(tiles: np.ndarray, events: np.ndarray, boxes: np.ndarray, scale: int) -> None:
    """A plus in CONTACT midway between the centres of the boxes [n, T, K, 4] (upscaled) of two
    digits in frame t where `events` [n, T, K] has bit 4 + j in slot k < j (they collided right
    before frame t)."""
    h, w = tiles.shape[2:4]
    arm = np.arange(-2 * scale, 2 * scale + 1)
    bits = events.astype(np.uint64)
    for j in range(1, events.shape[2]):
        hit = ((bits[:, :, :j] >> np.uint64(len(WALLS) + j)) & np.uint64(1)).astype(bool)  # slot k < j met j
        for i, t, k in zip(*np.nonzero(hit), strict=True):
            a, b = boxes[i, t, k], boxes[i, t, j]
            if a[0] < 0 or b[0] < 0:  # either is off the canvas
                continue
            r = (int(a[1] + a[3]) + int(b[1] + b[3])) // 4
            c = (int(a[0] + a[2]) + int(b[0] + b[2])) // 4
            tiles[i, t, np.clip(r + arm, 0, h - 1), c] = CONTACT
            tiles[i, t, r, np.clip(c + arm, 0, w - 1)] = CONTACT


def _present(boxes: np.ndarray) -> list[tuple[tuple[int, int, int], np.ndarray]]:
    where = np.argwhere(boxes[..., 0] >= 0)
    return [((int(i), int(t), int(k)), boxes[i, t, k]) for i, t, k in where]


def _captions(labels: np.ndarray, shape: tuple[int, ...], missing: np.ndarray | None = None) -> np.ndarray:
    """[n, T, CAPTION, width, 3]: 't=3' in white, then each present digit's label in its colour,
    then 'missing' in CORRUPT on the input frames that `missing` [n, I] marks."""
    from PIL import Image, ImageDraw

    n, t, _, width = shape[:4]
    font = _label_font()
    out = np.zeros((n, t, CAPTION, width, 3), np.uint8)
    for i in range(n):
        for f in range(t):
            strip = Image.new("RGB", (width, CAPTION))
            draw = ImageDraw.Draw(strip)
            text = f"t={f}"
            draw.text((1, 0), text, fill=(255, 255, 255), font=font)
            x = 1 + draw.textlength(text + " ", font=font)
            for k, label in enumerate(labels[i]):
                if label >= 0:
                    draw.text((x, 0), str(label), fill=DIGIT_COLOURS[k % len(DIGIT_COLOURS)], font=font)
                    x += draw.textlength(f"{label} ", font=font)
            if missing is not None and f < missing.shape[1] and missing[i, f]:
                draw.text((x, 0), "missing", fill=CORRUPT, font=font)
            out[i, f] = np.asarray(strip)
    return out


def _sentences(texts: list[str], width: int) -> np.ndarray:
    """[n, lines * CAPTION, width, 3]: each sequence's caption (core.captions) in white, wrapped at
    spaces to the tile's width; as many lines as the longest needs (a word wider than the tile overflows)."""
    from PIL import Image, ImageDraw

    font = _label_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    wrapped = []
    for text in texts:
        lines = [""]
        for word in text.split():
            joined = f"{lines[-1]} {word}".strip()
            if lines[-1] and measure.textlength(joined, font=font) > width - 2:
                lines.append(word)
            else:
                lines[-1] = joined
        wrapped.append(lines)
    rows = max(len(lines) for lines in wrapped) * CAPTION
    out = np.zeros((len(texts), rows, width, 3), np.uint8)
    for i, lines in enumerate(wrapped):
        strip = Image.new("RGB", (width, rows))
        draw = ImageDraw.Draw(strip)
        for line_no, line in enumerate(lines):
            draw.text((1, line_no * CAPTION), line, fill=(255, 255, 255), font=font)
        out[i] = np.asarray(strip)
    return out


def frame_cells(tiles: np.ndarray, border: int, split_at: int | None = None) -> np.ndarray:
    """Put a `border`-pixel frame round every tile: grey, or INPUT for t < split_at and TARGET after.

    tiles: [n, T, h, w(, 3)] -> [n, T, h + 2*border, w + 2*border(, 3)].
    """
    n, t, h, w = tiles.shape[:4]
    out = np.empty((n, t, h + 2 * border, w + 2 * border, *tiles.shape[4:]), np.uint8)
    if split_at is None:
        out[...] = GREY
    else:
        out[:, :split_at] = INPUT
        out[:, split_at:] = TARGET
    out[:, :, border : border + h, border : border + w] = tiles
    return out


def grid(framed: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Tile framed sequences into one video: [n, T, h, w(, C)] -> [T, rows*h, cols*w(, C)], empty cells grey."""
    n, t, h, w = framed.shape[:4]
    out = np.full((t, rows * h, cols * w, *framed.shape[4:]), GREY, dtype=np.uint8)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        out[:, r * h : (r + 1) * h, c * w : (c + 1) * w] = framed[i]
    return out


def sheet(framed: np.ndarray) -> np.ndarray:
    """A contact sheet: [n, T, h, w(, C)] -> [n*h, T*w(, C)], sequences as rows, frames as columns."""
    n, t, h, w = framed.shape[:4]
    return framed.swapaxes(1, 2).reshape(n * h, t * w, *framed.shape[4:])


def banner(picture: np.ndarray, text: str, split_at: int | None = None, video: bool = True) -> np.ndarray:
    """Prepend a title strip with `text` (Pillow's built-in font) to a picture or to every frame of a video.

    With split_at, the strip ends with a legend: 'input t<K' and 'target' in the border colours.
    """
    from PIL import Image, ImageDraw

    width = picture.shape[2] if video else picture.shape[1]
    rgb = picture.ndim == (4 if video else 3)
    strip = Image.new("RGB" if rgb else "L", (width, BANNER), 0)
    draw = ImageDraw.Draw(strip)
    white = (255, 255, 255) if rgb else 255
    font = _label_font()
    draw.text((2, 0), text, fill=white, font=font)
    if split_at is not None and rgb:
        x = 2 + draw.textlength(text + "  ", font=font)
        draw.text((x, 0), f"input t<{split_at}", fill=INPUT, font=font)
        x += draw.textlength(f"input t<{split_at}  ", font=font)
        draw.text((x, 0), "target", fill=TARGET, font=font)
    pixels = np.asarray(strip, dtype=np.uint8)
    if not video:
        return np.concatenate([pixels, picture], axis=0)
    t = picture.shape[0]
    return np.concatenate([np.broadcast_to(pixels, (t, *pixels.shape)), picture], axis=1)


def gif_bytes(video: np.ndarray, fps: float) -> bytes:
    """Encode [T, H, W(, 3)] uint8 as a looping animated GIF."""
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, video, extension=".gif", duration=1000.0 / fps, loop=0)
    return buf.getvalue()


def png_bytes(image: np.ndarray) -> bytes:
    """Encode [H, W] (grey) or [H, W, 3] uint8 as PNG."""
    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, image, extension=".png")
    return buf.getvalue()


def _title(dataset: Dataset, split: str) -> str:
    source = dataset.manifest.source
    kind = "synthetic digits" if dataset.synthetic else source.get("name") or source.get("kind", "")
    return f"{split} · {kind}"


def _check_split_at(split_at: int | None, length: int) -> None:
    if split_at is not None and not 1 <= split_at < length:
        raise ConfigError(f"--split-at must be in [1, {length - 1}] for sequences of {length} frames (got {split_at})")


def preview_gif(
    dataset: Dataset,
    split: str = "test",
    rows: int = 4,
    cols: int = 4,
    scale: int = 3,
    fps: float = 10.0,
    index: Sequence[int] | None = None,
    annotate: bool = False,
    split_at: int | None = None,
) -> bytes:
    """An animated GIF of a rows x cols grid of sequences (`index`, else the first ones) of `split`.

    Upscaled `scale` times; `annotate` draws boxes, labels and frame numbers; `split_at=K`
    frames the first K frames (the input) in green and the rest (the target) in orange.
    Grey datasets give a grey GIF unless annotate or split_at need colour.
    """
    part = dataset[split]
    _check_split_at(split_at, part.shape[1])
    chosen = pick(len(part), index, rows * cols)
    if index is not None and len(chosen) > rows * cols:
        raise ConfigError(f"--index names {len(chosen)} sequences but the grid has {rows}x{cols}; raise --rows/--cols")
    tiles = cells(part, chosen, scale, annotate, colour=split_at is not None)
    video = grid(frame_cells(tiles, max(2, scale), split_at), rows, cols)
    return gif_bytes(banner(video, _title(dataset, split), split_at), fps)


def preview_png(
    dataset: Dataset,
    split: str = "test",
    rows: int = 4,
    scale: int = 3,
    index: Sequence[int] | None = None,
    annotate: bool = False,
    split_at: int | None = None,
) -> bytes:
    """A PNG contact sheet: one row per sequence (`index`, else the first `rows`), one column per frame.

    Options as for `preview_gif`. Grey datasets give a grey (mode L) PNG unless colour is needed.
    """
    part = dataset[split]
    _check_split_at(split_at, part.shape[1])
    chosen = pick(len(part), index, rows)
    tiles = cells(part, chosen, scale, annotate, colour=split_at is not None)
    image = sheet(frame_cells(tiles, max(2, scale), split_at))
    return png_bytes(banner(image, _title(dataset, split), split_at, video=False))
