"""A chunk of sequences as a pure function of (config, digit pool, split, indices).

One module past ~300 lines: the fixed-sprite path and the warped (mmnist++) path build the
same Chunk and Scene from the same keyed draws.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from movmnist.config import Config
from movmnist.config.presets import PRESETS
from movmnist.core import annotate, background, captions, colour, corrupt, flow, layers, motion, render, rng, tracks
from movmnist.core.motion import mmnistpp
from movmnist.core.pool import Pool
from movmnist.core.scene import Scene
from movmnist.errors import SourceError


@dataclass(eq=False)
class Frames:
    """A chunk's frames, drawn a block of sequences at a time as they are sliced.

    `generate(..., lazy=True)` returns these where the compiled kernel draws the frames:
    a writer that takes a block of ~64 sequences (5 MB) at a time then compresses what
    was just drawn while it is still in the CPU's cache, instead of drawing a whole chunk
    (20 MB) first and reading it back from memory (~10 us a sequence saved with lz4).
    Slices are drawn into the two halves of `buffer` in turn: a slice is a view, valid
    until the slice after the next is taken, so one block can be compressed while the
    next is drawn (`store.sinks.Pipeline`).
    """

    shape: tuple[int, ...]
    draw: Callable[[int, int, np.ndarray], None]  # (lo, hi, out): sequences lo..hi-1 of the chunk into out
    buffer: np.ndarray
    turn: int = 0  # the half the next slice is drawn into

    dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, sel: slice) -> np.ndarray:
        lo, hi, step = sel.indices(len(self))
        if step != 1:
            raise IndexError("Frames takes contiguous slices only")
        hi = max(lo, hi)
        shape = (hi - lo, *self.shape[1:])
        need, half = int(np.prod(shape)), self.buffer.size // 2
        if need > half:
            raise ValueError(f"Frames: a slice of {hi - lo} sequences does not fit half the buffer")
        flat = self.buffer.reshape(-1)[self.turn * half :]
        self.turn ^= 1
        out = flat[:need].reshape(shape)
        self.draw(lo, hi, out)
        return out


@dataclass(frozen=True)
class Chunk:
    """Generated sequences and their annotations; K is the maximum digit count.

    frames:       [n, T, H, W] uint8 ([n, T, H, W, C] for colour sources or render.colour); a `Frames` with lazy=True
    labels:       [n, K] int16, the digit class, -1 where the sequence has fewer digits
    positions:    [n, T, K, 2] int16, top-left (row, col) pixel of each digit, -1 if absent
    source_index: [n, K] int32, index of the digit image in the source's own split, -1 if absent
    The optional annotations (None unless the config asks for them) are documented in
    `annotate` and the README's schema (`events`: [n, T, K] uint8, a bit per wall hit);
    the corruption records (`corrupt_*`, with corruptions.*) in `corrupt`.
    `background_index` [n] int32 and `background_shift` [n, T, 2] int16 come with render.background.
    """

    frames: np.ndarray | Frames
    labels: np.ndarray
    positions: np.ndarray
    source_index: np.ndarray
    trajectories: np.ndarray | None = None
    velocities: np.ndarray | None = None
    boxes: np.ndarray | None = None
    amodal_boxes: np.ndarray | None = None
    masks: np.ndarray | None = None
    flow: np.ndarray | None = None
    flow_valid: np.ndarray | None = None
    tracks: np.ndarray | None = None
    occluded: np.ndarray | None = None
    visibility: np.ndarray | None = None
    z_order: np.ndarray | None = None
    events: np.ndarray | None = None
    corrupt_blackout: np.ndarray | None = None
    corrupt_missing: np.ndarray | None = None
    corrupt_positions: np.ndarray | None = None
    captions: np.ndarray | None = None
    event_captions: np.ndarray | None = None
    event_frames: np.ndarray | None = None
    colours: np.ndarray | None = None
    background_index: np.ndarray | None = None
    background_shift: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def sequence_shape(cfg: Config, sprite_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of one sequence for sprites of `sprite_shape` ((h, w) or (h, w, C)): (T, H, W) or
    (T, H, W, C), C = 3 for render.colour (grey sprites tinted)."""
    channels = (3,) if cfg.render.colour is not None else tuple(sprite_shape[2:])
    return (cfg.sequence.length, cfg.canvas.height, cfg.canvas.width, *channels)


