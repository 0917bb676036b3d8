"""The pack catalogue: every evaluation pack's name, what it reproduces, its files, and its pinned digests.

One row per pack, as data; the only home of the packs. `movmnist packs` prints it,
`movmnist pack NAME` builds a row (`builder.pack`), `movmnist score` reads a built pack's
manifest, and the tests pin the digests listed here. Each pack's dataset is one ordinary
config, `configs/packs/NAME.yaml`, built by the normal builder; the row says which files
its consumer reads, under their own names, and what is written into each.

File kinds (`PackFile.kind`):
- `npy-tnhw`: a split as one [T, N, H, W] (colour: [T, N, H, W, C]) uint8 .npy (Srivastava et al.'s
  `mnist_test_seq.npy`).
- `predrnn-npz`: a split as PredRNN's npz (`tools.exports.arrays.write_predrnn_npz`).
- `srvp-npz`: a split as SRVP's test npz: `sequences` [T, N, H, W] uint8, `latents` [T, N, K, 4]
  int64 (row, col, v_row, v_col in pixels), `labels` [N, K] uint8, `digits` [N, K, h, w] uint8.
- `idx-images`: the digits of the config's train pool as a gzipped IDX3 image file
  (OpenSTL generates its training sequences from it on the fly).

Out-of-distribution suites (`ood-*`, after Moving Symbols, rszeto/moving-symbols) hold
several distributions, and a config holds one: the YAML is the training distribution (with
an in-distribution test split), and each `Variant` is that config with its own `--set`
overrides, built by the normal builder into a dataset of its own; a `PackFile` names the
variant it is written from. The variant's overrides come after the user's, so that
`--set source.kind=idx` moves every variant to the IDX files but cannot change what a
variant varies; an override prefixed with a variant's name (`fashion:source.path=DIR`)
applies to that variant only, after its own (the leakage check still judges the result).
A `Protocol` names the training files, the test files and the property
they differ in (`VARIES`); `builder.leakage` checks that property, and the pools, on the
built data.

A digest is pinned for `SMALL` (the tests' sizes, on the built-in synthetic digits, which
every machine has), so that anyone can check their install reproduces it in seconds; the
full-size digest is computed when the pack is built (it needs the real MNIST) and printed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class PackFile:
    """One file of a pack: its path inside the pack's folder, its kind, and the split (or pool) it holds."""

    path: str
    kind: str  # npy-tnhw | predrnn-npz | srvp-npz | idx-images
    split: str  # a split name; for idx-images, the split whose pool's digits it holds
    variant: str = ""  # the Variant it is written from; "" the pack's config itself


@dataclass(frozen=True)
class Variant:
    """The pack's config with `overrides` (dotted `--set` items) on top of the user's: one more dataset."""

    name: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Protocol:
    """Train on the files `train`, test on the files `test`; they must differ in `varies` (one of VARIES)."""

    name: str
    varies: str
    train: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class Pack:
    """One evaluation pack.

    reproduces: the benchmark set it regenerates, and whose loader reads it.
    sizes: the full-size splits in words.
    target: the file `movmnist score` compares predictions with, and its input frames K
        (the first K frames are the model's input, the rest the frames to predict).
    small: the `--set` overrides of the tests' small build; small_digest: its pinned digest.
    variants, protocols: an out-of-distribution suite's other datasets and its train/test pairs.
    """

    name: str
    reproduces: str
    sizes: str
    files: tuple[PackFile, ...]
    target: str
    input_frames: int
    small: tuple[str, ...]
    small_digest: str
    variants: tuple[Variant, ...] = ()
    protocols: tuple[Protocol, ...] = ()

    @property
    def config(self) -> str:
        """The config's path, relative to the repository's root."""
        return f"configs/packs/{self.name}.yaml"


