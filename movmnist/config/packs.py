"""The pack catalogue: every evaluation pack's name, what it reproduces, its files, and its pinned digests.

One row per pack, as data; the only home of the packs. `movmnist packs` prints it,
`movmnist pack NAME` builds a row (`builder.pack`), `movmnist score` reads a built pack's
manifest, and the tests pin the digests listed here. Each pack's dataset is one ordinary
config, `configs/packs/NAME.yaml`, built by the normal builder; the row says which files
its consumer reads, under their own names, and what is written into each.

File kinds (`PackFile.kind`):
- `npy-tnhw`: a split as one [T, N, H, W] uint8 .npy (Srivastava et al.'s `mnist_test_seq.npy`).
- `predrnn-npz`: a split as PredRNN's npz (`tools.exports.arrays.write_predrnn_npz`).
- `srvp-npz`: a split as SRVP's test npz: `sequences` [T, N, H, W] uint8, `latents` [T, N, K, 4]
  int64 (row, col, v_row, v_col in pixels), `labels` [N, K] uint8, `digits` [N, K, h, w] uint8.
- `idx-images`: the digits of the config's train pool as a gzipped IDX3 image file
  (OpenSTL generates its training sequences from it on the fly).

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


@dataclass(frozen=True)
class Pack:
    """One evaluation pack.

    reproduces: the benchmark set it regenerates, and whose loader reads it.
    sizes: the full-size splits in words.
    target: the file `movmnist score` compares predictions with, and its input frames K
        (the first K frames are the model's input, the rest the frames to predict).
    small: the `--set` overrides of the tests' small build; small_digest: its pinned digest.
    """

    name: str
    reproduces: str
    sizes: str
    files: tuple[PackFile, ...]
    target: str
    input_frames: int
    small: tuple[str, ...]
    small_digest: str

    @property
    def config(self) -> str:
        """The config's path, relative to the repository's root."""
        return f"configs/packs/{self.name}.yaml"


KINDS = ("npy-tnhw", "predrnn-npz", "srvp-npz", "idx-images")

_SYNTHETIC = ("source.kind=synthetic", "source.path=null")

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
)

PACKS: Mapping[str, Pack] = MappingProxyType({p.name: p for p in CATALOGUE})
NAMES: tuple[str, ...] = tuple(PACKS)