@functools.lru_cache(maxsize=16)
def _ink(pool: Pool) -> render.Ink:
    """Each pool image's ink window, once per pool (pools are memoised, so by identity)."""
    return render.ink_windows(pool.images)


@functools.lru_cache(maxsize=64)
def _keyed(seed: int, split: str, epoch: int) -> rng.Keyed:
    """A split's keyed randomness, made once per (seed, split, epoch): its SeedSequence costs
    ~15 us, a tenth of generating one sequence alone (`split[i]` of a procedural dataset)."""
    return rng.Keyed(seed, split, epoch)


def extras(cfg: Config) -> tuple[str, ...]:
    """The optional datasets a build of `cfg` stores (store.schema OPTIONAL names)."""
    names = [name for name, on in cfg.annotations.model_dump().items() if on]
    if cfg.annotations.flow:
        names.append("flow_valid")
    if cfg.annotations.tracks:
        names.append("occluded")
    if cfg.annotations.event_captions:
        names.append("event_frames")
    if cfg.render.combine == "over":
        names.append("z_order")
    kinds = {"perceptual": "corrupt_blackout", "missing": "corrupt_missing", "dynamic": "corrupt_positions"}
    names += [name for kind, name in kinds.items() if getattr(cfg.corruptions, kind) is not None]
    if cfg.render.colour is not None:
        names.append("colours")
    if cfg.render.background.kind != "none":
        names.append("background_index")
        if cfg.render.background.drift:
            names.append("background_shift")
    return tuple(names)


# Annotations computed from the per-pixel digit mask, drawn with the frames.
_MASKED = frozenset({"masks", "boxes", "visibility"})


def draws_lazily(cfg: Config) -> bool:
    """Whether `generate(..., lazy=True)` returns `Frames`, drawn by the compiled kernel as
    they are sliced (max, no mask, no wrap), rather than drawing the whole chunk into `out`.
    With a mask the chunk is drawn whole: its annotations need every frame first."""
    need_mask = bool(set(extras(cfg)) & _MASKED)
    return (
        not PRESETS[cfg.motion.preset].warped
        and cfg.render.background.kind == "none"
        and not need_mask
        and render.takes(cfg.render.combine, cfg.motion.boundary == "wrap")
    )


