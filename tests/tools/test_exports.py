"""The interop exports, read back by their consumers' own libraries; streaming, atomic, no overwrite.

The tiny dataset's test split is 5 sequences in HDF5 shards of 3 and 2; the exports here
use --shard-size 2, so each split spans several output shards too.
"""

from __future__ import annotations

import glob
import importlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.cli.looking import DIRECTORY_FORMATS, EXPORT_FORMATS
from movmnist.read.dataset import Split
from movmnist.tools import exports
from movmnist.tools.exports import target, webdataset
from tests.datasets import rgb_copy, tiny


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("exports") / "d")


def _expected(ds: Path, split: str) -> dict[str, np.ndarray]:
    return movmnist.open(ds, annotations=True)[split][:]  # type: ignore[no-any-return]


def test_the_cli_choices_are_the_registry() -> None:
    assert tuple(exports.FORMATS) == EXPORT_FORMATS
    assert tuple(f.name for f in exports.FORMATS.values() if f.writes == "directory") == DIRECTORY_FORMATS


def test_the_readers_of_the_round_trips_are_in_the_dev_extra() -> None:
    """`make dev` (so `make test` and CI) installs every package the round-trip tests read with:
    their importorskip skips only where pip could not install it, never on a checked machine."""
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]

    def packages(extra: str) -> set[str]:  # the distributions `extra` installs, movmnist[...] expanded
        found: set[str] = set()
        for requirement in extras[extra]:
            name, inner = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[(.*)\])?.*", requirement).groups()  # type: ignore[union-attr]
            found |= set().union(*map(packages, inner.split(","))) if name == "movmnist" else {name}
        return found

    assert {"webdataset", "datasets", "pyarrow", "mlcroissant"} <= packages("dev")


def _webdataset_matches(ds: Path, out: Path, split: str) -> None:
    """`split`'s tars in `out`, read by the webdataset package: keys in order, every stored array equal."""
    wds = pytest.importorskip("webdataset", reason="the webdataset package is in the dev extra")
    expected = _expected(ds, split)
    urls = sorted(glob.glob(str(out / f"{split}-*.tar")))
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode())
    assert [s["__key__"] for s in samples] == [f"{split}-{i:08d}" for i in range(len(expected["frames"]))]
    for i, sample in enumerate(samples):
        assert sample["labels.json"] == expected["labels"][i].tolist()
        assert sorted(k for k in sample if not k.startswith("__")) == sorted(
            ["labels.json", *(f"{k}.npy" for k in expected)]
        )
        for name, array in expected.items():
            got = sample[f"{name}.npy"]
            assert got.dtype == array.dtype and got.shape == array.shape[1:], name
            np.testing.assert_array_equal(got, array[i])


def _as_tarfile_writes_it(path: Path) -> bytes:
    """The archive `tarfile` writes for the members of the tar `path` (mode 0644, owner 0:0, time 0)."""
    buf = io.BytesIO()
    with tarfile.open(path) as src, tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for member in src.getmembers():
            info = tarfile.TarInfo(member.name)
            info.size, info.mode, info.mtime = member.size, 0o644, 0
            tar.addfile(info, src.extractfile(member))
    return buf.getvalue()


