"""The compiled kernels (movmnist/core/_kernel.c) against the numpy paths they replace.

Both must give the same bytes for every config the kernels take (rendering: max, no mask,
no wrap; motion: the clamp-and-reverse walk), and the dispatch must leave the other cases
to numpy. The install compiles the kernel
(pyproject.toml); a test run without it fails here rather than measuring the wrong thing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from movmnist.config import Annotations
from movmnist.core import compiled
from movmnist.core.generate import draws_lazily, generate
from movmnist.core.pool import Pool
from tests.conftest import small_config

kernel = compiled.kernel


def test_the_install_built_the_kernel() -> None:
    assert kernel is not None, (
        "movmnist/core/_kernel.c did not compile (see pip's output); render.py runs its numpy path"
    )
    assert compiled.NAME == "C"


def _pool(size: int, colour: bool, blank: int, seed: int) -> Pool:
    """Random sprites with empty borders of random width; the first `blank` have no ink at all."""
    g = np.random.default_rng(seed)
    m = 40
    images = g.integers(0, 256, (m, size, size, 3) if colour else (m, size, size), dtype=np.uint8)
    for i in range(m):
        r0, c0 = g.integers(0, size // 2 + 1, 2)
        images[i, :r0], images[i, :, :c0] = 0, 0
    images[:blank] = 0
    return Pool(images=images, labels=g.integers(0, 10, m), source_index=np.arange(m, dtype=np.int64), spec="t")


def _both(cfg_overrides: tuple[str, ...], pool: Pool) -> tuple[dict, dict]:
    cfg = small_config(*cfg_overrides)
    idx = np.arange(3, 3 + 9)
    fast = generate(cfg, pool, "train", idx, out=np.full(9 * 10**5, 7, np.uint8))  # a dirty reused buffer
    fast_arrays = {f.name: np.array(getattr(fast, f.name)) for f in dataclasses.fields(fast)}
    with pytest.MonkeyPatch.context() as m:
        m.setattr(compiled, "kernel", None)
        slow = generate(cfg, pool, "train", idx)
    slow_arrays = {f.name: np.array(getattr(slow, f.name)) for f in dataclasses.fields(slow)}
    return fast_arrays, slow_arrays


@settings(max_examples=150, deadline=None)
@given(
    height=st.integers(12, 40),
    width=st.integers(12, 40),
    size=st.integers(3, 12),
    counts=st.tuples(st.integers(1, 3), st.integers(0, 2)),
    length=st.integers(2, 6),
    walls=st.sampled_from([("bounce", "patch"), ("bounce", "ink"), ("open", "patch"), ("wrap", "patch")]),
    colour=st.booleans(),
    blank=st.integers(0, 40),
    speed=st.sampled_from(["0.1", "0.6", "[0.05, 1.0]"]),
    motion=st.sampled_from([("srivastava", 0.0), ("srivastava", 0.05), ("tutorial", 0.0), ("tfds", 0.0)]),
    annotate=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_kernel_gives_the_numpy_bytes(
    height: int,
    width: int,
    size: int,
    counts: tuple[int, int],
    length: int,
    walls: tuple[str, str],
    colour: bool,
    blank: int,
    speed: str,
    motion: tuple[str, float],
    annotate: bool,
    seed: int,
) -> None:
    lo, extra = counts
    boundary, bounce_on = walls
    overrides = (
        f"canvas.height={height}",
        f"canvas.width={width}",
        f"digits.size={size}",
        f"digits.count=[{lo}, {lo + extra}]",
        f"sequence.length={length}",
        f"motion.boundary={boundary}",
        f"motion.speed={speed}",
        f"motion.preset={motion[0]}",
        f"motion.acceleration={motion[1]}",
        f"render.bounce_on={bounce_on}",
        f"seed={seed}",
        *(() if annotate else ("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false")),
    )
    fast, slow = _both(overrides, _pool(size, colour, blank, seed))
    assert fast.keys() == slow.keys()
    for name in fast:
        assert fast[name].tobytes() == slow[name].tobytes(), name


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(14, 40),
    counts=st.integers(1, 4),
    colour=st.booleans(),
    boundary=st.sampled_from(["bounce", "open"]),
    seed=st.integers(0, 2**16),
)
def test_kernel_masks_and_boxes_of_wide_digits(size: int, counts: int, colour: bool, boundary: str, seed: int) -> None:
    """Ink windows 16 to 32 pixels wide take the kernel's vector rows (mask and box scan): the
    numpy path's bytes too, for every mask-based annotation."""
    overrides = (
        "canvas.height=48",
        "canvas.width=56",
        f"digits.size={size}",
        f"digits.count={counts}",
        "sequence.length=4",
        f"motion.boundary={boundary}",
        "motion.speed=0.4",
        "annotations.masks=true",
        f"seed={seed}",
    )
    fast, slow = _both(overrides, _pool(size, colour, 0, seed))
    assert {"masks", "boxes", "visibility"} <= fast.keys()
    for name in fast:
        assert fast[name].tobytes() == slow[name].tobytes(), name


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-0.5, 1.5), min_size=2, max_size=12).filter(lambda v: len(v) % 2 == 0),
    st.integers(1, 30),
    st.booleans(),
    st.integers(0, 99),
)
def test_bounce_is_the_numpy_walk(values: list[float], length: int, accelerate: bool, seed: int) -> None:
    from movmnist.core.motion import dynamics

    m = len(values) // 2
    g = np.random.default_rng(seed)
    start = np.array(values).reshape(m, 2) % 1.0
    velocity = g.choice([0.1, 0.25, -0.3, 1.0 / 3, 0.5], (m, 2))  # steps that land exactly on the walls, too
    accel = g.normal(0, 0.2, (length, m, 2)) if accelerate else None
    fast = dynamics.srivastava(start, velocity, length, accel)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "kernel", None)
        slow = dynamics.srivastava(start, velocity, length, accel)
    for a, b in ((fast.position, slow.position), (fast.velocity, slow.velocity), (fast.hits, slow.hits)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_bounce_meets_both_walls() -> None:
    from movmnist.core.motion import dynamics

    path = dynamics.srivastava(np.array([[0.95, 0.05]]), np.array([[0.1, -0.1]]), 3)
    assert path.hits[0].tolist() == [[1, -1]] and path.position[0].tolist() == [[1.0, 0.0]]
    assert path.velocity[0].tolist() == [[-0.1, 0.1]]


def _args(n: int = 2, k: int = 2, clip: bool = False) -> list:
    """render_max arguments for 8x8 frames, 3 frames a sequence, 4 sprites of 3x3 (window 2x2)."""
    t, height, width, m, h = 3, 8, 8, 4, 3
    images = np.arange(m * h * h, dtype=np.uint8).reshape(m, h, h)
    return [
        np.zeros((n, t, height, width), np.uint8),
        images,
        np.zeros((n, k), np.int64),
        np.ones((n, t, k, 2), np.int64),
        np.ones(m, np.int64),
        np.ones(m, np.int64),
        *(n, t, height, width, 1, k, m, h, h, 2, 2),
        clip,
    ]


def test_kernel_pastes_the_ink_window_by_max() -> None:
    args = _args(n=1, k=2)
    args[2][:] = [[1, 3]]  # two different sprites at the same place: their max shows
    args[3][0, :, 1] = 5  # the second moves to (5, 5)
    kernel.render_max(*args)
    frames, images = args[0], args[1]
    assert (frames[0, :, 2:4, 2:4] == images[1, 1:3, 1:3]).all()
    assert (frames[0, :, 6:8, 6:8] == images[3, 1:3, 1:3]).all()
    assert frames[0].sum() == 3 * (int(images[1, 1:3, 1:3].sum()) + int(images[3, 1:3, 1:3].sum()))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a[2].__setitem__((0, 0), 4), "out of range"),  # sprite number >= m
        (lambda a: a[2].__setitem__((0, 0), -2), "out of range"),
        (lambda a: a[4].__setitem__(0, 2), "out of range"),  # window past the sprite's edge
        (lambda a: a[3].__setitem__((1, 2, 0, 0), 7), "sequence 1 leaves the canvas"),
        (lambda a: a.__setitem__(0, np.zeros(10, np.uint8)), "frames has 10 bytes"),
        (lambda a: a.__setitem__(3, np.ones((2, 3, 2, 2), np.int32)), "pixels has"),
        (lambda a: a.__setitem__(16, 4), "inconsistent sizes"),  # window taller than the sprite
    ],
)
def test_kernel_refuses_what_would_write_out_of_bounds(change, message: str) -> None:
    args = _args()
    change(args)
    with pytest.raises(ValueError, match=message):
        kernel.render_max(*args)


