"""Scoring predictions: OpenSTL's and PredRNN's definitions (tools/score.py), against hand-computed values,
scikit-image's structural_similarity, and small packs read through `movmnist score`."""

from __future__ import annotations

import json
import math
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from skimage.metrics import structural_similarity

import movmnist
from movmnist.builder.pack import make_pack
from movmnist.cli import cli
from movmnist.config.packs import PACKS
from movmnist.errors import ConfigError
from movmnist.tools import score as scoring
from movmnist.tools.score import npz_member, ssim


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("packs")
    names = ("srivastava-test", "predrnn-mnist", "ood-digits")
    for name in names:
        make_pack(name, out, PACKS[name].small, workers=1)
    return {name: out / name for name in names}


def _target(packs: dict[str, Path]) -> np.ndarray:
    """srivastava-test's predicted frames as [N, 10, 64, 64] uint8."""
    return np.load(packs["srivastava-test"] / "mnist_test_seq.npy")[10:].swapaxes(0, 1)


@pytest.mark.parametrize("metrics", ["openstl", "predrnn"])
def test_prediction_equal_to_target(packs: dict[str, Path], metrics: str) -> None:
    true = _target(packs)
    for pred in (true, true / 255.0, (true / np.float32(255))[:, :, None]):
        pred = pred if pred.ndim == true.ndim else pred[:, :, 0]
        r = movmnist.score(pred, true, metrics=metrics)
        assert r["mse"] == 0 and r["ssim"] == 1 and r["psnr"] == math.inf
        assert r["sequences"] == 6 and r["frames"] == 10 and r["per_frame"]["ssim"] == [1.0] * 10
    assert ("mae" in r) == (metrics == "openstl") and ("mse_per_seq" in r) == (metrics == "predrnn")


def test_a_known_perturbation_by_hand() -> None:
    true = np.full((2, 3, 64, 64), 100, np.uint8)
    pred = true / 255.0 + 0.1  # every pixel of every frame
    o = movmnist.score(pred, true, metrics="openstl")
    assert o["mse"] == pytest.approx(4096 * 0.01) and o["mae"] == pytest.approx(4096 * 0.1)
    assert o["psnr"] == pytest.approx(20.0)
    ux, uy, c1 = 100 / 255 + 0.1, 100 / 255, (0.01 * 2) ** 2  # constant frames: only the luminance term
    assert o["ssim"] == pytest.approx((2 * ux * uy + c1) / (ux**2 + uy**2 + c1))
    p = movmnist.score(pred, true, metrics="predrnn")
    assert p["mse"] == pytest.approx(40.96) and p["mse_per_seq"] == pytest.approx(3 * 40.96)
    # PredRNN's uint8 frames: 100 and trunc(125.5) = 125
    assert p["psnr"] == pytest.approx(20 * math.log10(255) - 10 * math.log10(25**2), rel=1e-6)
    c1 = (0.01 * 255) ** 2
    assert p["ssim"] == pytest.approx((2 * 125 * 100 + c1) / (125**2 + 100**2 + c1))
    assert p["psnr"] != pytest.approx(o["psnr"]) and p["ssim"] != pytest.approx(o["ssim"])


def test_one_frame_perturbed_and_clipping_where_the_toolboxes_differ(packs: dict[str, Path]) -> None:
    true = _target(packs)
    pred = true / 255.0
    pred[0, 3] += 0.1  # every pixel of one frame, some above 1
    x = true[0, 3] / 255.0
    o = movmnist.score(pred, true, metrics="openstl")
    assert o["per_frame"]["mse"][3] == pytest.approx(4096 * 0.01 / 6)  # OpenSTL: unclipped, / N sequences
    assert o["mse"] == pytest.approx(4096 * 0.01 / 60)
    p = movmnist.score(pred, true, metrics="predrnn")
    clipped = (np.minimum(x + 0.1, 1) - x) ** 2  # PredRNN clips to [0, 1] before its MSE
    assert p["per_frame"]["mse"][3] == pytest.approx(clipped.sum() / 6, rel=1e-5)
    assert p["per_frame"]["mse"][3] < o["per_frame"]["mse"][3]
    over = np.full((1, 2, 64, 64), 1.2)  # a prediction beyond 1 where the target is white
    white = np.full((1, 2, 64, 64), 255, np.uint8)
    assert movmnist.score(over, white, metrics="openstl")["mse"] == pytest.approx(4096 * 0.04)
    assert movmnist.score(over, white, metrics="predrnn")["mse"] == 0