KINDS = ("npy-tnhw", "predrnn-npz", "srvp-npz", "idx-images")
# What a protocol's train and test files differ in, as observed in the built data:
# the digit counts (labels != -1), the frame count, the speed (|velocity|, config units:
# free ranges per frame), the source (its kind and name).
VARIES = ("digits", "length", "speed", "source")

_SYNTHETIC = ("source.kind=synthetic", "source.path=null")
_TEST_ONLY = "splits.train.sequences=0"

CATALOGUE: tuple[Pack, ...] = (
    Pack(
        "srivastava-test",
        "the layout of Srivastava et al. 2015's mnist_test_seq.npy (10,000 x 20 frames, MNIST-test digits),"
        " new draws of the same rules; code written for that file reads it unchanged",
        "test 10,000 x 20",
        (PackFile("mnist_test_seq.npy", "npy-tnhw", "test"),),
        target="mnist_test_seq.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.test.sequences=6"),
        small_digest="1173840a0cd56e2dd61bd43a31b528893bb510e165c6f81b95f059e12f18bae8",
    ),
    Pack(
        "openstl-mmnist",
        "OpenSTL's Moving MNIST (openstl/datasets/dataloader_moving_mnist.py): the fixed test file and the"
        " MNIST training digits it generates its training sequences from, under a data_root it reads",
        "test 10,000 x 20; train digits 60,000",
        (
            PackFile("moving_mnist/mnist_test_seq.npy", "npy-tnhw", "test"),
            PackFile("moving_mnist/train-images-idx3-ubyte.gz", "idx-images", "train"),
        ),
        target="moving_mnist/mnist_test_seq.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.test.sequences=6", "splits.train.pool=train[:50]"),
        small_digest="9e14bba8d74dc976f0b9773934ecdd2dd1fe7c0c24c55b940bbc63b861036653",
    ),
    Pack(
        "openstl-mfmnist",
        "OpenSTL's Moving Fashion-MNIST (data_name fmnist): the same rules on Fashion-MNIST, test digits"
        " from its test split (needs tensorflow-datasets' fashion_mnist: one download)",
        "test 10,000 x 20; train images 60,000",
        (
            PackFile("moving_fmnist/fmnist_test_seq.npy", "npy-tnhw", "test"),
            PackFile("moving_fmnist/train-images-idx3-ubyte.gz", "idx-images", "train"),
        ),
        target="moving_fmnist/fmnist_test_seq.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.test.sequences=6", "splits.train.pool=train[:50]"),
        small_digest="c75d75c4fc9e2cac6837a0e9362bc667b9a82a897d8105982edb47da385c61df",
    ),
    Pack(
        "openstl-mmnist-cifar",
        "OpenSTL's Moving MNIST on CIFAR-10 (data_name mnist_cifar): binarised digits over a static CIFAR-10"
        " image per sequence, bicubic to 64x64, per-channel max; backgrounds from CIFAR-10 test (needs"
        " tensorflow-datasets' cifar10 prepared)",
        "test 10,000 x 20 RGB; train digits 60,000",
        (
            PackFile("moving_mnist/mnist_cifar_test_seq.npy", "npy-tnhw", "test"),
            PackFile("moving_mnist/train-images-idx3-ubyte.gz", "idx-images", "train"),
        ),
        target="moving_mnist/mnist_cifar_test_seq.npy",
        input_frames=10,
        small=(
            *_SYNTHETIC,
            "splits.test.sequences=6",
            "splits.train.pool=train[:50]",
            "render.background.source.kind=synthetic",
            "render.background.source.colour=true",
        ),
        small_digest="c95ebf8108f5dfb4cb3944593d17243545201fc584b70c83edf47c1c807026e5",
    ),
    Pack(
        "predrnn-mnist",
        "the npz files of PredRNN / E3D-LSTM (thuml/predrnn-pytorch core/data_provider/mnist.py InputHandle):"
        " clips, dims and input_raw_data, a 10 -> 10 split",
        "train 10,000, valid 2,000, test 3,000 x 20",
        (
            PackFile("moving-mnist-train.npz", "predrnn-npz", "train"),
            PackFile("moving-mnist-valid.npz", "predrnn-npz", "val"),
            PackFile("moving-mnist-test.npz", "predrnn-npz", "test"),
        ),
        target="moving-mnist-test.npz",
        input_frames=10,
        small=(
            *_SYNTHETIC,
            "splits.train.sequences=5",
            "splits.val.sequences=3",
            "splits.test.sequences=4",
        ),
        small_digest="7ae7bcc086fbda334c2a8e8a9449ec75169d6dc410d4f49ca30ebeda06e39869",
    ),
    Pack(
        "srvp-stochastic",
        "SRVP's stochastic Moving MNIST test file (edouardelasalles/srvp data/mmnist.py, make_test_set.py):"
        " 2 MNIST-test digits bouncing with new random velocities, 100 frames; new draws of its rules",
        "test 5,000 x 100",
        (PackFile("smmnist_test_2digits_64.npz", "srvp-npz", "test"),),
        target="smmnist_test_2digits_64.npz",
        input_frames=5,
        small=(*_SYNTHETIC, "splits.test.sequences=4", "sequence.length=30"),
        small_digest="acea7797feb6a71fe3deebb86bb4c6099847440ea9aeab3bb7212dfa060ff377",
    ),
    Pack(
        "ood-digits",
        "an out-of-distribution suite after Moving Symbols: train on 2 digits, test on 1, 3 and 4"
        " (srivastava rules, MNIST digits; the test files from MNIST-test)",
        "train 10,000 x 20; test 3,000 x 20 each for 2 (in distribution), 1, 3 and 4 digits",
        (
            PackFile("train.npy", "npy-tnhw", "train"),
            PackFile("test.npy", "npy-tnhw", "test"),
            PackFile("test-1digit.npy", "npy-tnhw", "test", "1digit"),
            PackFile("test-3digits.npy", "npy-tnhw", "test", "3digits"),
            PackFile("test-4digits.npy", "npy-tnhw", "test", "4digits"),
        ),
        target="test-3digits.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.train.sequences=4", "splits.test.sequences=3"),
        small_digest="e4199c81016f89be706a172ba3cf72cdbe3568456d3b7f4332cda035e982e87c",
        variants=(
            Variant("1digit", ("seed=7011", "digits.count=1", _TEST_ONLY)),
            Variant("3digits", ("seed=7013", "digits.count=3", _TEST_ONLY)),
            Variant("4digits", ("seed=7014", "digits.count=4", _TEST_ONLY)),
        ),
        protocols=(
            Protocol(
                "2-to-1-3-4-digits",
                "digits",
                ("train.npy",),
                ("test-1digit.npy", "test-3digits.npy", "test-4digits.npy"),
            ),
        ),
    ),
    Pack(
        "ood-length",
        "an out-of-distribution suite after Moving Symbols: train on 20 frames, test on 40 and 100"
        " (srivastava rules, 2 MNIST digits; the test files from MNIST-test)",
        "train 10,000 x 20; test 3,000 x 20 (in distribution), 3,000 x 40 and 3,000 x 100",
        (
            PackFile("train.npy", "npy-tnhw", "train"),
            PackFile("test.npy", "npy-tnhw", "test"),
            PackFile("test-40frames.npy", "npy-tnhw", "test", "40frames"),
            PackFile("test-100frames.npy", "npy-tnhw", "test", "100frames"),
        ),
        target="test-100frames.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.train.sequences=4", "splits.test.sequences=2"),
        small_digest="774b534d56d659b33a78903011c69b8f1f0002afd29fe3bee1c259a503db7c95",
        variants=(
            Variant("40frames", ("seed=7140", "sequence.length=40", _TEST_ONLY)),
            Variant("100frames", ("seed=7200", "sequence.length=100", _TEST_ONLY)),
        ),
        protocols=(
            Protocol("20-to-40-100-frames", "length", ("train.npy",), ("test-40frames.npy", "test-100frames.npy")),
        ),
    ),
    Pack(
        "ood-speed",
        "an out-of-distribution suite after Moving Symbols: train slow, test fast; train fast, test slow; train"
        " both extremes, test the middle (speeds slow [0.03, 0.07), middle [0.08, 0.12), fast [0.13, 0.17);"
        " srivastava rules, 2 MNIST digits)",
        "train 10,000 x 20 slow and fast; test 3,000 x 20 slow, middle and fast",
        (
            PackFile("train-slow.npy", "npy-tnhw", "train"),
            PackFile("test-slow.npy", "npy-tnhw", "test"),
            PackFile("train-fast.npy", "npy-tnhw", "train", "fast"),
            PackFile("test-fast.npy", "npy-tnhw", "test", "fast"),
            PackFile("test-middle.npy", "npy-tnhw", "test", "middle"),
        ),
        target="test-fast.npy",
        input_frames=10,
        small=(*_SYNTHETIC, "splits.train.sequences=4", "splits.test.sequences=3"),
        small_digest="c84205757b3b33f9174bc581199952d70300ed24887129c4c0a79488d0d95f4c",
        variants=(
            Variant("fast", ("seed=7202", "motion.speed=[0.13, 0.17]")),
            Variant("middle", ("seed=7203", "motion.speed=[0.08, 0.12]", _TEST_ONLY)),
        ),
        protocols=(
            Protocol("slow-to-fast", "speed", ("train-slow.npy",), ("test-fast.npy",)),
            Protocol("fast-to-slow", "speed", ("train-fast.npy",), ("test-slow.npy",)),
            Protocol("extremes-to-middle", "speed", ("train-slow.npy", "train-fast.npy"), ("test-middle.npy",)),
        ),
    ),
    Pack(
        "ood-sprites",
        "an out-of-distribution suite after Moving Symbols: train on MNIST digits, test on Fashion-MNIST"
        " (its test split, tensorflow-datasets' fashion_mnist: one download) and on the built-in synthetic"
        " glyphs (srivastava rules, 2 sprites; the MNIST test file from MNIST-test)",
        "train 10,000 x 20; test 3,000 x 20 MNIST (in distribution), Fashion-MNIST and glyphs",
        (
            PackFile("train.npy", "npy-tnhw", "train"),
            PackFile("test.npy", "npy-tnhw", "test"),
            PackFile("test-glyphs.npy", "npy-tnhw", "test", "glyphs"),
            PackFile("test-fashion.npy", "npy-tnhw", "test", "fashion"),
        ),
        target="test-glyphs.npy",
        input_frames=10,
        # the MNIST sample shipped in the package: real MNIST offline, another source than the glyphs;
        # Fashion-MNIST is not on every machine: the small build's fashion file is drawn from the glyphs
        small=(
            "source.kind=sample",
            "source.path=null",
            "splits.train.sequences=4",
            "splits.test.sequences=3",
            "fashion:source.kind=synthetic",
        ),
        small_digest="0d584a70eda01c346614e7334cf3158648327672ce23eb8078aa30223d1f6574",
        variants=(
            Variant("glyphs", ("seed=7302", "source.kind=synthetic", "source.path=null", _TEST_ONLY)),
            Variant(
                "fashion",
                ("seed=7303", "source.kind=tfds", "source.name=fashion_mnist", "source.path=null", _TEST_ONLY),
            ),
        ),
        protocols=(
            Protocol("mnist-to-glyphs", "source", ("train.npy",), ("test-glyphs.npy",)),
            Protocol("mnist-to-fashion", "source", ("train.npy",), ("test-fashion.npy",)),
        ),
    ),
)

PACKS: Mapping[str, Pack] = MappingProxyType({p.name: p for p in CATALOGUE})
NAMES: tuple[str, ...] = tuple(PACKS)