def test_clip_drops_what_leaves_the_canvas() -> None:
    args = _args(n=1, k=1, clip=True)
    args[3][0, :, 0, 0] = [-2, 7, 100]  # rows: window at -1 (half above), 8 (gone below), far away
    kernel.render_max(*args)
    frames, window = args[0][0], args[1][0, 1:3, 1:3]
    assert (frames[0, 0, 2:4] == window[1]).all() and frames[0].sum() == window[1].sum()
    assert frames[1].sum() == 0 and frames[2].sum() == 0


def test_frames_must_be_writable_and_the_pool_may_be_readonly() -> None:
    args = _args()
    args[1].setflags(write=False)
    kernel.render_max(*args)  # a read-only buffer is fine for the pool
    args[0].setflags(write=False)
    with pytest.raises((TypeError, BufferError, ValueError)):
        kernel.render_max(*args)


def test_lazy_frames_are_drawn_as_sliced_and_equal_the_eager_ones() -> None:
    off = (f"annotations.{name}={str(v).lower()}" for name, v in Annotations.none().model_dump().items())
    cfg = small_config(*off, "canvas.height=32", "canvas.width=32")
    pool = _pool(12, False, 3, 5)
    idx = np.arange(100, 137)
    eager = generate(cfg, pool, "val", idx)
    lazy = generate(cfg, pool, "val", idx, out=np.empty(37 * 32 * 32 * 64, np.uint8), lazy=True)
    assert not isinstance(lazy.frames, np.ndarray) and lazy.frames.shape == eager.frames.shape
    blocks = [np.array(lazy.frames[lo : lo + 8]) for lo in range(0, 37, 8)]
    assert np.concatenate(blocks).tobytes() == np.asarray(eager.frames).tobytes()
    assert lazy.labels.tobytes() == eager.labels.tobytes() and lazy.positions.tobytes() == eager.positions.tobytes()
    with pytest.raises(IndexError):
        lazy.frames[::2]


