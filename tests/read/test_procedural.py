"""Procedural datasets: the items of a build, generated on the fly, byte for byte; and epochs.

Each config is built (tiny, several shards) and its procedural twin compared with the shards
item by item, in every view, as single items and as batches; every annotation and the events.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pytest

import movmnist
from movmnist.builder import build
from movmnist.config.load import load_config
from movmnist.config.presets import PRESETS
from movmnist.errors import ConfigError, DatasetError
from movmnist.read.dataset import Dataset
from movmnist.read.procedural import ProceduralDataset, ProceduralSplit
from movmnist.read.views import SplitView
from tests.conftest import small_config

ROOT = Path(__file__).resolve().parents[2]
# Tiny splits in shards of 3, chunks of 2: items cross shard and chunk boundaries.
TINY = (
    "splits.train.sequences=5",
    "splits.val.sequences=3",
    "splits.test.sequences=7",
    "output.shard_size=3",
    "build.chunk_size=2",
)
NAMES = ("trajectories", "velocities", "boxes", "amodal_boxes", "masks", "visibility", "events")
CONFIGS: dict[str, tuple[str, ...]] = {
    "small, every annotation": (),
    "3 digits": ("digits.count=3",),
    "rgb synthetic": ("source.colour=true",),
    "1 to 3 digits, over, wrap": ("digits.count=[1, 3]", "render.combine=over", "motion.boundary=wrap"),
    "bounce on ink, speed range": (
        "render.bounce_on=ink",
        "motion.boundary=bounce",
        "motion.speed=[0.05, 0.3]",
    ),
    "acceleration, no annotations": ("motion.acceleration=0.02", *(f"annotations.{a}=false" for a in NAMES)),
    "digits.assign each": ("digits.assign=each",),
    "open walls": ("motion.boundary=open",),
    "flow, sum, open walls, rgb": (
        "annotations.flow=true",
        "render.combine=sum",
        "motion.boundary=open",
        "source.colour=true",
    ),
    "tracks, over, open walls, rgb, 1 to 3 digits": (
        "annotations.tracks=5",
        "render.combine=over",
        "motion.boundary=open",
        "source.colour=true",
        "digits.count=[1, 3]",
    ),
    "tracks, mmnist++, sum": ("annotations.tracks=4", "motion.preset=mmnist++", "render.combine=sum"),
    "flow, mmnist++, over": ("annotations.flow=true", "motion.preset=mmnist++", "render.combine=over"),
    **{f"preset {name}": (f"motion.preset={name}",) for name in PRESETS},
}


def same(a: Any, b: Any, where: str) -> None:
    """a and b are the same item: the same structure, dtypes, shapes and bytes (NaN included)."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for name in a:
            same(a[name], b[name], f"{where} {name}")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for j, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where} [{j}]")
    else:
        assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        assert a.tobytes() == b.tobytes(), f"{where}: bytes differ"


def assert_matches_build(built: Dataset, generated: ProceduralDataset) -> None:
    assert list(built) == list(generated)
    g = np.random.default_rng(17)
    for name in built:
        stored, fresh = built[name].with_annotations(), generated[name].with_annotations()
        assert len(stored) == len(fresh) and stored.shape == fresh.shape
        assert stored.annotation_names == fresh.annotation_names
        for i in g.permutation(len(stored))[:4]:
            same(stored[int(i)], fresh[int(i)], f"{name}[{i}]")
        same(stored[:], fresh[:], f"{name}[:]")
        picks = g.integers(-len(stored), len(stored), 6)  # unsorted, negative, repeated
        same(stored[picks], fresh[picks], f"{name}[{picks.tolist()}]")
        singles = [fresh[int(i)] for i in picks]
        same(fresh[picks]["frames"], np.stack([s["frames"] for s in singles]), f"{name} batch vs items")
        same(built[name][1:4], generated[name][1:4], f"{name} frames only")
        same(built[name].with_input_frames(2)[0], generated[name].with_input_frames(2)[0], f"{name} input/target")
        same(generated[name].epoch(0)[:], built[name][:], f"{name} epoch 0")
        assert stored.has_events == fresh.has_events
        if stored.has_events:
            same(stored.events(), fresh.events(), f"{name} events")
            same(stored.events([2, 0, 2]), fresh.events([2, 0, 2]), f"{name} events of [2, 0, 2]")
        np.testing.assert_array_equal(stored.digit_boxes(slice(None)), fresh.digit_boxes(slice(None)))


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_procedural_items_are_the_built_items(overrides: tuple[str, ...], tmp_path: Path) -> None:
    cfg = small_config(*TINY, *overrides)
    build(cfg, tmp_path / "d", workers=1)
    assert_matches_build(movmnist.open(tmp_path / "d"), movmnist.procedural(cfg))


