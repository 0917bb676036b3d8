"""Backgrounds (render.background): invariants of the frames as drawn, not golden arrays.

The digits drawn alone (the same config with no background) and the background rebuilt from
the recorded `background_index` (and `background_shift`) give every frame: under max the frame
is at least the background and equals the ink where the ink is brighter; a clipped sum and
`over` likewise. OpenSTL's mnist_cifar recipe, transcribed from its code, gives our frames for
the same digits, positions and image. OpenCV's bicubic resize is matched byte for byte at 32 ->
64. The other arrays keep their bytes; a build stores what the procedural dataset gives. With
render.colour, each frame is the per-channel combine of the tinted sprites and the background.
mmnist++'s warped digits take their background the same way.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.config import Config
from movmnist.core.background import resize_cubic
from movmnist.core.generate import Chunk, generate
from movmnist.sources import open_source
from movmnist.sources.pools import pool_for
from tests.conftest import small_config
from tests.core.test_colour import tinted_reference
from tests.datasets import built_on_1_and_2_workers, chunk_digest, stored_as_computed

COLOUR = ("source.colour=true", "render.background.source.kind=synthetic", "render.background.source.colour=true")


def _images(cfg: Config, split: str) -> np.ndarray:
    """The background source's split that `cfg`'s split draws from, whole, as the source hands it out."""
    bg = cfg.render.background
    name = (bg.pool or str(getattr(cfg.splits, split).pool)).split("[")[0]
    return open_source(bg.source).load(name).images


def _beneath(cfg: Config, split: str, chunk: Chunk) -> np.ndarray:
    """[n, T, H, W(, C)]: each frame's background, rebuilt from the recorded index and shifts."""
    assert chunk.background_index is not None
    size = (cfg.canvas.height, cfg.canvas.width)
    still = resize_cubic(_images(cfg, split)[chunk.background_index], size)
    length = cfg.sequence.length
    if chunk.background_shift is None:
        return np.repeat(still[:, None], length, axis=1)
    return np.stack(
        [
            np.stack(
                [
                    np.roll(still[i], tuple(int(v) for v in chunk.background_shift[i, t]), axis=(0, 1))
                    for t in range(length)
                ]
            )
            for i in range(len(still))
        ]
    )


def _pair(*overrides: str, n: int = 6) -> tuple[Config, Chunk, Chunk]:
    """(config, chunk with the background, the same chunk's digits alone)."""
    cfg = small_config("render.background.kind=image", *overrides)
    bare = small_config("render.background.kind=none", *overrides)
    on, off = (generate(c, pool_for(c, "train"), "train", np.arange(n)) for c in (cfg, bare))
    return cfg, on, off


@pytest.mark.parametrize("drift", ["0", "2.5"])
def test_under_max_the_digits_ink_is_kept_and_the_background_shows_elsewhere(drift: str) -> None:
    cfg, on, off = _pair(*COLOUR, f"render.background.drift={drift}")
    frames, ink = np.asarray(on.frames), np.asarray(off.frames)
    below = _beneath(cfg, "train", on)
    assert (frames >= below).all() and (frames >= ink).all()
    brighter = ink > below
    assert np.array_equal(frames[brighter], ink[brighter])
    assert np.array_equal(frames, np.maximum(ink, below))  # the index (and shifts) reproduce the background
    assert on.masks is not None and off.masks is not None
    assert np.array_equal(frames[on.masks == 0], below[on.masks == 0])  # no digit: the background alone
    assert (on.background_shift is None) == (drift == "0")
    if on.background_shift is not None:  # it moves by the drift, wrapping
        step = np.diff(on.background_shift.astype(np.int64), axis=1) % 40
        step = np.minimum(step, 40 - step)
        assert (np.hypot(*np.moveaxis(step, -1, 0)) <= 2.5 + 2).all() and step.any()


def test_a_clipped_sum_and_over_put_the_background_at_the_bottom() -> None:
    cfg, on, off = _pair(*COLOUR, "render.combine=sum")
    below = _beneath(cfg, "train", on).astype(np.int64)
    assert np.array_equal(np.asarray(on.frames), np.minimum(np.asarray(off.frames) + below, 255))
    cfg, on, off = _pair(*COLOUR, "render.combine=over", "render.background.drift=1")
    below, ink = _beneath(cfg, "train", on), np.asarray(off.frames)
    inked = ink.any(axis=-1, keepdims=True)
    assert np.array_equal(np.asarray(on.frames), np.where(inked, ink, below))


def test_grey_digits_over_colour_images_are_made_rgb_and_binarised() -> None:
    cfg, on, off = _pair(
        "render.background.source.kind=synthetic",
        "render.background.source.colour=true",
        "render.background.binarize=true",
    )
    frames, grey = np.asarray(on.frames), np.asarray(off.frames)
    assert frames.shape == (*grey.shape, 3) and grey.ndim == 5 - 1
    ink = np.repeat(np.where(grey > 1, 255, grey)[..., None], 3, axis=-1).astype(np.uint8)
    assert np.array_equal(frames, np.maximum(ink, _beneath(cfg, "train", on)))


