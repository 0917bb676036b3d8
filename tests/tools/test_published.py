"""The published mnist_test_seq.npy: fetch (offline, from a file:// mirror), load, info and stats."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.errors import DatasetError, DownloadError
from movmnist.tools import published


def _fake(folder: Path, n: int = 12) -> tuple[Path, str, int]:
    """A small file of the published layout [20, n, 64, 64] uint8: (path, md5, size)."""
    rng = np.random.default_rng(0)
    frames = (rng.random((20, n, 64, 64)) > 0.9).astype(np.uint8) * 255
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / published.FILE
    np.save(path, frames)
    data = path.read_bytes()
    return path, hashlib.md5(data).hexdigest(), len(data)


def test_the_published_file_is_819_mb_of_20_by_10000_frames() -> None:
    assert published.SIZE == 819_200_128 and published.SHAPE == (20, 10_000, 64, 64)
    assert published.URL.endswith("/unsupervised_video/mnist_test_seq.npy")


def test_fetch_from_a_mirror_checks_md5_and_size_and_keeps_nothing_wrong(tmp_path: Path) -> None:
    source, md5, size = _fake(tmp_path / "mirror")
    mirror = source.parent.as_uri()
    out = tmp_path / "data" / published.FILE
    seen: list[int] = []
    assert published.fetch(out, mirror=mirror, md5=md5, size=size, progress=seen.append) == out
    assert out.read_bytes() == source.read_bytes() and sum(seen) == size
    assert published.load(out).shape == (20, 12, 64, 64)
    published.fetch(out, mirror="file:///nonexistent/", md5=md5, size=size)  # a good file is kept, not fetched

    wrong = tmp_path / "wrong" / published.FILE
    with pytest.raises(DownloadError, match=r"gave \d+ bytes with md5 [0-9a-f]{32}, not mnist_test_seq.npy"):
        published.fetch(wrong, mirror=mirror)  # the real md5 and size: this file is not it
    assert not wrong.exists() and list(wrong.parent.iterdir()) == []
    with pytest.raises(DownloadError, match=r"^could not download file:///nonexistent/mnist_test_seq.npy"):
        published.fetch(tmp_path / "x.npy", mirror="file:///nonexistent/", md5=md5, size=size)


def test_the_cli_fetch_refuses_a_file_that_is_not_the_published_one(tmp_path: Path) -> None:
    source, _, _ = _fake(tmp_path / "mirror")
    data_dir = tmp_path / "tfds"
    args = ["fetch", "mnist_test_seq", "--data-dir", str(data_dir), "--mirror", source.parent.as_uri(), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "nothing was kept" in result.output and not (data_dir / "movmnist" / published.FILE).exists()


def test_info_and_stats_read_an_npy_of_the_published_layout(tmp_path: Path) -> None:
    path, _, _ = _fake(tmp_path)
    runner = CliRunner()
    info = runner.invoke(cli, ["info", str(path)])
    assert info.exit_code == 0, info.output
    assert info.output.splitlines() == [
        f"{path}: 12 sequences of 20 frames of 64x64 uint8, time-major [T, N, H, W]",
        "  not the published mnist_test_seq.npy (its md5 or size differ): a file of the same layout",
    ]
    stats = runner.invoke(cli, ["stats", str(path), "--json"])
    assert stats.exit_code == 0, stats.output
    test = json.loads(stats.output)["test"]
    assert test["sequences"] == 12 and test["frames"] == 240 and test["speed"] is None
    assert test["pixel_mean"] == pytest.approx(float(published.load(path).mean()), abs=1e-3)
    text = runner.invoke(cli, ["stats", str(path)])
    assert "labels, speed, overlap, wall rate: not in the file (frames only)" in text.output
    refused = runner.invoke(cli, ["stats", str(path), "--plot", str(tmp_path / "s.png")])
    assert refused.exit_code == 2


def test_ours_exported_reads_the_same_way_and_says_it_is_not_the_published_file(tmp_path: Path) -> None:
    from tests.datasets import tiny

    out = tiny(tmp_path / "mm")
    result = CliRunner().invoke(cli, ["export", str(out), "-o", str(tmp_path / "ours.npy")])
    assert result.exit_code == 0, result.output
    assert "not that file: papers report on Srivastava et al.'s published one" in result.output
    stats = CliRunner().invoke(cli, ["stats", str(tmp_path / "ours.npy"), "--json"])
    assert stats.exit_code == 0 and json.loads(stats.output)["test"]["sequences"] == 5


def test_load_refuses_what_is_not_frames(tmp_path: Path) -> None:
    np.save(tmp_path / "f.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(DatasetError, match=r"holds float32 \[2, 3\], not the uint8 \[T, N, H, W\] frames"):
        published.load(tmp_path / "f.npy")