def test_webdataset_reads_back_every_array(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "wds"
    result = CliRunner().invoke(cli, ["export", str(ds), "--format", "webdataset", "--shard-size", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("exported 9 sequences (train 4, test 5) as webdataset")
    assert sorted(p.name for p in out.iterdir()) == [
        target.MARKER,
        "test-00000-of-00003.tar",
        "test-00001-of-00003.tar",
        "test-00002-of-00003.tar",
        "train-00000-of-00002.tar",
        "train-00001-of-00002.tar",
    ]
    for split in ("train", "test"):
        _webdataset_matches(ds, out, split)
    for tar in out.glob("*.tar"):  # our own tar writer: the bytes of the standard library's
        assert tar.read_bytes() == _as_tarfile_writes_it(tar), tar.name
    again = tmp_path / "again"
    CliRunner().invoke(cli, ["export", str(ds), "--format", "webdataset", "--shard-size", "2", "-o", str(again)])
    assert all((again / p.name).read_bytes() == p.read_bytes() for p in out.glob("*.tar"))  # the same bytes


@pytest.mark.parametrize("name", ["a", "x" * 99, "y" * 100, "prefix/" * 20 + "z.npy", "é.npy"])
@pytest.mark.parametrize("size", [0, 1, 511, 512, 81_920, 8**11 - 1])
def test_a_tar_header_is_tarfiles(name: str, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    assert webdataset.header(name, size) == info.tobuf(tarfile.USTAR_FORMAT)


def test_webdataset_of_colour_frames_and_a_scalar_per_sequence(tmp_path: Path) -> None:
    ds = rgb_copy(tiny(tmp_path / "grey", "annotations.captions=true"), tmp_path / "rgb")  # [T, H, W, 3]; captions
    out = tmp_path / "wds"
    assert exports.export(movmnist.open(ds), out, format="webdataset", split="test", shard_size=2)["sequences"] == 5
    _webdataset_matches(ds, out, "test")  # frames [6, 40, 40, 3]; captions a 0-d |S.. .npy, as stored


@pytest.mark.parametrize(
    ("fmt", "names"),
    [
        ("webdataset", ["test-00000-of-00002.tar", "test-00001-of-00002.tar"]),
        ("hf", ["data/test-00000-of-00002.parquet", "data/test-00001-of-00002.parquet"]),
    ],
)
def test_directory_exports_stream_one_chunk_at_a_time(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, names: list[str]
) -> None:
    events: list[tuple[str, int]] = []  # ("read", sequences) and ("write", bytes), as they happen
    fetch, create = Split._fetch, target.create

    def counted(self: Split, names: tuple[str, ...], idx: np.ndarray) -> dict[str, np.ndarray]:
        events.append(("read", len(idx)))
        return fetch(self, names, idx)

    class Logged(io.BufferedWriter):
        def write(self, data: Any) -> int:
            events.append(("write", memoryview(data).nbytes))
            return super().write(data)

    monkeypatch.setattr(Split, "_fetch", counted)
    monkeypatch.setattr(target, "create", lambda path: Logged(create(path).detach()))  # type: ignore[arg-type]
    with movmnist.open(ds) as opened:
        summary = exports.export(opened, tmp_path / "w", format=fmt, split="test", shard_size=4, chunk=2)
    part = summary["splits"]["test"]
    assert summary["sequences"] == 5 and part.get("shards", part.get("files")) == names
    assert [n for e, n in events if e == "read"] == [2, 2, 1]  # never the split: chunks of 2, cut at a shard's end
    order = re.sub("w+", "w", "".join(e[0][0] for e in events))
    assert order == "rwrwrw", order  # each chunk's bytes go out before the next chunk is read
    largest = max((tmp_path / "w" / name).stat().st_size for name in names)
    if fmt == "webdataset":  # a chunk is one write, never a whole tar (hf's largest is its footer, the schema)
        assert max(n for e, n in events if e == "write") < 0.6 * largest


@pytest.mark.parametrize(
    ("fmt", "module", "function", "after"),
    [("webdataset", "webdataset", "sample", 3), ("hf", "huggingface", "column", 30)],
)
def test_a_failed_export_leaves_nothing_that_looks_complete(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, module: str, function: str, after: int
) -> None:
    writer = importlib.import_module(f"movmnist.tools.exports.{module}")
    calls = 0
    real = getattr(writer, function)

    def failing(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls > after:  # a few shards in
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(writer, function, failing)
    result = CliRunner().invoke(
        cli, ["export", str(ds), "--format", fmt, "--shard-size", "2", "-o", str(tmp_path / "w")]
    )
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"Error: cannot write {tmp_path / 'w'}: No space left on device; choose another -o"
    ]
    assert list(tmp_path.iterdir()) == []  # neither the export nor its temporary folder


KILLED = """
import os, signal, sys
from movmnist.tools.exports import {module} as writer
real, calls = writer.{function}, [0]
def dying(*args):
    calls[0] += 1
    if calls[0] > {after}:
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 mid-export: no handler, no cleanup runs
    return real(*args)
writer.{function} = dying
from movmnist.cli import main
sys.argv = ["movmnist", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("fmt", "module", "function", "after"),
    [("webdataset", "webdataset", "sample", 5), ("hf", "huggingface", "column", 40)],
)
def test_an_export_killed_midway_never_looks_complete(
    ds: Path, tmp_path: Path, fmt: str, module: str, function: str, after: int
) -> None:
    out = tmp_path / "w"
    code = KILLED.format(module=module, function=function, after=after)
    args = ["export", str(ds), "--format", fmt, "--shard-size", "2", "-q", "-o", str(out)]
    killed = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not out.exists()  # nothing under the asked-for name
    (left,) = tmp_path.iterdir()  # the private folder it was writing in: hidden, no marker
    assert left.name.startswith(".w.tmp-") and not (left / target.MARKER).exists()
    assert [p for p in left.rglob("*") if p.is_file()]  # it was killed with files written
    again = CliRunner().invoke(cli, args)  # and it does not stand in the way of the next export
    assert again.exit_code == 0, again.output
    assert (out / target.MARKER).is_file()


@pytest.mark.parametrize("fmt", DIRECTORY_FORMATS)
def test_no_overwrite_without_the_flag_and_never_a_stranger_or_a_link(ds: Path, tmp_path: Path, fmt: str) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    first = runner.invoke(cli, ["export", str(ds), "--format", fmt, "-q", "-o", str(out)])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["export", str(ds), "--format", fmt, "-q", "-o", str(out)])
    assert again.exit_code == 2
    assert again.output == f"Error: {out} already exists; pass --overwrite to replace it, or choose another -o\n"
    (out / "mine.txt").write_text("kept until replaced")
    replaced = runner.invoke(cli, ["export", str(ds), "--format", fmt, "-q", "--overwrite", "-o", str(out)])
    assert replaced.exit_code == 0 and not (out / "mine.txt").exists()
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "a.jpg").write_bytes(b"x")
    refused = runner.invoke(cli, ["export", str(ds), "--format", fmt, "--overwrite", "-o", str(stranger)])
    assert refused.exit_code == 2 and "is not a movmnist export" in refused.output
    assert (stranger / "a.jpg").read_bytes() == b"x"
    link = tmp_path / "link"
    link.symlink_to(stranger)
    refused = runner.invoke(cli, ["export", str(ds), "--format", fmt, "--overwrite", "-o", str(link)])
    assert refused.exit_code == 2 and "is a symlink; refusing to write through it" in refused.output
    assert sorted(os.listdir(stranger)) == ["a.jpg"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_directory_export_usage_errors(ds: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["export", str(ds), "--format", "webdataset", "-o", "-"])
    assert bad.exit_code == 2 and "writes a directory, not a stream" in bad.output
    bad = runner.invoke(cli, ["export", str(ds), "--shard-size", "3", "-o", str(tmp_path / "x.npy")])
    assert bad.exit_code == 2 and "--shard-size applies to --format" in bad.output
    bad = runner.invoke(cli, ["export", str(ds), "--format", "webdataset", "-o", str(tmp_path / "no" / "w")])
    assert bad.exit_code == 2 and "does not exist; create it or choose another -o" in bad.output
    bad = runner.invoke(cli, ["export", str(ds), "--format", "webdataset", "--split", "val", "-o", str(tmp_path / "w")])
    assert bad.exit_code == 2 and "split 'val' is not in" in bad.output
    assert list(tmp_path.iterdir()) == []


def test_the_marker_records_the_export(ds: Path, tmp_path: Path) -> None:
    out = tmp_path / "w"
    CliRunner().invoke(cli, ["export", str(ds), "--format", "webdataset", "--split", "test", "-q", "-o", str(out)])
    record = json.loads((out / target.MARKER).read_text())
    assert record["format"] == "webdataset" and record["shard_size"] == 1000
    assert record["files"] == {"test-00000-of-00001.tar": (out / "test-00000-of-00001.tar").stat().st_size}


@pytest.mark.parametrize(
    ("fmt", "out", "shown"),
    [
        (
            "npy",
            "x.npy",
            "30/30 [",
        ),  # the test split's 5 sequences x 6 frames
        ("predrnn-npz", "x.npz", "30/30 ["),
        ("webdataset", "w", "9/9 ["),  # every split's sequences
        ("hf", "h", "9/9 ["),
        ("croissant", "c.json", "4/4 ["),  # the shards it hashes
    ],
)
def test_every_format_shows_its_progress_to_the_end_on_stderr(
    ds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, out: str, shown: str
) -> None:
    monkeypatch.setattr("movmnist.cli.common.interactive", lambda: True)  # as on a terminal
    args = ["export", str(ds), "--format", fmt, "-o", str(tmp_path / out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    unit = exports.FORMATS[fmt].unit
    assert f"100%|██████████| {shown}" in result.stderr and f"{unit}/s]" in result.stderr, result.stderr
    assert result.stdout == ""
    quiet = CliRunner().invoke(cli, [*args, "-q", "--overwrite"])  # no bar and no summary line
    assert quiet.exit_code == 0 and quiet.stderr == "", quiet.output