def generate(
    cfg: Config,
    pool: Pool,
    split: str,
    indices: np.ndarray,
    out: np.ndarray | None = None,
    lazy: bool = False,
    epoch: int = 0,
    mask_out: np.ndarray | None = None,
) -> Chunk:
    """Generate the sequences `indices` (global, within `split`) of the dataset.

    `out`, if given, is a reusable uint8 buffer with room for at least len(indices)
    sequences; the returned frames are a view of it (so the caller must consume them
    before the next call). lazy: where the compiled kernel draws the frames (render.py),
    return them as `Frames`, drawn into `out` as they are sliced; else as with lazy=False.
    epoch: 0, the dataset a build stores; e >= 1, training epoch e's fresh draw (`rng`).
    mask_out: the same for the instance mask, which the kernel draws for masks, boxes and
    visibility (grey or colour, one byte a pixel); the `masks` returned may be a view of it.
    """
    idx = np.asarray(indices, dtype=np.int64)
    n, length = len(idx), cfg.sequence.length
    k_lo, k_hi = cfg.digits.count
    keyed = _keyed(cfg.seed, split, epoch)

    if k_lo == k_hi:
        count = np.full(n, k_hi, dtype=np.int64)
    else:
        count = k_lo + keyed.integers(idx, rng.COUNT, 1, k_hi - k_lo + 1)[:, 0]
    present = np.arange(k_hi)[None, :] < count[:, None]  # [n, K]

    choice = keyed.integers(idx, rng.DIGIT, k_hi, len(pool.labels))  # [n, K]
    if cfg.digits.assign == "each":  # sequence i shows image i of the pool as its first digit
        if n and idx.max() >= len(pool.labels):
            raise ValueError(f"digits.assign: each: sequence {idx.max()} has no image in a pool of {len(pool.labels)}")
        choice[:, 0] = idx

    def draw(stream: int, count: int) -> np.ndarray:
        return keyed.uniform(idx, stream, count)

    want = set(extras(cfg)) - _CORRUPT - _BACKGROUND - {"colours"}
    points = cfg.annotations.tracks
    spoilt = corrupt.record(cfg.corruptions, draw, (cfg.canvas.height, cfg.canvas.width))
    if PRESETS[cfg.motion.preset].warped:
        return _mmnistpp(cfg, pool, idx, choice, present, draw, want, out, spoilt, keyed)
    # What is drawn: the pool's sprites, or with render.colour each slot's own tinted sprite.
    images, shown, windows, inked = pool.images, choice, _ink(pool), pool.images[choice]
    colours = None
    if cfg.render.colour is not None:
        colours, images, shown, inked = _coloured(cfg, pool, choice, present, draw)
        # A tint only removes ink (`colour.tinted_ink`), so each grey window still holds it.
        top, left, size = windows
        windows = (top[choice].reshape(-1), left[choice].reshape(-1), size)
    h, w = pool.images.shape[1:3]
    height, width = cfg.canvas.height, cfg.canvas.width
    ink, ink_count = (
        annotate.ink_boxes(inked, colour=inked.ndim == 5)  # [n, K, 4], [n, K]
        if want or cfg.render.bounce_on == "ink" or cfg.motion.mass == "ink"
        else (None, None)
    )
    if cfg.render.bounce_on == "ink" and ink is not None:
        # The ink box, not the patch, touches the walls: a per-digit free range and offset.
        extent = np.stack([ink[..., 2] - ink[..., 0], ink[..., 3] - ink[..., 1]], axis=-1)
        free = np.array([height, width]) - extent
        offset = -ink[..., :2]
    else:
        free = np.broadcast_to(np.array([height - h, width - w]), (n, k_hi, 2))
        offset = None
    spec = motion.Spec(
        length=length,
        speed=cfg.motion.speed,
        free=free.reshape(-1, 2),
        canvas=(height, width),
        sprite=(h, w),
        boundary=cfg.motion.boundary,
        acceleration=cfg.motion.acceleration,
        present=present.reshape(-1),
        mass=_mass(cfg, ink_count, n * k_hi),
    )
    path = motion.move(cfg.motion.preset, draw, n, k_hi, spec)
    assert path.pixels is not None
    pixels = path.pixels.reshape(length, n, k_hi, 2).transpose(1, 0, 2, 3)  # [n, T, K, 2]
    if offset is not None:
        pixels = pixels + offset[:, None]
    jittered = None  # corruptions.dynamic: [n, I, K, 2] where the input frames draw the digits
    if cfg.corruptions.dynamic is not None:
        inputs = cfg.corruptions.input_frames
        noisy = motion.input_jitter(cfg.motion.preset, draw, n, k_hi, spec, inputs, cfg.corruptions.dynamic.sigma)
        assert noisy.pixels is not None
        jittered = noisy.pixels.reshape(inputs, n, k_hi, 2).transpose(1, 0, 2, 3)
        if offset is not None:
            jittered = jittered + offset[:, None]

    shape = (n, *sequence_shape(cfg, pool.shape))
    z_order = annotate.z_order(draw, present) if cfg.render.combine == "over" else None
    need_mask = bool(want & _MASKED)
    wrap = cfg.motion.boundary == "wrap"
    clip = cfg.motion.boundary != "bounce" or offset is not None
    scene = Scene(
        idx=idx,
        choice=shown,
        present=present,
        path=path,
        pixels=pixels,
        ink_box=ink,
        ink_count=ink_count,
        sprite=(h, w),
        wrap=wrap,
        z_order=z_order,
        ink_windows=windows,
    )
    laid: dict[str, np.ndarray] = {}
    if lazy and out is not None and draws_lazily(cfg):
        # No mask here: the input frames can be drawn where `dynamic` puts the digits in one pass.
        drawn = pixels if jittered is None else np.concatenate([jittered, pixels[:, jittered.shape[1] :]], axis=1)
        drawer = render.MaxDrawer(images, shown, present, drawn, clip, windows)
        frames: np.ndarray | Frames = Frames(shape, drawer.draw if spoilt is None else _spoiling(drawer, spoilt), out)
        composed = None
    else:
        frames = np.empty(shape, np.uint8) if out is None else out.reshape(-1)[: int(np.prod(shape))].reshape(shape)
        composed = render.compose(
            frames,
            images,
            shown,
            present,
            pixels,
            combine=cfg.render.combine,
            z_order=z_order,
            wrap=wrap,
            clip=clip,
            with_mask=need_mask,
            ink=windows,
            mask_out=mask_out,
        )
        if jittered is not None:  # the mask above is the clean scene's: the inputs are drawn again
            redrawn = np.empty((n, jittered.shape[1], *shape[2:]), np.uint8)
            render.compose(
                redrawn, images, shown, present, jittered, cfg.render.combine, z_order, wrap, clip, ink=windows
            )
            frames[:, : jittered.shape[1]] = redrawn
        if pool.backgrounds is not None:  # beneath the digits, before any corruption of the inputs
            laid = _beneath(cfg, pool, frames, keyed, idx, draw)
        if spoilt is not None:
            spoilt.apply(frames)

    notes = annotate.compute(want, scene, composed) if want else {}
    notes |= _records(spoilt, jittered, present) | laid
    if "flow" in want:
        notes["flow"], notes["flow_valid"] = flow.compute(
            images, shown, present, pixels, shape, cfg.render.combine, z_order, wrap, clip, windows
        )
    if "tracks" in want:
        notes["tracks"], notes["occluded"] = tracks.of_sprites(
            draw, images, shown, present, pixels, (height, width), cfg.render.combine, z_order, wrap, points
        )
    identity = _identity(pool, choice, scene)
    if "captions" in want or "event_captions" in want:
        notes |= _captions(cfg, want, identity[0], scene, free)
    return Chunk(frames, *identity, **notes, colours=colours)