def test_the_default_config_on_real_mnist(mnist_dir: Path, tmp_path: Path) -> None:
    over = ["source.kind=idx", f"source.path={mnist_dir}", *TINY]
    cfg = load_config(str(ROOT / "configs" / "default.yaml"), over)
    build(cfg, tmp_path / "d", workers=1)
    generated = movmnist.procedural(ROOT / "configs" / "default.yaml", set=over)
    assert generated["test"].shape == (7, 20, 64, 64)
    assert_matches_build(movmnist.open(tmp_path / "d"), generated)


def test_options_paths_and_errors(tmp_path: Path) -> None:
    ds = movmnist.procedural(ROOT / "configs" / "demo.yaml", set=["splits.train.sequences=9"], input_frames=5)
    assert repr(ds) == "<movmnist procedural dataset: train=9, val=200, test=500; sequence (20, 64, 64)>"
    x, y = ds["train"][0:3]
    assert x.shape == (3, 5, 64, 64) and y.shape == (3, 15, 64, 64) and x.dtype == np.uint8
    assert (
        repr(ds["val"]) == "<movmnist procedural split 'val': 200 sequences of 20x64x64 uint8, epoch 0; input_frames=5>"
    )
    assert not ds.synthetic and ds.sprite_size == (28, 28)  # the demo draws the shipped MNIST sample
    one = movmnist.procedural(small_config(), set="digits.count=3")  # a Config, and one override as a string
    assert one["test"].read("labels", 0).shape == (3,)
    with pytest.raises(
        DatasetError, match=r"split 'nope' is not in this procedural dataset \(it has: train, val, test\)"
    ):
        ds["nope"]
    with pytest.raises(ConfigError, match=r"shares source images with splits\.train\.pool"):
        movmnist.procedural(small_config("splits.val.pool=train[:-10]"))
    with pytest.raises(ConfigError, match=r"digits.size must fit the canvas \(40x40\)"):
        movmnist.procedural(small_config("digits.size=48"))
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        ds["train"].epoch(-1)
    with pytest.raises(DatasetError, match="has no events"):
        movmnist.procedural(small_config("annotations.events=false"))["test"].events()
    assert len(movmnist.procedural(small_config("digits.assign=each", "splits.val.sequences=all"))["val"]) == 200
    assert movmnist.procedural(small_config())["test"][5:5].shape == (0, 6, 40, 40)


# --- epochs ------------------------------------------------------------------------------


EPOCHS = ("splits.test.sequences=12",)


@pytest.fixture(scope="module")
def train() -> ProceduralSplit:
    """A split to train on (test's pool: the fastest to load in a spawned worker)."""
    return movmnist.procedural(small_config(*EPOCHS))["test"]


