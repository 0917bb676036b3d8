"""verify catches every damaged shard by name; export writes what np.load and PredRNN expect."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.files import sha256_file
from movmnist.tools.exports.arrays import write_npy
from movmnist.tools.verify import verify
from tests.datasets import rgb_copy, tiny


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("ve") / "d")


def _shards(path: Path) -> list[str]:
    manifest = json.loads((path / "manifest.json").read_text())
    return [s["file"] for split in manifest["splits"].values() for s in split["shards"]]


def test_verify_passes_on_a_fresh_build_and_regenerates(ds: Path) -> None:
    result = CliRunner().invoke(cli, ["verify", str(ds), "--regenerate", "9"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "ok   train-00000-of-00002.h5: 3 sequences"
    assert "regenerated 9 sequences from the config: 9 identical" in lines
    assert lines[-1] == "OK: 4 shards match the manifest"


def test_a_flipped_byte_in_any_shard_fails_and_names_it(ds: Path) -> None:
    for name in _shards(ds):
        path = ds / name
        original = path.read_bytes()
        damaged = bytearray(original)
        damaged[len(damaged) // 2] ^= 0x01
        path.write_bytes(bytes(damaged))
        try:
            result = CliRunner().invoke(cli, ["verify", str(ds), "--quiet"])
        finally:
            path.write_bytes(original)
        assert result.exit_code == 1, name
        failed = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
        assert len(failed) == 1, result.output
        assert failed[0].startswith(f"FAIL {name}: sha256 differs from the manifest (the file changed after the build)")
        assert result.output.splitlines()[-1] == "FAILED: 1 of 4 shards"


def test_a_deleted_shard_fails_and_is_named(ds: Path, tmp_path: Path) -> None:
    copy = tmp_path / "d"
    copy.mkdir()
    for item in ds.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    (copy / "test-00001-of-00002.h5").unlink()
    result = CliRunner().invoke(cli, ["verify", str(copy), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert [(s["file"], s["problems"]) for s in report["shards"] if not s["ok"]] == [
        ("test-00001-of-00002.h5", ["missing"])
    ]
    assert report["ok"] is False


def test_regenerate_catches_a_changed_sequence_whose_checksum_was_forged(ds: Path, tmp_path: Path) -> None:
    copy = tmp_path / "d"
    copy.mkdir()
    for item in ds.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    with h5py.File(copy / "test-00001-of-00002.h5", "r+") as f:
        f["frames"][1, 0, 0, 0] ^= 0xFF  # test sequence 4
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["splits"]["test"]["shards"][1]
    entry["sha256"], entry["bytes"] = sha256_file(copy / entry["file"]), (copy / entry["file"]).stat().st_size
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert verify(copy).ok
    report = verify(copy, regenerate=100)
    assert not report.ok and report.regenerated == 9
    assert report.mismatched == ["test[4]: frames differs from a fresh generation"]


def test_verify_reports_a_wrong_shape(ds: Path, tmp_path: Path) -> None:
    copy = tmp_path / "d"
    copy.mkdir()
    for item in ds.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["sequence_shape"] = [7, 40, 40]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    report = verify(copy)
    assert not report.ok
    assert "frames is [3, 6, 40, 40] uint8, expected [3, 7, 40, 40] uint8" in report.shards[0].problems


def test_export_npy_is_the_time_major_transpose(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.npy"
    result = CliRunner().invoke(cli, ["export", str(ds), "--split", "test", "--format", "npy", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 5 test sequences as npy [6 x 5 x 40 x 40]" in result.output
    frames = movmnist.open(ds)["test"][:]
    loaded = np.load(out)
    assert loaded.dtype == np.uint8 and loaded.shape == (6, 5, 40, 40)
    np.testing.assert_array_equal(loaded, frames.transpose(1, 0, 2, 3))
    piped = CliRunner().invoke(cli, ["export", str(ds), "-o", "-", "-q"])
    assert piped.stdout_bytes == out.read_bytes()


class _Pipe(io.RawIOBase):
    """A write-only stream that cannot seek, like stdout into a pipe."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return memoryview(b).nbytes


@pytest.mark.parametrize("memory", [1, 3 * 40 * 40 * 5, 1 << 30])
def test_time_major_to_a_pipe_equals_the_file(ds: Path, tmp_path: Path, memory: int) -> None:
    split = movmnist.open(ds)["test"]
    with open(tmp_path / "f.npy", "wb") as f:
        write_npy(split, f, "tnhw", chunk=2)
    pipe = _Pipe()
    write_npy(split, pipe, "tnhw", chunk=2, memory=memory)  # one frame at a time, blocks of 3, all at once
    assert bytes(pipe.data) == (tmp_path / "f.npy").read_bytes()


