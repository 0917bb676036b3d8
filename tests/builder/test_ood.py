"""Out-of-distribution suites (ood-*): the variants' files, the leakage report from the built data,
and a suite that leaks refused. Their pinned digests are checked with the other packs (test_packs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.builder.leakage import LeakageError, Observed, protocol_report, shared
from movmnist.builder.pack import make_pack, pack_config
from movmnist.cli import cli
from movmnist.config.packs import CATALOGUE, PACKS, VARIES, Protocol
from movmnist.errors import ConfigError
from movmnist.sources.idx import SPLIT_FILES
from movmnist.sources.tfds.cache import CACHE_FORMAT, cache_path, write_cache
from movmnist.tools.score import read_pack
from tests.sources.test_sources import idx_bytes
from tests.sources.test_tfds import closed_port

SUITES = [p.name for p in CATALOGUE if p.protocols]


def test_the_catalogue_rows_of_the_suites_agree() -> None:
    assert {"ood-digits", "ood-length"} <= set(SUITES)
    for name in SUITES:
        pack = PACKS[name]
        variants = {v.name for v in pack.variants}
        assert len(variants) == len(pack.variants)
        assert {f.variant for f in pack.files} == {"", *variants}  # every variant is written, and only those
        paths = {f.path for f in pack.files}
        for protocol in pack.protocols:
            assert protocol.varies in VARIES and set(protocol.train) | set(protocol.test) <= paths
        assert pack.target in paths


@pytest.fixture
def built(small_packs: dict[str, dict[str, Any]]) -> dict[str, Path]:
    return {name: small_packs[name]["dir"] for name in SUITES}


# (pack, file) -> (frames, digit counts) of the small build
LAYOUT = {
    ("ood-digits", "train.npy"): (20, 4, [2]),
    ("ood-digits", "test.npy"): (20, 3, [2]),
    ("ood-digits", "test-1digit.npy"): (20, 3, [1]),
    ("ood-digits", "test-3digits.npy"): (20, 3, [3]),
    ("ood-digits", "test-4digits.npy"): (20, 3, [4]),
    ("ood-length", "train.npy"): (20, 4, [2]),
    ("ood-length", "test.npy"): (20, 2, [2]),
    ("ood-length", "test-40frames.npy"): (40, 2, [2]),
    ("ood-length", "test-100frames.npy"): (100, 2, [2]),
    ("ood-speed", "train-slow.npy"): (20, 4, [2]),
    ("ood-speed", "test-slow.npy"): (20, 3, [2]),
    ("ood-speed", "train-fast.npy"): (20, 4, [2]),
    ("ood-speed", "test-fast.npy"): (20, 3, [2]),
    ("ood-speed", "test-middle.npy"): (20, 3, [2]),
    ("ood-sprites", "train.npy"): (20, 4, [2]),
    ("ood-sprites", "test.npy"): (20, 3, [2]),
    ("ood-sprites", "test-glyphs.npy"): (20, 3, [2]),
    ("ood-sprites", "test-fashion.npy"): (20, 3, [2]),  # the small build draws it from the glyphs
}
SPEEDS = {"slow": (0.03, 0.07), "middle": (0.08, 0.12), "fast": (0.13, 0.17)}


@pytest.mark.parametrize(("name", "path"), list(LAYOUT))
def test_each_file_is_its_variants_split_in_the_srivastava_layout(built: dict[str, Path], name: str, path: str) -> None:
    frames, n, counts = LAYOUT[name, path]
    array = np.load(built[name] / path)
    assert array.dtype == np.uint8 and array.shape == (frames, n, 64, 64)  # [T, N, H, W], time-major
    spec = next(f for f in PACKS[name].files if f.path == path)
    split = movmnist.procedural(pack_config(name, PACKS[name].small, spec.variant))[spec.split]
    np.testing.assert_array_equal(array, np.moveaxis(split[:], 0, 1))  # the variant's build, byte for byte
    labels = split.with_annotations()[:]["labels"]
    assert sorted(set((labels != -1).sum(axis=1).tolist())) == counts


@pytest.mark.parametrize("name", ["ood-digits", "ood-length", "ood-speed", "ood-sprites"])
def test_the_report_is_read_from_the_built_data(built: dict[str, Path], name: str) -> None:
    reports = read_pack(built[name])["protocols"]
    assert [r["name"] for r in reports] == [p.name for p in PACKS[name].protocols]
    sprites = name == "ood-sprites"  # the MNIST sample against the synthetic glyphs: other sources
    for report in reports:
        assert not report["leak"] and all(not p["leak"] and p["same_source"] != sprites for p in report["pairs"])
        for path, seen in report["observed"].items():
            frames, n, counts = LAYOUT[name, path]
            assert (seen["frames"], seen["sequences"], seen["digits"]) == (frames, n, counts)
            source = "sample/mnist-sample" if sprites and path == "train.npy" else "synthetic"
            assert seen["source"] == source and seen["images"] > 0
            if name != "ood-speed":
                assert seen["speed"] is None  # velocities not stored
                continue
            lo, hi = SPEEDS[path.split("-")[1].removesuffix(".npy")]
            assert lo <= seen["speed"][0] < seen["speed"][1] < hi  # the |velocity| drawn, as stored


@pytest.mark.parametrize(
    ("name", "leak", "message"),
    [
        (
            "ood-digits",
            "digits.count=[2, 3]",
            "protocol 2-to-1-3-4-digits trains on train.npy and tests on test-3digits.npy, which share digits [3]",
        ),
        (
            "ood-length",
            "sequence.length=40",
            "protocol 20-to-40-100-frames trains on train.npy and tests on test-40frames.npy, which share length [40]",
        ),
        (  # the slow train's draws stay below 0.13; the slow test's reach into the fast train's range
            "ood-speed",
            "motion.speed=[0.03, 0.15]",
            "protocol fast-to-slow trains on train-fast.npy and tests on test-slow.npy, which share speed"
            " [0.132991, 0.146841]",
        ),
        (
            "ood-sprites",
            "source.kind=synthetic",
            "protocol mnist-to-glyphs trains on train.npy and tests on test-glyphs.npy, which share source"
            " ['synthetic']",
        ),
    ],
)
def test_a_suite_that_leaks_is_refused(tmp_path: Path, name: str, leak: str, message: str) -> None:
    with pytest.raises(LeakageError) as err:
        make_pack(name, tmp_path, (*PACKS[name].small, leak), workers=1)
    text = str(err.value)
    assert text.startswith(f"pack {name} leaks: {message}") and text.endswith(
        "drop the --set overrides that make them meet"
    )
    assert err.value.exit_code == 2
    assert not list(tmp_path.iterdir())  # neither the pack nor its staging


def test_the_cli_prints_the_report_and_refuses_a_leak_in_one_line(tmp_path: Path) -> None:
    small = [w for item in PACKS["ood-length"].small for w in ("--set", item)]
    runner = CliRunner()
    result = runner.invoke(cli, ["pack", "ood-length", "-o", str(tmp_path), "-q", "-j", "2", *small])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "protocol 20-to-40-100-frames (varies length): no leakage" in lines
    assert "  train.npy -> test-100frames.npy: shared length none, shared images 0" in lines
    assert lines[-1] == f"digest {PACKS['ood-length'].small_digest}"  # -j 2, the digest pinned with -j 1
    leak = runner.invoke(
        cli, ["pack", "ood-length", "-o", str(tmp_path / "b"), "-q", *small, "--set", "sequence.length=100"]
    )
    assert leak.exit_code == 2 and len(leak.output.splitlines()) == 1
    assert "which share length [100]; drop the --set overrides that make them meet" in leak.output


def _seen(source: str = "idx", images: tuple[int, ...] = (1, 2, 3), pool: str = "train", **kw: Any) -> Observed:
    fields: dict[str, Any] = {"sequences": 3, "frames": 20, "digits": (2,), "speed": (0.03, 0.07)} | kw
    return Observed(**fields, source=source, source_id=source, pool=pool, images=np.array(images))


def test_pools_are_compared_within_one_split_of_one_source_only() -> None:
    protocol = Protocol("p", "digits", ("a",), ("b",))
    report = protocol_report(protocol, {"a": _seen(), "b": _seen(images=(3, 4), digits=(3,))})
    assert report["leak"] and report["pairs"][0]["shared_images"] == 1 and report["pairs"][0]["shared_digits"] == []
    other = protocol_report(protocol, {"a": _seen(), "b": _seen("synthetic", images=(3, 4), digits=(3,))})
    assert not other["leak"] and other["pairs"][0]["shared_images"] == 0
    # image 3 of the train split and image 3 of the test split are different images (the full-size
    # MNIST build of ood-digits was refused for 734 such "shared" indices before pools were told apart)
    split = protocol_report(protocol, {"a": _seen(), "b": _seen(images=(3, 4), pool="test", digits=(3,))})
    assert not split["leak"] and split["pairs"][0]["shared_images"] == 0


def test_each_property_is_disjoint_or_shared() -> None:
    a = _seen()
    assert shared("speed", a, _seen(speed=(0.13, 0.17))) == []
    assert shared("speed", a, _seen(speed=(0.06, 0.1))) == [0.06, 0.07]
    assert shared("digits", a, _seen(digits=(1, 2))) == [2]
    assert shared("length", a, _seen(frames=40)) == []
    assert shared("source", a, _seen("synthetic")) == [] and shared("source", a, _seen()) == ["idx"]
    other = Observed(**{**a.__dict__, "source_id": "other images"})  # also "idx": MNIST and Fashion-MNIST files
    assert other.source == "idx" and shared("source", a, other) == []
    with pytest.raises(ConfigError, match=r"needs annotations\.velocities: true"):
        shared("speed", a, _seen(speed=None))


# --- ood-sprites' Fashion-MNIST file, offline ----------------------------------------------

SPRITES = tuple(o for o in PACKS["ood-sprites"].small if not o.startswith("fashion:"))  # fashion from its source


def _images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random 28x28 uint8 images (a stand-in for a real set's) and labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10


def _idx_folder(folder: Path, seed: int) -> Path:
    """The four MNIST-named IDX files (train 40, test 20 images) of random images."""
    folder.mkdir(parents=True)
    for k, (split, (images_name, labels_name)) in enumerate(SPLIT_FILES.items()):
        x, y = _images(40 if split == "train" else 20, seed * 10 + k)
        (folder / images_name).write_bytes(idx_bytes(x))
        (folder / labels_name).write_bytes(idx_bytes(y))
    return folder


def _fashion_report(data: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in data["protocols"] if r["name"] == "mnist-to-fashion")


def test_ood_sprites_tests_on_fashion_mnist_from_the_tfds_cache(tmp_path: Path) -> None:
    """fashion_mnist as `movmnist fetch` leaves it in TFDS's data dir (the cache laid out as files)."""
    data_dir = tmp_path / "tfds"
    parts = {"train": _images(40, 1), "test": _images(20, 2)}
    arrays = {f"{s}-{kind}": a for s, (x, y) in parts.items() for kind, a in (("images", x), ("labels", y))}
    splits = {s: {"count": len(y), "image_shape": [28, 28], "dtype": "uint8"} for s, (_, y) in parts.items()}
    meta = {"format": CACHE_FORMAT, "name": "fashion_mnist", "splits": splits}
    write_cache(cache_path("fashion_mnist", data_dir), arrays, meta)
    overrides = (*SPRITES, f"source.data_dir={data_dir}")  # a tfds-only field: the sample base ignores it
    data = make_pack("ood-sprites", tmp_path / "out", overrides, workers=1)
    report = _fashion_report(data)
    assert report["observed"]["test-fashion.npy"]["source"] == "tfds/fashion_mnist"
    assert report["observed"]["train.npy"]["source"] == "sample/mnist-sample"
    assert not report["leak"] and report["pairs"][0]["same_source"] is False
    cfg = pack_config("ood-sprites", overrides, "fashion")
    assert (cfg.source.kind, cfg.source.name, cfg.splits.test.pool.split) == ("tfds", "fashion_mnist", "test")
    frames = np.load(tmp_path / "out" / "ood-sprites" / "test-fashion.npy")
    test = movmnist.procedural(cfg)["test"]
    np.testing.assert_array_equal(frames, np.moveaxis(test[:], 0, 1))
    used = test.with_annotations()[:]["source_index"]
    assert set(used.ravel().tolist()) <= set(range(20))  # indices into the 20 Fashion-MNIST test images
    offline = [
        f"--set=source.data_dir={tmp_path / 'empty'}",
        f"--set=fashion:source.mirror=http://127.0.0.1:{closed_port()}/",
    ]
    small = [f"--set={o}" for o in SPRITES]
    # not cached, and its download refused at once (a closed local port)
    missing = CliRunner().invoke(cli, ["pack", "ood-sprites", "-o", str(tmp_path / "b"), "-q", *small, *offline])
    assert missing.exit_code == 1 and len(missing.output.splitlines()) == 1
    assert missing.output.startswith("Error: could not download fashion_mnist")
    assert missing.output.rstrip().endswith(
        "(pack ood-sprites, variant fashion: prefix its --set items with fashion:, e.g."
        " --set fashion:source.kind=idx --set fashion:source.path=DIR)"
    )