def test_lazy_is_eager_where_the_kernel_does_not_draw() -> None:
    pool = _pool(8, False, 0, 1)
    out = np.empty(10**6, np.uint8)
    masks_on = generate(small_config(), pool, "train", np.arange(5), out=out, lazy=True)  # masks: numpy path
    assert isinstance(masks_on.frames, np.ndarray)
    summed = small_config("render.combine=sum", "annotations.masks=false", "annotations.boxes=false")
    assert isinstance(generate(summed, pool, "train", np.arange(5), out=out, lazy=True).frames, np.ndarray)


@pytest.mark.parametrize(
    "overrides",
    [
        (),  # masks, boxes and visibility on: the numpy path
        ("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false"),
        ("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false", "motion.boundary=wrap"),
        ("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false", "render.combine=over"),
        (
            "annotations.masks=false",
            "annotations.boxes=false",
            "annotations.visibility=false",
            "motion.preset=mmnist++",
        ),
    ],
)
def test_draws_lazily_says_what_generate_does(overrides: tuple[str, ...]) -> None:
    # build.run_shard sizes its buffer by draws_lazily: a wrong answer would draw past it.
    cfg = small_config(*overrides)
    out = np.empty(10**6, np.uint8)
    frames = generate(cfg, _pool(8, False, 0, 1), "train", np.arange(5), out=out, lazy=True).frames
    assert draws_lazily(cfg) == (not isinstance(frames, np.ndarray))