def _captions(cfg: Config, want: set[str], labels: np.ndarray, scene: Scene, free: np.ndarray) -> dict[str, np.ndarray]:
    """captions [n] (core.captions) from the labels, the velocities as stored (float32) times
    each digit's free range (pixels a frame) and the events, whether or not those are stored;
    and event_captions, event_frames (core.captions.per_event) from the labels and events."""
    path, (n, length, k) = scene.path, scene.pixels.shape[:3]
    assert path.hits is not None
    bits = annotate.events(path.hits, scene.present, n, k, path.contacts)
    collides = PRESETS[cfg.motion.preset].collides
    out = {}
    if "captions" in want:
        velocity = path.velocity.reshape(length, n, k, 2).swapaxes(0, 1).astype(np.float32)
        pixels = velocity.astype(np.float64) * free[:, None]
        out["captions"] = captions.compute(labels, pixels, bits, captions.width(k, length, collides))
    if "event_captions" in want:
        out["event_captions"], out["event_frames"] = captions.per_event(labels, bits, captions.event_width(k, collides))
    return out


def _coloured(
    cfg: Config, pool: Pool, choice: np.ndarray, present: np.ndarray, draw: motion.Draw
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """render.colour: (colours [n, K] int8, tinted sprites [n * K, h, w, 3], their choice [n, K],
    the grey sprites [n, K, h, w] where the tint has ink, for the ink boxes)."""
    spec = cfg.render.colour
    assert spec is not None
    palette = np.asarray(spec.palette, dtype=np.uint8)
    if pool.images.ndim != 3:
        raise SourceError("render.colour tints grey digits and this source's are in colour; use a grey source")
    labels = pool.labels[choice]
    outside = labels[present & ((labels < 0) | (labels >= len(palette)))]
    if outside.size:
        raise SourceError(
            f"render.colour has a palette colour per label 0..{len(palette) - 1}, and this source has label"
            f" {int(outside[0])}; use a source with 10 classes (mnist, fashion_mnist)"
        )
    colours = colour.draw_colours(draw, labels, present, spec.label_correlation, len(palette))
    images, shown = colour.tinted_sprites(pool.images, choice, colours, palette)
    return colours, images, shown, colour.tinted_ink(pool.images, choice, colours, palette)


def _mass(cfg: Config, ink_count: np.ndarray | None, m: int) -> np.ndarray:
    """[M] each digit's mass in collisions (motion.mass): 1, or its ink pixels (at least 1)."""
    if cfg.motion.mass == "ink":
        assert ink_count is not None
        return np.asarray(np.maximum(ink_count.reshape(-1), 1), dtype=np.float64)
    return np.ones(m)


# The corruption records: computed with the corruption, not by `annotate`.
_CORRUPT = frozenset({"corrupt_blackout", "corrupt_missing", "corrupt_positions"})
# The background's records: drawn with it (`_beneath`).
_BACKGROUND = frozenset({"background_index", "background_shift"})


def _spoiling(drawer: render.MaxDrawer, spoilt: corrupt.Record) -> Callable[[int, int, np.ndarray], None]:
    """`drawer.draw`, then the chunk's corruptions on what it drew."""

    def draw(lo: int, hi: int, out: np.ndarray) -> None:
        drawer.draw(lo, hi, out)
        spoilt.apply(out, lo)

    return draw


def _records(spoilt: corrupt.Record | None, jittered: np.ndarray | None, present: np.ndarray) -> dict[str, np.ndarray]:
    """The `corrupt_*` arrays of the corruptions that are on."""
    notes = {}
    if spoilt is not None and spoilt.blackout is not None:
        notes["corrupt_blackout"] = spoilt.blackout
    if spoilt is not None and spoilt.missing is not None:
        notes["corrupt_missing"] = spoilt.missing
    if jittered is not None:
        positions = np.clip(jittered, -(2**15), 2**15 - 1).astype(np.int16)
        positions.transpose(0, 2, 1, 3)[~present] = -1  # [n, K, I, 2] view: absent digits, every frame
        notes["corrupt_positions"] = positions
    return notes


def _beneath(
    cfg: Config, pool: Pool, frames: np.ndarray, keyed: rng.Keyed, idx: np.ndarray, draw: motion.Draw
) -> dict[str, np.ndarray]:
    """Lay each sequence's background beneath its digits (`frames`, in place): its image, from
    the stream rng.BACKGROUND, and with drift its shifts, from rng.BACKGROUND_DRIFT."""
    assert pool.backgrounds is not None and pool.background_index is not None
    which = keyed.integers(idx, rng.BACKGROUND, 1, len(pool.backgrounds))[:, 0]
    drift = cfg.render.background.drift
    canvas = (cfg.canvas.height, cfg.canvas.width)
    shift = background.shifts(draw, rng.BACKGROUND_DRIFT, cfg.sequence.length, canvas, drift) if drift else None
    background.lay(frames, background.resize_cubic(pool.backgrounds[which], canvas), shift, cfg.render.combine)
    notes = {"background_index": pool.background_index[which].astype(np.int32)}
    if shift is not None:
        notes["background_shift"] = shift.astype(np.int16)
    return notes


def _identity(pool: Pool, choice: np.ndarray, scene: Scene) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """labels, positions (int16, from pixels) and source_index of the pool images `choice`, -1 for absent digits."""
    absent = ~scene.present
    labels = pool.labels[choice].astype(np.int16)
    labels[absent] = -1
    source_index = pool.source_index[choice].astype(np.int32)
    source_index[absent] = -1
    positions = np.clip(scene.pixels, -(2**15), 2**15 - 1).astype(np.int16)
    positions.transpose(0, 2, 1, 3)[absent] = -1  # [n, K, T, 2] view: absent digits, every frame
    return labels, positions, source_index


def _mmnistpp(
    cfg: Config,
    pool: Pool,
    idx: np.ndarray,
    choice: np.ndarray,
    present: np.ndarray,
    draw: motion.Draw,
    want: set[str],
    out: np.ndarray | None,
    spoilt: corrupt.Record | None,
    keyed: rng.Keyed,
) -> Chunk:
    """MovingMNIST++: digits that turn, grow and shrink, so each frame has its own sprites.

    Each digit is warped onto a whole canvas per frame (layers.warp), a block of sequences
    at a time to bound memory, and the layers combined (layers.stack); annotations come
    from those layers and the mask. A background goes beneath them as in the fixed-sprite
    path (`_beneath`; grey frames repeated to RGB over RGB images).
    """
    n, length, k = len(idx), cfg.sequence.length, choice.shape[1]
    height, width = cfg.canvas.height, cfg.canvas.width
    if pool.images.ndim != 3:
        raise ValueError("mmnist++ draws grayscale digits; use a grayscale source")
    images = pool.images[choice]  # [n, K, h, w]
    h, w = images.shape[2:]
    crop, _ = annotate.ink_boxes(np.where(images > mmnistpp.CROP_THRESHOLD, images, 0), colour=False)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    r0, c0, r1, c1 = (crop[..., i, None, None] for i in range(4))
    images = np.where((rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1), images, 0).astype(np.uint8)
    extent = np.stack([crop[..., 2] - crop[..., 0], crop[..., 3] - crop[..., 1]], axis=-1)
    spec = motion.Spec(
        length=length,
        speed=cfg.motion.speed,
        free=np.broadcast_to(np.array([height - h, width - w]), (n * k, 2)),
        canvas=(height, width),
        sprite=(h, w),
        acceleration=cfg.motion.acceleration,
        extent=extent.reshape(-1, 2),
    )
    path = motion.move(cfg.motion.preset, draw, n, k, spec)
    assert path.pixels is not None and path.shift is not None and path.look is not None
    look = path.look
    shape = (n, *sequence_shape(cfg, pool.shape))
    frames = np.zeros(shape, np.uint8) if out is None else out.reshape(-1)[: int(np.prod(shape))].reshape(shape)
    masks = np.zeros((n, length, height, width), dtype=np.uint8)
    ink = np.zeros((n, length, k, 4), dtype=np.int64)
    ink_count = np.zeros((n, length, k), dtype=np.int64)
    z_order = annotate.z_order(draw, present) if cfg.render.combine == "over" else None
    flat_crop = np.broadcast_to(crop[:, None], (n, length, k, 4))
    points = cfg.annotations.tracks
    track = tracks.OfLayers(draw, images, crop, present, path.shift, look.angle, look.scale, points) if points else None
    images = images.reshape(n * k, h, w)
    motion_flow = (
        (np.zeros((n, length - 1, height, width, 2), np.float16), np.zeros((n, length - 1, height, width), bool))
        if "flow" in want
        else None
    )
    block = max(1, (1 << 21) // (length * k * height * width))  # sequences per ~2M canvas pixels

    def per(a: np.ndarray, lo: int, hi: int) -> np.ndarray:  # [T, n * K, ...] -> [(hi - lo) * T * K, ...]
        part = a.reshape(length, n, k, *a.shape[2:])[:, lo:hi].swapaxes(0, 1)
        return part.reshape(-1, *a.shape[2:])

    for lo in range(0, n, block):
        hi = min(lo + block, n)
        which = np.broadcast_to(np.arange(lo * k, hi * k).reshape(hi - lo, 1, k), (hi - lo, length, k)).reshape(-1)
        drawn = layers.warp(
            images[which],
            flat_crop[lo:hi].reshape(-1, 4),
            per(path.shift, lo, hi),
            per(look.angle, lo, hi),
            per(look.scale, lo, hi),
            per(look.gain, lo, hi),
            (height, width),
        ).reshape(hi - lo, length, k, height, width)
        grey, masks[lo:hi] = layers.stack(
            drawn, cfg.render.combine, present[lo:hi], None if z_order is None else z_order[lo:hi]
        )
        frames[lo:hi] = grey if frames.ndim == 4 else grey[..., None]
        if want:
            box, count = annotate.ink_boxes(drawn, colour=False)
            ink[lo:hi], ink_count[lo:hi] = box, count
        if track is not None:
            track.see(lo, drawn)
        if motion_flow is not None:
            at, turn, size = (
                per(a, lo, hi).reshape(hi - lo, length, k, *a.shape[2:]) for a in (path.shift, look.angle, look.scale)
            )
            flow.of_layers(
                drawn,
                present[lo:hi],
                crop[lo:hi],
                at,
                turn,
                size,
                cfg.render.combine,
                None if z_order is None else z_order[lo:hi],
                motion_flow[0][lo:hi],
                motion_flow[1][lo:hi],
            )
    pixels = path.pixels.reshape(length, n, k, 2).swapaxes(0, 1)
    # The layers are whole canvases: their ink boxes are in canvas coordinates already, and
    # the mask is the canvas's own (no padding).
    scene = Scene(
        idx=idx,
        choice=choice,
        present=present,
        path=path,
        pixels=pixels,
        ink_box=ink,
        ink_count=ink_count,
        sprite=(h, w),
        wrap=False,
        z_order=z_order,
        warped=True,
    )
    notes = annotate.compute(want, scene, render.Composed(masks, 0, 0) if want & _MASKED else None) if want else {}
    if track is not None:
        notes["tracks"], notes["occluded"] = track.result(cfg.render.combine, z_order)
    if motion_flow is not None:
        notes["flow"], notes["flow_valid"] = motion_flow
    if pool.backgrounds is not None:  # beneath the digits, before any corruption of the inputs
        notes |= _beneath(cfg, pool, frames, keyed, idx, draw)
    if spoilt is not None:
        spoilt.apply(frames)
    notes |= _records(spoilt, None, present)
    return Chunk(frames, *_identity(pool, choice, scene), **notes)