# render.colour over a background: the grey sprites tinted by their recorded colours, then each
# combine rule per channel with the background (RGB, grey ones repeated) as the bottom layer.
TINTED = {
    "max": ("render.background.source.colour=true", "render.background.drift=1.5"),
    "sum": ("render.background.source.colour=true",),
    "over": ("render.background.binarize=true", "render.background.drift=1"),  # a grey background
}


@pytest.mark.parametrize("combine", list(TINTED))
def test_tinted_digits_combine_per_channel_with_the_background(combine: str) -> None:
    sets = ("render.background.source.kind=synthetic", f"render.combine={combine}", "digits.count=[1, 3]")
    cfg, on, off = _pair(*sets, *TINTED[combine], "render.colour.label_correlation=0.6", n=8)
    frames, ink, below = np.asarray(on.frames), np.asarray(off.frames), _beneath(cfg, "train", on)
    if below.ndim == 4:  # a grey background under tinted digits: repeated to RGB
        below = np.repeat(below[..., None], 3, axis=-1)
    assert frames.shape == ink.shape == below.shape and frames.shape[-1] == 3
    assert on.colours is not None and off.colours is not None and np.array_equal(on.colours, off.colours)
    pool = pool_for(cfg, "train")
    assert pool.images.ndim == 3  # the digits stay grey: each slot is tinted when drawn
    if cfg.render.background.binarize:
        assert np.isin(pool.images, (0, 1, 255)).all() and (pool.images == 255).any()
    want, overlaps = tinted_reference(on, pool, combine, below)
    assert np.array_equal(frames, want) and overlaps > 0
    if combine == "max":  # the background never lowers a digit's ink, and shows where it is brighter
        assert (frames >= ink).all() and (frames >= below).all()
        assert np.array_equal(frames[ink > below], ink[ink > below])
    else:  # sum and over: the same as the digits drawn alone, then the background beneath
        digits = tinted_reference(on, pool, combine)[0] if cfg.render.background.binarize else ink
        if combine == "sum":
            assert np.array_equal(frames, np.minimum(digits.astype(np.int64) + below, 255))
        else:
            assert np.array_equal(frames, np.where(digits.any(axis=-1, keepdims=True), digits, below))


def test_a_build_stores_the_procedural_tinted_digits_over_backgrounds_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config(
        "render.background.kind=image",
        "render.background.source.kind=synthetic",
        "render.background.source.colour=true",
        "render.background.drift=1",
        "render.colour.label_correlation=0.5",
        "splits.val.sequences=0",
    )
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert {"colours", "background_index", "background_shift"} <= set(stored)
        assert stored["frames"].shape[-1] == 3


# Every array of a chunk with a background and no render.colour, from main at 6d86ab2 (before
# render.colour and render.background combined).
WITHOUT_COLOUR = {
    ("max", "render.background.source.colour=true"): "22eb893776494670",
    ("sum", "render.background.source.colour=true", "render.background.binarize=true", "render.background.drift=1.5"): (
        "7b0c8859fc51fd62"
    ),
    ("over", *COLOUR): "af629df0a3765fd8",
    ("max", "render.background.drift=2"): "68d02261d33eea0a",
}


@pytest.mark.parametrize("case", list(WITHOUT_COLOUR))
def test_backgrounds_without_colour_keep_every_arrays_bytes(case: tuple[str, ...]) -> None:
    combine, *sets = case
    cfg = small_config(
        "render.background.kind=image",
        f"render.combine={combine}",
        "digits.count=[1, 3]",
        "render.background.source.kind=synthetic",
        *sets,
    )
    chunk = generate(cfg, pool_for(cfg, "train"), "train", np.arange(3, 15))
    assert chunk_digest(chunk) == WITHOUT_COLOUR[case]


def test_the_other_arrays_keep_their_bytes_with_a_background() -> None:
    _, on, off = _pair(*COLOUR, "render.background.drift=1", "render.combine=over")
    for name in (
        "labels",
        "positions",
        "source_index",
        "trajectories",
        "velocities",
        "boxes",
        "masks",
        "events",
        "z_order",
    ):
        assert np.asarray(getattr(on, name)).tobytes() == np.asarray(getattr(off, name)).tobytes(), name
    assert off.background_index is None and off.background_shift is None
    assert small_config().render.background.kind == "none"  # off by default (tests/core/test_golden.py: its bytes)


