"""Digit sources: real temporary files for the readers, invariants for the synthetic digits."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from movmnist.config import PoolSpec, Source
from movmnist.errors import SourceError
from movmnist.sources import Images, load_pool, open_source, pool_bounds, resize_images
from movmnist.sources import idx as idx_module
from movmnist.sources.idx import read_idx
from movmnist.sources.synthetic import CENTRE, GENERATOR_VERSION, SPLIT_SIZES, render_digits

N_TRAIN, N_TEST = 50, 20

# --- helpers -------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file's bytes: magic, big-endian dims, then the values big-endian."""
    dtype = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[type_code]
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def digits(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 images whose pixels all equal (index + offset) % 256, and labels index % 10."""
    values = (np.arange(n) + offset) % 256
    images = np.broadcast_to(values[:, None, None], (n, 28, 28)).astype(np.uint8)
    return images, (np.arange(n) % 10).astype(np.uint8)


def make_idx_dir(directory: Path, gz: bool = False) -> dict[str, bytes]:
    """Write the four MNIST files (train: 50 images, test: 20); return name -> raw bytes."""
    train, test = digits(N_TRAIN), digits(N_TEST, offset=100)
    raw = {
        "train-images-idx3-ubyte": idx_bytes(train[0]),
        "train-labels-idx1-ubyte": idx_bytes(train[1]),
        "t10k-images-idx3-ubyte": idx_bytes(test[0]),
        "t10k-labels-idx1-ubyte": idx_bytes(test[1]),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in raw.items():
        write(directory / name, data, gz=gz)
    return raw


def idx_cfg(directory: Path) -> Source:
    return Source(kind="idx", path=str(directory))


def lit(value: object) -> str:
    """A path (or any value) as a literal regex."""
    return re.escape(str(value))


def raises(match: str) -> Any:
    return pytest.raises(SourceError, match=match)


# --- IDX -----------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    raw = make_idx_dir(tmp_path, gz=gz)
    source = open_source(idx_cfg(tmp_path))
    assert source.kind == "idx" and not source.synthetic
    assert source.split_names() == ("train", "test")
    train, test = source.load("train"), source.load("test")
    assert train.images.shape == (N_TRAIN, 28, 28) and train.images.dtype == np.uint8
    assert train.images.flags.c_contiguous and not train.images.flags.writeable
    assert train.labels.dtype == np.int64
    np.testing.assert_array_equal(train.images, digits(N_TRAIN)[0])
    np.testing.assert_array_equal(test.labels, np.arange(N_TEST) % 10)
    assert test.images[0, 0, 0] == 100
    info = source.describe()
    assert info["path"] == str(tmp_path.resolve())
    assert info["splits"]["test"] == {"count": N_TEST, "image_shape": [28, 28], "dtype": "uint8"}
    # Checksums are of the decompressed bytes, keyed by the uncompressed name.
    assert info["sha256"] == {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}


def test_idx_is_decoded_once_and_again_when_replaced(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    source = open_source(idx_cfg(tmp_path))
    assert source.load("train") is source.load("train")
    images, labels = digits(N_TRAIN + 1)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(images))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels))
    assert len(source.load("train")) == N_TRAIN + 1


def test_idx_accepts_mixed_compression_and_dotted_names(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    os.rename(tmp_path / "train-images-idx3-ubyte", tmp_path / "train-images.idx3-ubyte")
    data = (tmp_path / "t10k-labels-idx1-ubyte").read_bytes()
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    write(tmp_path / "t10k-labels-idx1-ubyte", data, gz=True)
    source = open_source(idx_cfg(tmp_path))
    assert len(source.load("train")) == N_TRAIN and len(source.load("test")) == N_TEST
    assert "train-images-idx3-ubyte" in source.describe()["sha256"]


def test_read_idx_other_types(tmp_path: Path) -> None:
    values = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    path = write(tmp_path / "ints.idx", idx_bytes(values, 0x0C), gz=True)
    np.testing.assert_array_equal(read_idx(path), values)
    floats = np.linspace(0, 1, 5, dtype=np.float32)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "f.idx", idx_bytes(floats, 0x0D))), floats)


def test_idx_unknown_split(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    with raises("no split 'valid'; its splits are: train, test"):
        open_source(idx_cfg(tmp_path)).load("valid")


def test_idx_folder_problems(tmp_path: Path) -> None:
    with raises(f"{lit(tmp_path / 'nope')} does not exist"):
        open_source(idx_cfg(tmp_path / "nope"))
    a_file = write(tmp_path / "mnist.npz", b"x")
    with raises("is a file.*set source.kind=npz"):
        open_source(idx_cfg(a_file))
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises(f"{lit(empty)} is empty; put the four MNIST IDX files"):
        open_source(idx_cfg(empty))


def test_idx_missing_file_names_it_and_the_folder(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with raises(f"{lit(tmp_path)} has no t10k-images-idx3-ubyte .*expected the four MNIST IDX files"):
        open_source(idx_cfg(tmp_path))


def test_idx_hints_at_a_nested_folder(tmp_path: Path) -> None:
    make_idx_dir(tmp_path / "MNIST" / "raw")
    with raises(f"did you mean source.path={lit(tmp_path / 'MNIST' / 'raw')}"):
        open_source(idx_cfg(tmp_path))


def break_file(directory: Path, name: str, data: bytes, gz: bool = False) -> Path:
    """Replace one of the four files; return the path that now holds it."""
    (directory / name).unlink()
    return write(directory / name, data, gz=gz)


def test_idx_bad_contents(tmp_path: Path) -> None:
    raw = make_idx_dir(tmp_path)
    source = open_source(idx_cfg(tmp_path))
    images = tmp_path / "train-images-idx3-ubyte"
    cases = [
        (b"", "is empty"),
        (b"PK\x03\x04rest", "is not an IDX file \\(it starts with 50 4b 03 04"),
        (raw["train-images-idx3-ubyte"][:-5], "is truncated: .*needs 39200 bytes .* found 39195"),
        (raw["train-images-idx3-ubyte"] + b"\0\0", "is longer than its header says: .*needs 39200 .* found 39202"),
        (raw["train-labels-idx1-ubyte"], "magic 2049, but the images file needs magic 2051.*swapped"),
        (raw["train-images-idx3-ubyte"][:10], "ends inside its header"),
    ]
    for data, message in cases:
        break_file(tmp_path, images.name, data)
        with raises(message) as info:
            source.load("train")
        assert str(info.value).startswith(str(images))


def test_idx_label_count_mismatch(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    labels = break_file(tmp_path, "train-labels-idx1-ubyte", idx_bytes(digits(N_TRAIN - 1)[1]))
    with raises(f"{lit(labels)} has {N_TRAIN - 1} labels but .*train-images-idx3-ubyte has {N_TRAIN} images"):
        open_source(idx_cfg(tmp_path)).load("train")


def test_idx_corrupt_gzip(tmp_path: Path) -> None:
    raw = make_idx_dir(tmp_path, gz=True)
    good = gzip.compress(raw["t10k-images-idx3-ubyte"])
    source = open_source(idx_cfg(tmp_path))
    name = "t10k-images-idx3-ubyte.gz"
    for data in (b"not gzip at all", good[:-20], good[:30] + bytes(40) + good[70:]):
        path = break_file(tmp_path, name, data)
        with raises(f"{lit(path)} is not a valid gzip file"):
            source.load("test")


def test_idx_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dir(tmp_path)
    target = tmp_path / "train-labels-idx1-ubyte"
    real_open = idx_module.open_regular

    def deny(path: Any) -> Any:
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    # Simulated, because permission bits do not stop root (which CI containers often are).
    monkeypatch.setattr(idx_module, "open_regular", deny)
    with raises(f"cannot read {lit(target)}: permission denied"):
        open_source(idx_cfg(tmp_path)).load("train")


def test_idx_unreadable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dir(tmp_path)

    def deny(path: Any) -> list[str]:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(idx_module.os, "listdir", deny)
    with raises(f"cannot list {lit(tmp_path)}: permission denied"):
        open_source(idx_cfg(tmp_path))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permission bits")
def test_idx_unreadable_file_for_real(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte"
    target.chmod(0)
    try:
        with raises(f"cannot read {lit(target)}: permission denied"):
            open_source(idx_cfg(tmp_path)).load("train")
    finally:
        target.chmod(0o644)


# --- real MNIST ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    value = os.environ.get("MOVMNIST_MNIST_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("set MOVMNIST_MNIST_DIR to a folder with the four MNIST IDX files (make pytest does)")
    return Path(value)


def test_real_mnist(mnist_dir: Path) -> None:
    source = open_source(idx_cfg(mnist_dir))
    train, test = source.load("train"), source.load("test")
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28) and len(test.labels) == 10000
    assert train.images.mean() == pytest.approx(33.3184, abs=0.001)
    assert set(np.unique(train.labels)) == set(range(10))
    sums = mnist_dir / "SHA256SUMS.uncompressed"
    pairs = [line.split() for line in sums.read_text().splitlines() if line.strip()]
    expected = {name: digest for digest, name in pairs}
    assert source.describe()["sha256"] == expected


# --- npz -----------------------------------------------------------------------------


def save_npz(path: Path, compressed: bool = False, **overrides: Any) -> Path:
    (x_train, y_train), (x_test, y_test) = digits(N_TRAIN), digits(N_TEST, offset=100)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test, **overrides}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def npz_cfg(path: Path) -> Source:
    return Source(kind="npz", path=str(path))


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_round_trip(tmp_path: Path, compressed: bool) -> None:
    path = save_npz(tmp_path / "mnist.npz", compressed)
    source = open_source(npz_cfg(path))
    assert source.kind == "npz" and not source.synthetic and source.split_names() == ("train", "test")
    train = source.load("train")
    np.testing.assert_array_equal(train.images, digits(N_TRAIN)[0])
    assert train.labels.dtype == np.int64 and train.images.flags.c_contiguous
    assert source.load("train") is train
    info = source.describe()
    assert info["path"] == str(path.resolve()) and info["splits"]["test"]["count"] == N_TEST
    assert set(info["sha256"]) == {"x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"}


def test_npz_channels(tmp_path: Path) -> None:
    x = digits(N_TRAIN)[0]
    grey = open_source(npz_cfg(save_npz(tmp_path / "a.npz", x_train=x[..., None]))).load("train")
    assert grey.images.shape == (N_TRAIN, 28, 28)
    colour = np.repeat(x[..., None], 3, axis=-1).astype(np.int64)
    test = np.repeat(digits(N_TEST)[0][..., None], 3, axis=-1)  # every split of one shape
    rgb = open_source(npz_cfg(save_npz(tmp_path / "b.npz", x_train=colour, x_test=test))).load("train")
    assert rgb.images.shape == (N_TRAIN, 28, 28, 3) and rgb.images.dtype == np.uint8


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"x_train": np.zeros((N_TRAIN, 28, 28), np.float32)}, "x_train holds float32 images in \\[0, 1\\]; multiply"),
        ({"x_train": np.full((N_TRAIN, 28, 28), 7.5)}, "x_train holds float64 images \\(7.5..7.5\\)"),
        ({"x_train": np.zeros((N_TRAIN, 784), np.uint8)}, "x_train has shape \\[50, 784\\]; expected images"),
        ({"x_train": np.full((N_TRAIN, 28, 28), 300, np.int16)}, "x_train has values 300..300, outside 0..255"),
        ({"x_train": np.zeros((N_TRAIN, 3, 28, 28), np.uint8)}, "28 channels .*channels-first"),
        ({"y_train": np.zeros(N_TRAIN - 1, np.uint8)}, "y_train has 49 labels but x_train has 50 images"),
        ({"y_train": np.eye(10, dtype=np.uint8)[np.arange(N_TRAIN) % 10]}, "looks one-hot"),
        ({"y_train": np.zeros(N_TRAIN, np.float32)}, "y_train has dtype float32; expected integer labels"),
        ({"x_train": np.array([None] * N_TRAIN, dtype=object)}, "cannot read x_train \\(Object arrays"),
    ],
)
def test_npz_bad_arrays(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    path = save_npz(tmp_path / "bad.npz", **overrides)
    with raises(message) as info:
        open_source(npz_cfg(path)).load("train")
    assert str(info.value).startswith(f"{path}: ")


def test_npz_file_problems(tmp_path: Path) -> None:
    missing_key = save_npz(tmp_path / "partial.npz", y_test=None)
    with raises(f"{lit(missing_key)} has no y_test \\(found: x_test, x_train, y_train\\)"):
        open_source(npz_cfg(missing_key))
    text = write(tmp_path / "mnist.npz", b"hello")
    with raises(f"{lit(text)} is not an .npz \\(zip\\) archive"):
        open_source(npz_cfg(text))
    with raises(f"{lit(tmp_path / 'absent.npz')} does not exist"):
        open_source(npz_cfg(tmp_path / "absent.npz"))
    with raises(f"{lit(tmp_path)} is a folder.*set source.kind=idx"):
        open_source(npz_cfg(tmp_path))
    with raises("no split 'val'"):
        open_source(npz_cfg(save_npz(tmp_path / "ok.npz"))).load("val")


# --- synthetic -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_test() -> Images:
    return open_source(Source(kind="synthetic", path=None, seed=3)).load("test")


def test_synthetic_shape_and_ink(synthetic_test: Images) -> None:
    images = synthetic_test.images
    assert images.shape == (SPLIT_SIZES["test"], 28, 28) and images.dtype == np.uint8
    assert images.flags.c_contiguous and synthetic_test.labels.dtype == np.int64
    assert 25 <= images.mean() <= 45  # MNIST: 33.3
    assert (images == 0).mean() > 0.7 and (images == 255).any()
    border = np.concatenate([images[:, [0, -1], :].ravel(), images[:, :, [0, -1]].ravel()])
    assert (border > 0).mean() < 0.01  # fitted into ~20x20, as in MNIST


def test_synthetic_labels_balanced(synthetic_test: Images) -> None:
    counts = np.bincount(synthetic_test.labels, minlength=10)
    assert len(counts) == 10
    assert counts.min() >= 0.95 * len(synthetic_test) / 10


def test_synthetic_centre_of_mass(synthetic_test: Images) -> None:
    mass = synthetic_test.images.astype(np.float64)
    total = mass.sum(axis=(1, 2))
    rows = mass.sum(axis=2) @ np.arange(28) / total
    cols = mass.sum(axis=1) @ np.arange(28) / total
    assert np.abs(rows - CENTRE).max() <= 1 and np.abs(cols - CENTRE).max() <= 1


def test_synthetic_is_a_function_of_seed_and_index(synthetic_test: Images) -> None:
    # Ranges across a block boundary (1024) and inside one give the same bytes as the whole.
    for start, stop in [(1000, 1100), (1030, 1031), (9990, 10000)]:
        part = render_digits(3, "test", start, stop)
        np.testing.assert_array_equal(part.images, synthetic_test.images[start:stop])
        np.testing.assert_array_equal(part.labels, synthetic_test.labels[start:stop])
    other = render_digits(4, "test", 1000, 1100)
    assert (other.images != synthetic_test.images[1000:1100]).any(axis=(1, 2)).all()
    train = render_digits(3, "train", 1000, 1100)
    assert not np.array_equal(train.images, synthetic_test.images[1000:1100])


def test_synthetic_describe_and_errors() -> None:
    source = open_source(Source(kind="synthetic", path=None, seed=7))
    assert source.synthetic and source.split_names() == ("train", "test")
    info = source.describe()
    assert info["synthetic"] is True and info["path"] is None
    assert info["generator"]["version"] == GENERATOR_VERSION and info["generator"]["seed"] == 7
    assert info["splits"]["train"]["count"] == 60000
    with raises("synthetic source has no split 'val'"):
        source.load("val")
    with raises("outside the split"):
        render_digits(0, "test", 9000, 10001)


# --- pools ---------------------------------------------------------------------------


def test_pool_slice(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    pool = load_pool(idx_cfg(tmp_path), PoolSpec.parse("train[10:30]"), None)
    assert pool.spec == "train[10:30]" and len(pool) == 20
    np.testing.assert_array_equal(pool.source_index, np.arange(10, 30))
    assert pool.source_index.dtype == np.int64
    np.testing.assert_array_equal(pool.images[:, 5, 5], np.arange(10, 30))  # pixel value = index
    np.testing.assert_array_equal(pool.labels, np.arange(10, 30) % 10)
    assert load_pool(idx_cfg(tmp_path), PoolSpec.parse("train[10:30]"), None) is pool  # memoised
    whole = load_pool(idx_cfg(tmp_path), PoolSpec.parse("test"), 28)
    assert len(whole) == N_TEST and whole.images.shape == (N_TEST, 28, 28)


@pytest.mark.parametrize("size", [32, 14])
def test_pool_resampling(tmp_path: Path, size: int) -> None:
    make_idx_dir(tmp_path)
    pool = load_pool(idx_cfg(tmp_path), PoolSpec.parse("train[:8]"), size)
    assert pool.images.shape == (8, size, size) and pool.images.dtype == np.uint8
    assert pool.images.flags.c_contiguous
    np.testing.assert_array_equal(pool.images[:, size // 2, size // 2], np.arange(8))  # flat stays flat


def test_resize_keeps_background_and_channels() -> None:
    images = np.zeros((2, 28, 28, 3), np.uint8)
    images[:, 10:18, 10:18] = 255
    out = resize_images(images, 14)
    assert out.shape == (2, 14, 14, 3) and out[:, :3].max() == 0 and out[:, 7, 7].min() == 255


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("train[40:70]", "pool train\\[40:70\\] ends past the source's train split \\(50 images\\); shorten"),
        ("train[60:]", "pool train\\[60:\\] starts past the end of the source's train split \\(50 images\\)"),
        ("train[5:5]", "pool train\\[5:5\\] is empty"),
        ("valid", "pool valid names split 'valid', but the idx source has only train, test"),
    ],
)
def test_pool_errors(tmp_path: Path, spec: str, message: str) -> None:
    make_idx_dir(tmp_path)
    with raises(message):
        load_pool(idx_cfg(tmp_path), PoolSpec.parse(spec), None)


def test_pool_bounds_is_pure() -> None:
    assert pool_bounds(PoolSpec.parse("train[:50000]"), 60000) == (0, 50000)
    assert pool_bounds(PoolSpec.parse("train[50000:]"), 60000) == (50000, 60000)
    with raises("ends past the source's train split \\(60000 images\\)"):
        pool_bounds(PoolSpec.parse("train[50000:70000]"), 60000)


def test_synthetic_pool() -> None:
    cfg = Source(kind="synthetic", path=None, seed=1)
    pool = load_pool(cfg, PoolSpec.parse("test[100:164]"), 32)
    assert pool.images.shape == (64, 32, 32)
    np.testing.assert_array_equal(pool.labels, render_digits(1, "test", 100, 164).labels)


# --- pools counted from the end ------------------------------------------------------


def test_negative_pool_bounds(tmp_path: Path) -> None:
    make_idx_dir(tmp_path)
    pool = load_pool(idx_cfg(tmp_path), PoolSpec.parse("train[-10:]"), None)
    np.testing.assert_array_equal(pool.source_index, np.arange(N_TRAIN - 10, N_TRAIN))
    assert pool.spec == "train[-10:]"
    assert pool_bounds(PoolSpec.parse("train[:-10000]"), 60000) == (0, 50000)
    assert pool_bounds(PoolSpec.parse("train[-15:-5]"), N_TRAIN) == (N_TRAIN - 15, N_TRAIN - 5)
    with raises("pool train\\[-70:\\] starts before the beginning of the source's train split \\(50 images\\)"):
        pool_bounds(PoolSpec.parse("train[-70:]"), N_TRAIN)
    with raises("pool train\\[:-60\\] starts before the beginning"):
        pool_bounds(PoolSpec.parse("train[:-60]"), N_TRAIN)


def test_pools_from_both_ends_are_checked_with_the_real_split_size(tmp_path: Path) -> None:
    from movmnist.builder import prepare
    from movmnist.errors import ConfigError
    from tests.conftest import small_config

    make_idx_dir(tmp_path)
    base = ["source.kind=idx", f"source.path={tmp_path}", "splits.test.pool=test[:10]"]
    # Disjoint in a large split, so the config takes them; in a split of 50 they share 10 images.
    cfg = small_config(*base, "splits.train.pool=train[:40]", "splits.val.pool=train[-20:]")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "splits.val.pool (train[-20:]) shares source images with splits.train.pool (train[:40])"
            " in the source's train split of 50 images"
        ),
    ):
        prepare(cfg)
    _, _, sizes = prepare(small_config(*base, "splits.train.pool=train[:30]", "splits.val.pool=train[-20:]"))
    assert sizes == {"train": 30, "val": 20, "test": 10}