def test_ssim_is_scikit_image_structural_similarity(packs: dict[str, Path]) -> None:
    rng = np.random.default_rng(0)
    true = _target(packs)[:2].reshape(-1, 64, 64)
    noisy = np.clip(true + rng.normal(0, 30, true.shape), 0, 255).astype(np.uint8)
    ours = ssim(noisy, true, 255.0)
    theirs = [structural_similarity(a, b, data_range=255) for a, b in zip(noisy, true, strict=True)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    a, b = noisy / 255.0, true / 255.0  # OpenSTL: float frames, data_range 2 (scikit-image <= 0.19.3)
    theirs = [structural_similarity(u, v, data_range=2) for u, v in zip(a, b, strict=True)]
    np.testing.assert_allclose(ssim(a, b, 2.0), theirs, rtol=1e-9, atol=1e-12)
    r = movmnist.score(noisy.reshape(2, 10, 64, 64), true.reshape(2, 10, 64, 64), metrics="predrnn")
    uint8 = [structural_similarity(u, v) for u, v in zip(noisy, true, strict=True)]  # PredRNN's call: uint8, 255
    assert r["ssim"] == pytest.approx(np.mean(uint8))


def _write(path: Path, array: np.ndarray, key: str = "pred") -> Path:
    if path.suffix == ".npy":
        np.save(path, array)
    elif path.suffix == ".npz":
        np.savez(path, **{key: array})
    else:
        with h5py.File(path, "w") as f:
            f[key] = array
    return path


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["score", *[str(a) for a in args]])