def test_resize_is_opencvs_bicubic() -> None:
    g = np.random.default_rng(5)
    images = g.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    images[:10] = np.where(images[:10] > 127, 255, 0)  # hard edges: the cubic's overshoot is clipped
    ours = resize_cubic(images, (64, 64))
    theirs = np.stack([cv2.resize(i, (64, 64), interpolation=cv2.INTER_CUBIC) for i in images])
    assert np.array_equal(ours, theirs)
    assert np.array_equal(resize_cubic(images[..., 1], (64, 64)), theirs[..., 1])
    for size in ((40, 40), (64, 48), (28, 28)):  # other sizes: within one level
        other = np.stack([cv2.resize(i, size[::-1], interpolation=cv2.INTER_CUBIC) for i in images])
        assert np.abs(resize_cubic(images, size).astype(int) - other).max() <= 1


def openstl_frames(
    digits: np.ndarray, tops: np.ndarray, lefts: np.ndarray, cifar: np.ndarray, length: int
) -> np.ndarray:
    """OpenSTL's `MovingMNIST.generate_moving_mnist(num_digits, background=True)`, transcribed from
    chengtan9907/OpenSTL openstl/datasets/dataloader_moving_mnist.py at c74deb5 (its random draws
    replaced by the given digits [K, 28, 28], positions [K, T] and image [32, 32, 3])."""
    image_size, digit_size = 64, 28
    back = cv2.resize(cifar, (image_size, image_size), interpolation=cv2.INTER_CUBIC)
    data = np.repeat(back[np.newaxis, ...], length, axis=0).astype(np.uint8)
    for n in range(len(digits)):
        start_y, start_x = tops[n], lefts[n]
        digit_image = digits[n].copy()
        digit_image[digit_image > 1] = 255
        for i in range(length):
            top, left = start_y[i], start_x[i]
            bottom, right = top + digit_size, left + digit_size
            data[i, top:bottom, left:right, ...] = np.maximum(
                data[i, top:bottom, left:right, ...], np.repeat(digit_image[..., np.newaxis], 3, axis=2)
            )
    return data


def _cifar_like(path: Path) -> Path:
    """A Keras-layout npz of 32x32 RGB images with CIFAR-10's split names, made here."""
    g = np.random.default_rng(10)
    np.savez(
        path,
        x_train=g.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8),
        y_train=g.integers(0, 10, 60),
        x_test=g.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8),
        y_test=g.integers(0, 10, 20),
    )
    return path


OPENSTL = (
    "render.background.kind=openstl-cifar",
    "canvas.height=64",
    "canvas.width=64",
    "sequence.length=20",
    "digits.size=null",
    "splits.train.pool=train[:40]",
    "splits.val.pool=train[40:]",
    "splits.test.pool=test",
)


def test_the_openstl_cifar_recipe_transcribed_gives_our_frames(tmp_path: Path) -> None:
    npz = _cifar_like(tmp_path / "cifar.npz")
    cfg = small_config(*OPENSTL)
    cfg = small_config(*OPENSTL, "render.background.source.kind=npz", f"render.background.source.path={npz}")
    assert cfg.render.background.binarize and cfg.render.combine == "max"
    chunk = generate(cfg, pool_for(cfg, "test"), "test", np.arange(4))
    digits = open_source(cfg.source).load("test").images  # synthetic grey 28x28
    cifar = open_source(cfg.render.background.source).load("test").images
    assert chunk.background_index is not None and np.asarray(chunk.frames).shape == (4, 20, 64, 64, 3)
    for i in range(4):
        pos = chunk.positions[i].transpose(1, 0, 2)  # [K, T, 2]
        ref = openstl_frames(
            digits[chunk.source_index[i]], pos[..., 0], pos[..., 1], cifar[chunk.background_index[i]], 20
        )
        assert np.array_equal(np.asarray(chunk.frames)[i], ref), i


def test_openstl_cifar_through_tfds_cifar10_mocked(tmp_path: Path) -> None:
    import tensorflow_datasets as tfds

    from movmnist.sources import tfds as tfds_source
    from tests.sources.test_tfds import write_mock_metadata

    data_dir = tmp_path / "tfds"
    write_mock_metadata(data_dir, "cifar10", {"train": 50000, "test": 10000})
    with tfds.testing.mock_data(num_examples=30, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(data_dir)):
        tfds_source.fetch("cifar10", data_dir)
    sets = [*OPENSTL[:4], "splits.train.pool=train[:20]", "splits.val.pool=train[20:]", "splits.test.pool=test"]
    sets += [
        f"render.background.source.data_dir={data_dir}",
        "splits.train.sequences=0",
        "splits.val.sequences=0",
        "splits.test.sequences=16",
    ]
    out = tmp_path / "d"
    result = CliRunner().invoke(
        cli, ["build", "-o", str(out), "-q", "-j", "1", "--set=source.kind=synthetic", *[f"--set={s}" for s in sets]]
    )
    assert result.exit_code == 0, result.output
    cifar = tfds_source.open_tfds("cifar10", data_dir).load("test").images
    with movmnist.open(out) as ds:
        frames = ds["test"][:]
        index = ds["test"].read("background_index", slice(None))
    assert frames.shape == (16, 20, 64, 64, 3) and index.dtype == np.int32 and index.min() >= 0 and index.max() < 30
    below = np.repeat(resize_cubic(cifar[index], (64, 64))[:, None], 20, axis=1)
    assert (frames >= below).all() and (frames == below).mean() > 0.5