def test_stdout_through_a_real_pipe(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.npy"
    CliRunner().invoke(cli, ["export", str(ds), "-o", str(out), "--split", "train"])
    code = "from movmnist.cli import main; main()"
    piped = subprocess.run(
        [sys.executable, "-c", code, "export", str(ds), "--split", "train", "-o", "-", "-q"],
        stdout=subprocess.PIPE,
        check=True,
    )
    assert piped.stdout == out.read_bytes()


def test_export_layouts_in_colour(ds: Path, tmp_path: Path) -> None:
    rgb = rgb_copy(ds, tmp_path / "rgb")
    frames = movmnist.open(rgb)["test"][:]  # [5, 6, 40, 40, 3]
    for layout, expected in [
        ("tnhw", frames.transpose(1, 0, 2, 3, 4)),
        ("nthw", frames),
        ("ntchw", np.moveaxis(frames, -1, 2)),
    ]:
        out = tmp_path / f"{layout}.npy"
        result = CliRunner().invoke(cli, ["export", str(rgb), "--layout", layout, "-o", str(out)])
        assert result.exit_code == 0, result.output
        np.testing.assert_array_equal(np.load(out), expected)
    grey = tmp_path / "grey.npy"
    CliRunner().invoke(cli, ["export", str(ds), "--layout", "ntchw", "-o", str(grey)])
    assert np.load(grey).shape == (5, 6, 1, 40, 40)


def test_export_predrnn_npz(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "mm.npz"
    args = ["export", str(ds), "--split", "train", "--format", "predrnn-npz", "--input-frames", "2", "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    frames = movmnist.open(ds)["train"][:]  # [4, 6, 40, 40]
    with np.load(out) as z:
        assert sorted(z.files) == ["clips", "dims", "input_raw_data"]
        data, clips, dims = z["input_raw_data"], z["clips"], z["dims"]
    assert data.dtype == np.float32 and data.shape == (24, 1, 40, 40)
    np.testing.assert_allclose(data[:, 0] * 255, frames.reshape(24, 40, 40), atol=1e-4)
    assert clips.dtype == np.int32 and clips.tolist() == [
        [[0, 2], [6, 2], [12, 2], [18, 2]],
        [[2, 4], [8, 4], [14, 4], [20, 4]],
    ]
    assert dims.tolist() == [[1, 40, 40]]
    piped = CliRunner().invoke(cli, [*args[:-1], "-"])
    with np.load(io.BytesIO(piped.stdout_bytes)) as z:
        np.testing.assert_array_equal(z["input_raw_data"], data)


def test_export_usage_errors(ds: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["export", str(ds), "--format", "predrnn-npz", "--layout", "ntchw", "-o", "-"])
    assert bad.exit_code == 2 and "--layout applies to --format npy only" in bad.output
    bad = runner.invoke(cli, ["export", str(ds), "--format", "predrnn-npz", "--input-frames", "6", "-o", "-"])
    assert bad.exit_code == 2 and "--input-frames must be in [1, 5]" in bad.output
    bad = runner.invoke(cli, ["export", str(ds), "--split", "val", "-o", str(tmp_path / "v.npy")])
    assert bad.exit_code == 2 and "split 'val' is not in" in bad.output  # a flag error
    assert not list(tmp_path.iterdir())
    bad = runner.invoke(cli, ["export", str(ds), "-o", str(tmp_path / "no" / "such" / "x.npy")])
    assert bad.exit_code == 2 and "cannot write" in bad.output


def test_fletcher32_checksums_are_checked_where_enabled(ds: Path, tmp_path: Path) -> None:
    # No build turns the filter on, so make a shard that has it, then damage one chunk and forge the sha256:
    # only HDF5's own per-chunk checksum can catch it.
    copy = tmp_path / "d"
    copy.mkdir()
    for item in ds.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    name = "test-00001-of-00002.h5"
    with h5py.File(copy / name, "r+") as f:
        frames = f["frames"][:]
        del f["frames"]
        f.create_dataset("frames", data=frames, chunks=(1, *frames.shape[1:]), fletcher32=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    entry = manifest["splits"]["test"]["shards"][1]

    def forge() -> None:
        entry["sha256"], entry["bytes"] = sha256_file(copy / name), (copy / name).stat().st_size
        (copy / "manifest.json").write_text(json.dumps(manifest))

    forge()
    assert verify(copy).ok
    with h5py.File(copy / name, "r") as f:
        offset = f["frames"].id.get_chunk_info(1).byte_offset
    data = bytearray((copy / name).read_bytes())
    data[offset + 100] ^= 0x10
    (copy / name).write_bytes(bytes(data))
    forge()
    report = verify(copy)
    bad = [s for s in report.shards if not s.ok]
    assert [s.file for s in bad] == [name] and "frames" in bad[0].problems[0]


def test_regenerate_works_for_a_source_read_from_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest records a source's path by its name only: verify compares it the same way
    and finds the source where --source-path says (never where the manifest's name leads)."""
    from movmnist.builder import build
    from movmnist.sources.sample import SAMPLE_DIR
    from tests.conftest import small_config

    out = tmp_path / "d"
    sets = ["splits.train.pool=train[:800]", "splits.val.pool=train[800:]", "splits.test.pool=test"]
    build(small_config("source.kind=idx", f"source.path={SAMPLE_DIR}", *sets), out, workers=1)
    assert json.loads((out / "manifest.json").read_text())["source"]["path"] == SAMPLE_DIR.name
    monkeypatch.chdir(SAMPLE_DIR.parent)
    result = CliRunner().invoke(cli, ["verify", str(out), "--regenerate", "6", "--source-path", str(SAMPLE_DIR)])
    assert result.exit_code == 0, result.output