def test_mnist_and_fashion_mnist_as_two_idx_folders_are_two_sources(tmp_path: Path) -> None:
    mnist, fashion = _idx_folder(tmp_path / "mnist", 1), _idx_folder(tmp_path / "fashion", 2)
    overrides = (
        "source.kind=idx",
        f"source.path={mnist}",
        "splits.train.sequences=4",
        "splits.test.sequences=3",
        "fashion:source.kind=idx",
        f"fashion:source.path={fashion}",
    )
    report = _fashion_report(make_pack("ood-sprites", tmp_path / "a", overrides, workers=1))
    seen = report["observed"]
    assert seen["train.npy"]["source"] == seen["test-fashion.npy"]["source"] == "idx"  # one kind, other images
    assert not report["leak"] and report["pairs"][0]["same_source"] is False
    with pytest.raises(
        LeakageError,
        match=r"mnist-to-fashion trains on train.npy and tests on test-fashion.npy, which"
        r" share source \['idx'\]",
    ):
        make_pack("ood-sprites", tmp_path / "b", (*overrides, f"fashion:source.path={mnist}"), workers=1)
    assert not (tmp_path / "b" / "ood-sprites").exists()


def test_an_override_of_one_variant_names_a_variant() -> None:
    assert pack_config("ood-speed", ("fast:seed=1",), "fast").seed == 1  # after the variant's own seed
    assert pack_config("ood-speed", ("fast:seed=1",), "middle").seed == 7203
    assert pack_config("ood-speed", ("fast:seed=1",)).seed == pack_config("ood-speed").seed
    with pytest.raises(
        ConfigError,
        match=r"^--set fash:seed=1: pack ood-sprites has no variant 'fash'; prefix one"
        r" of: glyphs, fashion$",
    ):
        pack_config("ood-sprites", ("fash:seed=1",))
    with pytest.raises(ConfigError, match="pack srivastava-test has no variant 'x'; prefix one of: none"):
        pack_config("srivastava-test", ("x:seed=1",))