def test_a_build_stores_the_procedural_backgrounds_with_the_same_bytes_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config("render.background.kind=image", *COLOUR, "render.background.drift=1.5", "splits.val.sequences=0")
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert {"frames", "background_index", "background_shift"} <= set(stored)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("render.background=cifar", "render.background.kind must be 'none', 'image' or 'openstl-cifar' (got 'cifar')"),
        ("render.background.drift=-1", "render.background.drift must be >= 0"),
        ("render.background.pool=tr ain", "render.background.pool must look like 'train'"),
        ("render.background.kind=picture", "render.background.kind must be"),
        ("render.background.source.kind=npz", "render.background.source.path is required for kind 'npz'"),
    ],
)
def test_bad_background_values_are_one_line_and_exit_2(value: str, says: str) -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--set", "render.background.kind=image", "--set", value])
    assert result.exit_code == 2 and says in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_background_pool_past_its_source_is_one_line(tmp_path: Path) -> None:
    npz = _cifar_like(tmp_path / "small.npz")
    sets = ["render.background.kind=image", "render.background.source.kind=npz", f"render.background.source.path={npz}"]
    sets += ["source.kind=synthetic", "render.background.pool=train[:100]"]
    result = CliRunner().invoke(cli, ["build", "-o", str(tmp_path / "d"), "-q", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 2 and "render.background: pool train[:100] ends past" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


# mmnist++ (warped digits): the same rules beneath the digits as drawn alone, per combine rule.
WARPED = {
    "max": ("render.background.source.colour=true", "render.background.drift=2"),
    "sum": ("render.background.source.colour=true",),
    "over": ("render.background.drift=1",),  # a grey background: the frames stay grey
}


@pytest.mark.parametrize("combine", list(WARPED))
def test_warped_digits_take_the_background_beneath_and_keep_every_other_array(combine: str) -> None:
    sets = (
        "motion.preset=mmnist++",
        f"render.combine={combine}",
        "digits.count=[1, 3]",
        "annotations.tracks=4",
        "annotations.flow=true",
    )
    cfg, on, off = _pair("render.background.source.kind=synthetic", *sets, *WARPED[combine], n=8)
    frames, below = np.asarray(on.frames), _beneath(cfg, "train", on)
    grey = np.asarray(off.frames)
    assert grey.ndim == 4 and frames.shape == below.shape
    ink = grey if below.ndim == 4 else np.repeat(grey[..., None], 3, axis=-1)
    assert on.masks is not None and (on.masks > 0).any() and (on.masks == 0).any()
    if combine == "max":  # the background never lowers a digit's ink, and shows where it is brighter
        assert (frames >= ink).all() and (frames >= below).all()
        assert np.array_equal(frames[ink > below], ink[ink > below])
        assert np.array_equal(frames, np.maximum(ink, below))
    elif combine == "sum":
        assert np.array_equal(frames, np.minimum(ink.astype(np.int64) + below, 255))
    else:
        assert np.array_equal(frames, np.where(ink > 0, ink, below))
    assert np.array_equal(frames[on.masks == 0], below[on.masks == 0])  # no digit: the background alone
    assert (on.background_shift is None) == (combine == "sum")
    drawn = ("frames", "background_index", "background_shift")
    for name in (f.name for f in dataclasses.fields(Chunk) if f.name not in drawn):
        assert np.asarray(getattr(on, name)).tobytes() == np.asarray(getattr(off, name)).tobytes(), name
    assert on.tracks is not None and (combine != "over" or on.z_order is not None)


def test_a_build_stores_the_procedural_warped_digits_over_backgrounds_on_1_or_2_workers(tmp_path: Path) -> None:
    cfg = small_config(
        "motion.preset=mmnist++",
        "render.background.kind=image",
        "render.background.source.kind=synthetic",
        "render.background.source.colour=true",
        "render.background.drift=1.5",
        "splits.val.sequences=0",
        "splits.train.sequences=12",
        "splits.test.sequences=8",
    )
    built, fresh = built_on_1_and_2_workers(cfg, tmp_path)
    for split in ("train", "test"):
        stored = stored_as_computed(built, fresh, split)
        assert {"background_index", "background_shift"} <= set(stored)
        assert stored["frames"].shape[-1] == 3