def test_epochs_are_fresh_deterministic_draws(train: ProceduralSplit, tmp_path: Path) -> None:
    e0, e1, e2 = (train.epoch(e).with_annotations()[:] for e in (0, 1, 2))
    for a, b in ((e0, e1), (e0, e2), (e1, e2)):
        for name in ("frames", "positions", "source_index"):
            assert (a[name] != b[name]).any(axis=tuple(range(1, a[name].ndim))).all(), name  # every sequence differs
    again = movmnist.procedural(small_config(*EPOCHS))["test"].epoch(1).with_annotations()
    same(again[:], e1, "epoch 1, another process's view")
    same(again[[7, 3]], {k: v[[7, 3]] for k, v in e1.items()}, "epoch 1 items")  # keyed per sequence
    clone = pickle.loads(pickle.dumps(train.epoch(2)))
    assert clone.epoch_number == 2 and len(pickle.dumps(train.epoch(2))) < 10_000  # the config, not the pool
    same(clone[:], e2["frames"], "epoch 2, unpickled")
    assert "epoch 2" in repr(clone)
    build(small_config(*EPOCHS), tmp_path / "d", workers=1)
    built = movmnist.open(tmp_path / "d")["test"]
    assert built.epoch(0) is built
    with pytest.raises(DatasetError, match="a built dataset holds epoch 0 only"):
        built.epoch(1)


def test_streams_batch_an_epoch_in_order(train: ProceduralSplit) -> None:
    stream = train.epoch(3).stream(5)
    assert len(stream) == 3 and len(train.epoch(3).stream(5, drop_last=True)) == 2
    batches = list(stream)
    assert [len(b) for b in batches] == [5, 5, 2]
    same(np.concatenate(batches), train.epoch(3)[:], "stream")
    split_up = [list(stream.batches(w, 2)) for w in (0, 1)]
    assert [len(p) for p in split_up] == [2, 1]
    same(split_up[1][0], batches[1], "worker 1's first batch")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        train.stream(0)


@runtime_checkable
class RandomAccessDataSource(Protocol):
    """Grain's protocol for a data source (grain.python.RandomAccessDataSource), as it states it."""

    def __len__(self) -> int: ...
    def __getitem__(self, record_key: int) -> Any: ...


def test_a_split_is_a_grain_random_access_data_source(train: ProceduralSplit) -> None:
    assert isinstance(train, RandomAccessDataSource) and isinstance(train, SplitView)
    same(train[np.int64(3)], train[:][3], "record key 3")


# --- PyTorch -----------------------------------------------------------------------------


def _loaded(data: Any, workers: int, context: str | None = None, **kw: Any) -> np.ndarray:
    torch = pytest.importorskip("torch")
    loader = torch.utils.data.DataLoader(data, num_workers=workers, multiprocessing_context=context, **kw)
    return torch.cat([batch if isinstance(batch, torch.Tensor) else batch[0] for batch in loader]).numpy()


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_dataloader_workers_give_the_same_epochs(train: ProceduralSplit, workers: int) -> None:
    for e in (1, 2):
        want = train.epoch(e)[:]
        same(_loaded(train.epoch(e), workers, batch_size=5), want, f"map-style, epoch {e}")
        same(_loaded(train.epoch(e).stream(5).for_torch(), workers, batch_size=None), want, f"stream, epoch {e}")
    pairs = train.epoch(1).with_input_frames(2).stream(4).for_torch(floats=True)
    x = _loaded(pairs, workers, batch_size=None)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, train.epoch(1)[:][:, :2] / np.float32(255))


@pytest.mark.parametrize("context", ["spawn", "forkserver"])
def test_dataloader_start_methods_give_the_same_epoch(train: ProceduralSplit, context: str) -> None:
    want = train.epoch(2)[:]
    same(_loaded(train.epoch(2).stream(3).for_torch(), 2, context, batch_size=None), want, f"{context}, stream")


def test_items_read_in_order_come_from_the_read_ahead(train: ProceduralSplit) -> None:
    whole = train.epoch(4).with_annotations()
    batch = whole[:]
    for i in [*range(len(whole)), 3, 0, 11, 11, 10]:  # in order (read ahead), then at random
        same(whole[i], {k: v[i] for k, v in batch.items()}, f"item {i}")
    item = whole[5]  # from the read-ahead block: a copy, the caller's to change
    item["frames"][:] = 255
    same(whole[5], {k: v[5] for k, v in batch.items()}, "item 5 after its copy was changed")
    frames = train.epoch(4)
    same(np.stack([frames[i] for i in range(len(frames))]), batch["frames"], "frames only, in order")


# --- the README and the CLI --------------------------------------------------------------