def test_cli_reads_each_layout(packs: dict[str, Path], tmp_path: Path) -> None:
    pack = packs["srivastava-test"]
    whole = np.load(pack / "mnist_test_seq.npy")  # [20, 6, 64, 64]
    layouts = {
        "whole.npy": whole,
        "out.npz": whole[10:],
        "out.h5": whole[10:] / 255.0,
        "preds.npy": (whole[10:].swapaxes(0, 1)[:, :, None] / np.float32(255)),  # OpenSTL's saved/preds.npy
    }
    for name, array in layouts.items():
        result = _run(_write(tmp_path / name, array), "--pack", pack, "--metrics", "openstl", "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert (data["mse"], data["mae"], data["ssim"], data["psnr"]) == (0, 0, 1, None), name
        assert data["per_frame"]["psnr"] == [None] * 10 and data["sequences"] == 6
    text = _run(tmp_path / "whole.npy", "--pack", pack).output.splitlines()
    assert text[0] == "openstl metrics on mnist_test_seq.npy, 6 sequences x 10 predicted frames"
    assert text[-1].startswith(" mean") and data["file"] == "mnist_test_seq.npy"


def test_cli_scores_the_test_file_chosen(packs: dict[str, Path], tmp_path: Path) -> None:
    pack = packs["ood-digits"]
    one = _write(tmp_path / "one.npy", np.load(pack / "test-1digit.npy"))  # [20, 3, 64, 64], the 1-digit test
    result = _run(one, "--pack", pack, "--file", "test-1digit.npy", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["file"], data["mse"], data["ssim"]) == ("test-1digit.npy", 0, 1)
    default = json.loads(_run(one, "--pack", pack, "--json").output)  # the target: 3 digits, not these frames
    assert default["file"] == "test-3digits.npy" and default["mse"] > 0
    text = _run(one, "--pack", pack, "--file", "test-1digit.npy").output.splitlines()
    assert text[0] == "openstl metrics on test-1digit.npy, 3 sequences x 10 predicted frames"
    assert movmnist.score(one, pack, metrics="predrnn", file="test-1digit.npy")["mse"] == 0
    for wrong in ("train.npy", "test-5digits.npy"):  # a training file is not scored against
        result = _run(one, "--pack", pack, "--file", wrong)
        assert result.exit_code == 2 and result.output == (
            f"Error: pack ood-digits has no test file {wrong!r}; --file must be one of: test.npy, test-1digit.npy,"
            " test-3digits.npy, test-4digits.npy (default test-3digits.npy)\n"
        )
    with pytest.raises(ConfigError, match="file names one of a pack's files; pass target=PACK_DIR"):
        movmnist.score(np.zeros((1, 2, 64, 64)), np.zeros((1, 2, 64, 64)), file="test.npy")


def test_cli_predrnn_pack(packs: dict[str, Path], tmp_path: Path) -> None:
    pack = packs["predrnn-mnist"]
    with np.load(pack / "moving-mnist-test.npz") as z:
        raw = z["input_raw_data"].copy()  # [4 * 20, 1, 64, 64]
    raw[20 + 12] += 0.1  # sequence 1, frame 12 (predicted frame 3)
    result = _run(_write(tmp_path / "p.npz", raw, "input_raw_data"), "--pack", pack, "--metrics", "predrnn", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    with np.load(pack / "moving-mnist-test.npz") as z:
        x = z["input_raw_data"][20 + 12].astype(np.float64)
    expected = ((np.minimum(x + 0.1, 1) - x) ** 2).sum() / 4
    assert data["per_frame"]["mse"][2] == pytest.approx(expected, rel=1e-5)
    assert data["per_frame"]["mse"][:2] == [0, 0] and data["mse_per_seq"] == pytest.approx(expected, rel=1e-5)
    outputs = raw.reshape(4, 20, 1, 64, 64)[:, 10:].reshape(40, 1, 64, 64)
    again = _run(_write(tmp_path / "o.npy", outputs), "--pack", pack, "--metrics", "predrnn", "--json")
    assert json.loads(again.output)["per_frame"]["mse"] == data["per_frame"]["mse"]


def test_a_predrnn_target_is_read_in_chunks_with_bounded_memory(
    packs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = packs["predrnn-mnist"] / "moving-mnist-test.npz"
    assert isinstance(npz_member(built, "input_raw_data"), np.memmap)  # stored in the zip: mapped, not read
    pack, n = tmp_path / "predrnn-mnist", 48
    shutil.copytree(packs["predrnn-mnist"], pack)
    with np.load(built) as z:  # the 4 test sequences 12 times over, in the same (np.savez: stored) layout
        raw = np.tile(z["input_raw_data"], (12, 1, 1, 1))  # [48 * 20, 1, 64, 64] float32, 15.7 MB
        clips = z["clips"][:, :1] + (np.arange(n, dtype=np.int32) * 20)[None, :, None] * [1, 0]
        np.savez(pack / "moving-mnist-test.npz", clips=clips, dims=z["dims"], input_raw_data=raw)
    rng = np.random.default_rng(2)
    pred = np.clip(raw + rng.normal(0, 0.05, raw.shape), 0, 1).astype(np.float32)
    stored, deflated = tmp_path / "p.npz", tmp_path / "c.npz"
    np.savez(stored, input_raw_data=pred)
    np.savez_compressed(deflated, input_raw_data=pred)  # read whole: a deflated member cannot be mapped
    out = np.s_[:, 10:]
    monkeypatch.setattr(scoring, "CHUNK", 1)  # one sequence at a time
    for metrics in ("openstl", "predrnn"):
        whole = movmnist.score(pred.reshape(n, 20, 1, 64, 64)[out], raw.reshape(n, 20, 1, 64, 64)[out], metrics=metrics)
        tracemalloc.start()
        try:
            chunked = movmnist.score(stored, pack, metrics=metrics)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert chunked == {"file": "moving-mnist-test.npz"} | whole  # the same values, to the bit
        # reading the target whole would take raw.nbytes at once; a chunk's frames and SSIM windows take ~4 MB
        assert peak < raw.nbytes / 2, f"peak {peak} bytes while scoring {raw.nbytes} bytes of target"
    assert movmnist.score(deflated, pack, metrics="predrnn") == chunked


def test_cli_errors(packs: dict[str, Path], tmp_path: Path) -> None:
    pack = packs["srivastava-test"]
    whole = np.load(pack / "mnist_test_seq.npy")
    cases = {
        "shape.npy": (
            whole[10:, :5],
            "prediction shape [10, 5, 64, 64] does not fit pack srivastava-test: expected"
            " [10 or 20, 6, 64, 64] (the target's layout) or [6, 10, 1, 64, 64] (N, T, C, H, W)",
        ),
        "dtype.npy": (whole.astype(np.int64), "prediction must be uint8 (0..255) or float ([0, 1]); got dtype int64"),
        "scale.npy": (
            whole.astype(np.float32),
            "prediction values must be on the [0, 1] scale (float) or uint8; got [0, 255] (divide by 255?)",
        ),
        "nan.npy": (np.full(whole.shape, np.nan, np.float32), "prediction holds NaN or infinite values"),
    }
    for name, (array, message) in cases.items():
        result = _run(_write(tmp_path / name, array), "--pack", pack)
        assert result.exit_code == 2, (name, result.output)
        assert result.output.startswith("Error: " + message), result.output
        assert len(result.output.strip().splitlines()) == 1
    notpack = _run(tmp_path / "shape.npy", "--pack", tmp_path)
    assert notpack.exit_code == 2 and "holds no pack.json; give a folder that movmnist pack wrote" in notpack.output
    missing = _run(tmp_path / "none.npy", "--pack", pack)
    assert missing.exit_code == 2 and "does not exist" in missing.output
    with pytest.raises(ConfigError, match=r"prediction shape \(2, 64, 64\) must equal the target's"):
        movmnist.score(np.zeros((2, 64, 64)), np.zeros((1, 2, 64, 64)))


def test_against_literal_transcriptions_of_the_toolboxes() -> None:
    """OpenSTL's metric() (MSE, MAE, PSNR, SSIM with skimage <= 0.19.3's float range) and PredRNN's
    test loop (its MSE, batch_psnr, compare_ssim on uint8), transcribed, on random predictions."""
    rng = np.random.default_rng(1)
    true = (rng.random((3, 2, 1, 64, 64)) * 255).astype(np.uint8)
    y = (true / 255.0).astype(np.float32)
    pred = np.clip(y + rng.normal(0, 0.1, y.shape), -0.2, 1.2).astype(np.float32)
    o = movmnist.score(pred, true, metrics="openstl")
    assert o["mse"] == pytest.approx(np.mean((pred - y) ** 2, axis=(0, 1)).sum(), rel=1e-5)
    assert o["mae"] == pytest.approx(np.mean(np.abs(pred - y), axis=(0, 1)).sum(), rel=1e-5)
    q = np.minimum(np.maximum(pred, 0), 1)
    psnr = [20.0 * np.log10(1.0 / np.sqrt(np.mean((q[b, f] - y[b, f]) ** 2))) for b in range(3) for f in range(2)]
    assert o["psnr"] == pytest.approx(np.mean(psnr), rel=1e-5)
    ssim_o = [
        structural_similarity(q[b, f].swapaxes(0, 2), y[b, f].swapaxes(0, 2), channel_axis=-1, data_range=2)
        for b in range(3)
        for f in range(2)
    ]
    assert o["ssim"] == pytest.approx(np.mean(ssim_o), rel=1e-5)
    p = movmnist.score(pred, true, metrics="predrnn")
    x, gx = y.transpose(0, 1, 3, 4, 2), q.transpose(0, 1, 3, 4, 2)  # PredRNN: channels last
    mse = [np.square(x[:, i] - gx[:, i]).sum() / 3 for i in range(2)]
    assert p["per_frame"]["mse"] == pytest.approx(mse, rel=1e-5) and p["mse_per_seq"] == pytest.approx(sum(mse))
    real, fake = np.uint8(x * 255), np.uint8(gx * 255)
    for i in range(2):
        a, b = np.int32(fake[:, i]), np.int32(real[:, i])
        frame_mse = np.sum((a - b) ** 2, axis=(1, 2, 3), dtype=np.float32) / float(np.size(fake[0, i]))
        assert p["per_frame"]["psnr"][i] == pytest.approx(np.mean(20 * np.log10(255) - 10 * np.log10(frame_mse)))
        s = [structural_similarity(fake[k, i], real[k, i], channel_axis=-1) for k in range(3)]
        assert p["per_frame"]["ssim"][i] == pytest.approx(np.mean(s), rel=1e-6)
