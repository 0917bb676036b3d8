"""Evaluation packs: pinned digests, worker counts, and the layouts their consumers' loaders read.

The loaders are transcribed from their repositories, read at the commits named:
- PredRNN: thuml/predrnn-pytorch core/data_provider/mnist.py, InputHandle (49d3b0f);
- OpenSTL: chengtan9907/OpenSTL openstl/datasets/dataloader_moving_mnist.py, load_mnist,
  load_fixed_set and MovingMNIST.__getitem__, with and without its CIFAR-10 background (c74deb5);
- SRVP: edouardelasalles/srvp data/mmnist.py MovingMNIST.make_dataset (test) and __getitem__,
  data/base.py collate_fn, test.py's `x[:nt_test]` (05661fa).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.builder.pack import make_pack, pack_config
from movmnist.cli import cli
from movmnist.config.packs import CATALOGUE, PACKS
from movmnist.tools.score import read_pack


@pytest.fixture
def built(small_packs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return small_packs


@pytest.mark.parametrize("name", [p.name for p in CATALOGUE])
def test_small_digest_is_the_pinned_one(built: dict[str, dict[str, Any]], name: str) -> None:
    data = built[name]
    assert data["digest"] == PACKS[name].small_digest
    assert read_pack(data["dir"])["digest"] == data["digest"]
    assert {f["path"] for f in data["files"]} == {f.path for f in PACKS[name].files}
    assert not [p for p in data["dir"].parent.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize(
    "name", ["predrnn-mnist", "srvp-stochastic", "ood-digits", "ood-speed", "ood-sprites", "openstl-mmnist-cifar"]
)
def test_digest_stable_across_workers_and_shards(tmp_path: Path, name: str) -> None:
    pack = PACKS[name]
    data = make_pack(pack.name, tmp_path, (*pack.small, "output.shard_size=2"), workers=2)
    assert data["digest"] == pack.small_digest


def _input_handle_batches(path: Path, batch: int) -> list[np.ndarray]:
    """PredRNN's InputHandle (load, begin(do_shuffle=False), get_batch, next), transcribed."""
    data = dict(np.load(path))
    total = data["clips"].shape[1]
    indices = np.arange(total, dtype="int32")
    batches, position = [], 0
    size = min(batch, total)
    while True:
        ids = indices[position : position + size]
        in_len = max(data["clips"][0, i, 1] for i in ids)
        out_len = max(data["clips"][1, i, 1] for i in ids)
        if position >= total - size:  # no_batch_left: PredRNN drops the last batch
            break
        inp = np.zeros((size, in_len, *tuple(data["dims"][0]))).astype("float32").transpose(0, 1, 3, 4, 2)
        for k, i in enumerate(ids):
            begin = data["clips"][0, i, 0]
            inp[k, :in_len] = np.transpose(data["input_raw_data"][begin : begin + data["clips"][0, i, 1]], (0, 2, 3, 1))
        out = np.zeros((size, out_len, *tuple(data["dims"][0])))
        for k, i in enumerate(ids):
            begin = data["clips"][1, i, 0]
            piece = data["input_raw_data"][begin : begin + data["clips"][1, i, 1]]
            out[k, : piece.shape[0]] = piece
        out = np.transpose(out.astype("float32"), [0, 1, 3, 4, 2])
        batches.append(np.concatenate((inp, out), axis=1))
        position += size
        size = min(batch, total - position)
    return batches


def test_predrnn_npz_reads_through_input_handle(built: dict[str, dict[str, Any]]) -> None:
    data = built["predrnn-mnist"]
    cfg = pack_config("predrnn-mnist", PACKS["predrnn-mnist"].small)
    expected = movmnist.procedural(cfg)["test"][:]  # the build's items, byte for byte
    path = data["dir"] / "moving-mnist-test.npz"
    with np.load(path) as z:
        assert z["clips"].shape == (2, 4, 2) and z["dims"].tolist() == [[1, 64, 64]]
        assert z["input_raw_data"].dtype == np.float32 and z["input_raw_data"].shape == (80, 1, 64, 64)
        assert z["input_raw_data"].min() >= 0.0 and z["input_raw_data"].max() <= 1.0
    (first,) = _input_handle_batches(path, batch=2)[:1]
    assert first.shape == (2, 20, 64, 64, 1)
    np.testing.assert_array_equal(first[..., 0], expected[:2].astype(np.float32) / np.float32(255))