def test_the_readme_training_example_runs(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Training on the fly\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    demo = (ROOT / "configs" / "demo.yaml").read_text()
    assert "train: {sequences: 2000," in demo and '"configs/demo.yaml"' in code and "range(200)" in code
    small = tmp_path / "demo.yaml"
    small.write_text(demo.replace("train: {sequences: 2000,", "train: {sequences: 64,"))
    namespace: dict[str, Any] = {}
    exec(code.replace('"configs/demo.yaml"', repr(str(small))).replace("range(200)", "range(2)"), namespace)
    assert namespace["loss"].item() >= 0 and namespace["epoch"] == 1
    train = namespace["train"]
    assert len(train) == 64 and train.input_frames == 10


def test_bench_loader_prints_what_a_loop_receives(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from movmnist.cli import cli

    (tmp_path / "c.yaml").write_text(
        "source: {kind: synthetic}\ncanvas: {height: 40, width: 40}\ndigits: {size: 14}\n"
        "splits: {train: {sequences: 70, pool: 'train[:500]'}, val: {sequences: 0}, test: {sequences: 5}}\n"
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["bench-loader", str(tmp_path / "c.yaml"), "--batch", "32", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["sequences"], data["batches"], data["workers"], data["epoch"]) == (70, 3, 0, 1)
    assert data["sequences_per_second"] > 0
    result = runner.invoke(cli, ["bench-loader", str(tmp_path / "c.yaml"), "--sequences", "40", "--floats"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("train, epoch 1: 64 sequences in 2 batches of 32 (float32 tensors, in process) in ")
    result = runner.invoke(cli, ["bench-loader", str(tmp_path / "c.yaml"), "--split", "val"])
    assert result.exit_code == 2  # a flag error, as for every --split
    assert result.output == "Error: split 'val' is not in this procedural dataset (it has: train, test)\n"
    if importlib.util.find_spec("torch") is not None:
        result = runner.invoke(cli, ["bench-loader", str(tmp_path / "c.yaml"), "--workers", "1", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["sequences"] == 70


def test_torch_tensors_pack_an_items_frames(train: ProceduralSplit) -> None:
    torchdata = pytest.importorskip("movmnist.read.torchdata")  # needs torch
    pair = train.with_input_frames(2)[0:3]
    for shared in (False, True):
        x, y = torchdata.tensors(pair, floats=True, shared=shared)
        assert (
            x.is_contiguous() and y.is_contiguous() and x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr()
        )
        same((x.numpy(), y.numpy()), (pair[0] / np.float32(255), pair[1] / np.float32(255)), "float pair")
        item = train.with_annotations()[1:3]
        got = torchdata.tensors(item, shared=shared)
        same({k: v.numpy() for k, v in got.items()}, item, "annotated batch as tensors")
    same(torchdata.tensors(train[:2]).numpy(), train[:2], "bare frames")


def test_items_drawn_from_cached_scenes_are_the_generators(monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames-only reads come from a block's planned motion (`SCENE` sequences a block, the last
    `SCENES` kept): runs across block edges, shuffled indices and evicted blocks give the
    generator's own bytes."""
    from movmnist.core.generate import generate
    from movmnist.read import procedural

    monkeypatch.setattr(procedural, "SCENE", 4)
    monkeypatch.setattr(procedural, "SCENES", 2)
    cfg = small_config("annotations.masks=false", "annotations.boxes=false", "annotations.visibility=false")
    split = ProceduralDataset(cfg)["test"].epoch(2)
    assert split._lazy
    idx = np.array([7, 2, 3, 4, 5, 9, 0, 1, 15, 14, 13])
    expect = generate(cfg, split.pool(), "test", idx, epoch=2)
    assert np.array_equal(split[idx], expect.frames)
    assert np.array_equal(split.read("labels", idx), expect.labels)
    assert len(split._scenes) == 2  # bounded
    assert all(np.array_equal(split[int(i)], expect.frames[j]) for j, i in enumerate(idx))
    assert np.array_equal(split[3:9], generate(cfg, split.pool(), "test", np.arange(3, 9), epoch=2).frames)
    assert split[5:5].shape[0] == 0