def _openstl_test_item(root: Path, data_name: str, idx: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenSTL's load_fixed_set and MovingMNIST.__getitem__ (not cifar, 10 -> 10), transcribed."""
    file_map = {"mnist": "moving_mnist/mnist_test_seq.npy", "fmnist": "moving_fmnist/fmnist_test_seq.npy"}
    dataset = np.load(os.path.join(root, file_map[data_name]))[..., np.newaxis]
    images = dataset[:, idx, ...]
    r, w = 1, 64
    images = images.reshape((20, w, r, w, r)).transpose(0, 2, 4, 1, 3).reshape((20, r * r, w, w))
    return images[:10] / 255.0, images[10:20] / 255.0


def _openstl_load_mnist(root: Path, data_name: str) -> np.ndarray:
    file_map = {
        "mnist": "moving_mnist/train-images-idx3-ubyte.gz",
        "fmnist": "moving_fmnist/train-images-idx3-ubyte.gz",
    }
    with gzip.open(os.path.join(root, file_map[data_name]), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)


@pytest.mark.parametrize(("name", "data_name"), [("openstl-mmnist", "mnist"), ("openstl-mfmnist", "fmnist")])
def test_openstl_files_read_through_its_loader(built: dict[str, dict[str, Any]], name: str, data_name: str) -> None:
    root = built[name]["dir"]
    cfg = pack_config(name, PACKS[name].small)
    expected = movmnist.procedural(cfg)["test"][:]
    inp, out = _openstl_test_item(root, data_name, 3)
    assert inp.shape == (10, 1, 64, 64) and out.shape == (10, 1, 64, 64)
    np.testing.assert_array_equal(np.concatenate([inp, out])[:, 0], expected[3] / 255.0)
    digits = _openstl_load_mnist(root, data_name)
    assert digits.shape == (50, 28, 28)
    from movmnist.sources import load_pool

    np.testing.assert_array_equal(digits, load_pool(cfg.source, cfg.splits.train.pool, 28).images)


def _openstl_cifar_test_item(root: Path, idx: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenSTL's load_fixed_set('mnist_cifar') and MovingMNIST.__getitem__ with its background (10 -> 10),
    transcribed: the file keeps its colour axis, and items are [T, 3, 64, 64] in [0, 1]."""
    dataset = np.load(os.path.join(root, "moving_mnist/mnist_cifar_test_seq.npy"))  # 'cifar' in data_name: no newaxis
    images = dataset[:, idx, ...]
    images = images.transpose(0, 3, 1, 2)
    return images[:10] / 255.0, images[10:20] / 255.0


def test_openstl_cifar_file_reads_through_its_loader(built: dict[str, dict[str, Any]]) -> None:
    name = "openstl-mmnist-cifar"
    root = built[name]["dir"]
    cfg = pack_config(name, PACKS[name].small)
    assert cfg.render.background.kind == "openstl-cifar" and cfg.render.background.binarize
    expected = movmnist.procedural(cfg)["test"][:]
    assert np.load(root / "moving_mnist/mnist_cifar_test_seq.npy").shape == (20, 6, 64, 64, 3)
    inp, out = _openstl_cifar_test_item(root, 4)
    assert inp.shape == (10, 3, 64, 64) and out.shape == (10, 3, 64, 64)
    np.testing.assert_array_equal(np.concatenate([inp, out]).transpose(0, 2, 3, 1), expected[4] / 255.0)
    digits = _openstl_load_mnist(root, "mnist")  # its training digits: as they are, not binarised
    from movmnist.sources import load_pool

    np.testing.assert_array_equal(digits, load_pool(cfg.source, cfg.splits.train.pool, 28).images)


def _srvp_test_batch(data_dir: Path, nt_test: int, batch: int) -> np.ndarray:
    """SRVP's test data path (stochastic, 2 digits, nx 64), transcribed: [nt_test, batch, 1, 64, 64] float in [0, 1]."""
    dataset = np.load(os.path.join(data_dir, "smmnist_test_2digits_64.npz"), allow_pickle=True)
    sequences = dataset["sequences"]
    data = [sequences[:, i] for i in range(sequences.shape[1])]
    videos = [np.array(data)[i] for i in range(batch)]  # MovingMNIST.__getitem__ (not train)
    tensor = np.zeros((len(videos[0]), batch, 1, 64, 64), dtype=np.uint8)  # collate_fn, nc 1
    for i, video in enumerate(videos):
        tensor[:, i, 0] += video
    x = tensor.astype(np.float32) / 255
    assert nt_test <= len(x)
    return x[:nt_test]


def test_srvp_file_reads_through_its_loader(built: dict[str, dict[str, Any]]) -> None:
    cfg = pack_config("srvp-stochastic", PACKS["srvp-stochastic"].small)
    expected = movmnist.procedural(cfg)["test"][:]
    x = _srvp_test_batch(built["srvp-stochastic"]["dir"], 25, 3)
    assert x.shape == (25, 3, 1, 64, 64)
    np.testing.assert_array_equal(x[:, :, 0], np.moveaxis(expected[:3, :25], 0, 1) / np.float32(255))
    with np.load(built["srvp-stochastic"]["dir"] / "smmnist_test_2digits_64.npz") as z:
        seqs, latents, digits = z["sequences"], z["latents"], z["digits"]
        assert z["labels"].shape == (4, 2) and z["labels"].dtype == np.uint8
    assert latents.shape == (30, 4, 2, 4) and digits.shape == (4, 2, 28, 28) and digits.dtype == np.uint8
    assert np.abs(latents[..., 2:]).max() <= 4 and (np.abs(latents[..., 2:]) == 4).any()
    # make_test_set.py's frame: the digits added at the latents' (row, col), clipped to 255
    for t in (0, 17, 29):
        for i in range(4):
            frame = np.zeros((64, 64), np.float32)
            for k in range(2):
                r, c = latents[t, i, k, :2]
                frame[r : r + 28, c : c + 28] += digits[i, k]
            np.testing.assert_array_equal(np.minimum(frame, 255).astype(np.uint8), seqs[t, i])
    pred = built["srvp-stochastic"]["dir"].parent / "srvp-pred.npy"
    np.save(pred, seqs[5:])  # the frames after SRVP's 5 conditioning ones
    result = movmnist.score(pred, built["srvp-stochastic"]["dir"], metrics="openstl")
    assert result["frames"] == 25 and result["mse"] == 0.0 and result["ssim"] == 1.0


def test_srivastava_layout_and_the_openstl_test_file_agree(built: dict[str, dict[str, Any]]) -> None:
    sriv = np.load(built["srivastava-test"]["dir"] / "mnist_test_seq.npy")
    assert sriv.dtype == np.uint8 and sriv.shape == (20, 6, 64, 64)
    # same seed and rules: OpenSTL's fixed test file is Srivastava et al.'s layout and draws
    np.testing.assert_array_equal(sriv, np.load(built["openstl-mmnist"]["dir"] / "moving_mnist/mnist_test_seq.npy"))


def test_packs_from_real_mnist(mnist_dir: Path, tmp_path: Path) -> None:
    real = ("source.kind=idx", f"source.path={mnist_dir}", "splits.test.sequences=4", "splits.train.pool=train[:30]")
    data = make_pack("openstl-mmnist", tmp_path, real, workers=1)
    assert data["source"]["kind"] == "idx" and not data["source"].get("synthetic")
    digits = _openstl_load_mnist(tmp_path / "openstl-mmnist", "mnist")
    with gzip.open(mnist_dir / "train-images-idx3-ubyte.gz") as f:
        np.testing.assert_array_equal(digits, np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:30])
    expected = movmnist.procedural(pack_config("openstl-mmnist", real))["test"][:]
    _, out = _openstl_test_item(tmp_path / "openstl-mmnist", "mnist", 1)
    np.testing.assert_array_equal(out[:, 0], expected[1, 10:] / 255.0)


def test_srvp_pack_from_real_mnist(mnist_dir: Path, tmp_path: Path) -> None:
    real = ("source.kind=idx", f"source.path={mnist_dir}", "splits.test.sequences=3", "sequence.length=8")
    make_pack("srvp-stochastic", tmp_path, real, workers=1)
    with np.load(tmp_path / "srvp-stochastic" / "smmnist_test_2digits_64.npz") as z:
        digits, labels = z["digits"], z["labels"]
    with gzip.open(mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        test_images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    index = movmnist.procedural(pack_config("srvp-stochastic", real))["test"].with_annotations()[:]["source_index"]
    np.testing.assert_array_equal(digits, test_images[index])  # MNIST-test digits, as they are
    assert labels.max() <= 9


def test_cli_packs_and_pack(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = json.loads(runner.invoke(cli, ["packs", "--json"]).output)
    assert [(r["name"], r["small_digest"]) for r in listed] == [(p.name, p.small_digest) for p in CATALOGUE]
    text = runner.invoke(cli, ["packs"]).output
    assert all(p.small_digest in text for p in CATALOGUE)
    small = [w for item in PACKS["srivastava-test"].small for w in ("--set", item)]
    result = runner.invoke(cli, ["pack", "srivastava-test", "-o", str(tmp_path), "-q", "-j", "1", *small])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"digest {PACKS['srivastava-test'].small_digest}"
    again = runner.invoke(cli, ["pack", "srivastava-test", "-o", str(tmp_path), "-q", *small])
    assert again.exit_code == 2 and "already exists; pass --overwrite" in again.output
    unknown = runner.invoke(cli, ["pack", "nope", "-o", str(tmp_path)])
    assert unknown.exit_code == 2 and "no pack named 'nope'; use one of: srivastava-test" in unknown.output
