"""The README's Tour, command by command, on a fresh directory: any non-zero exit fails.

Offline variants where the Tour needs the network: TFDS's cache ($TFDS_DATA_DIR) is laid
out for mnist and fashion_mnist from the shipped MNIST sample, tiled to MNIST's split sizes
(so the default pools fit), `source.path=DIR` is a folder of IDX files made the same way,
and the published mnist_test_seq.npy comes from a file:// mirror holding a small file of
its layout (its expected md5 and size patched to that file's). Builds get small split sizes.
Every config in configs/ is built the same way, as the Tour's "other generators" comment
promises.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.config import Source
from movmnist.sources import open_source
from movmnist.sources.idx import SPLIT_FILES
from movmnist.sources.tfds.cache import CACHE_FORMAT, cache_path, write_cache
from movmnist.tools import published

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["splits.train.sequences=24", "splits.val.sequences=8", "splits.test.sequences=24", "output.shard_size=16"]
MNIST_SIZES = {"train": 60_000, "test": 10_000}


def tour() -> list[str]:
    """The command lines of the README's Tour, comments cut."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Tour", 1)[1].split("```", 2)[1]
    return [re.split(r"\s{2,}#\s", line)[0].strip() for line in block.splitlines() if line.strip()]


def _digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The shipped sample, tiled to MNIST's split sizes: {split: (images, labels)}."""
    sample = open_source(Source(kind="sample"))
    out = {}
    for split, size in MNIST_SIZES.items():
        part = sample.load(split)
        reps = -(-size // len(part))
        out[split] = (np.tile(part.images, (reps, 1, 1))[:size], np.tile(part.labels, reps)[:size])
    return out


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("offline")
    digits = _digits()
    tfds = base / "tfds"
    for name in ("mnist", "fashion_mnist"):
        arrays = {f"{s}-{kind}": a for s, (x, y) in digits.items() for kind, a in (("images", x), ("labels", y))}
        splits = {s: {"count": len(y), "image_shape": [28, 28], "dtype": "uint8"} for s, (_, y) in digits.items()}
        write_cache(cache_path(name, tfds), arrays, {"format": CACHE_FORMAT, "name": name, "splits": splits})
    idx = base / "idx"
    idx.mkdir()
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        x, y = digits[split]
        (idx / images_name).write_bytes(struct.pack(">IIII", 2051, *x.shape) + x.tobytes())  # raw: fast to write
        (idx / labels_name).write_bytes(struct.pack(">II", 2049, len(y)) + y.astype(np.uint8).tobytes())
    mirror = base / "mirror"
    mirror.mkdir()
    np.save(mirror / published.FILE, np.zeros((20, 16, 64, 64), np.uint8))
    return {"tfds": tfds, "idx": idx, "mirror": mirror}


def _offline_variant(line: str, offline: dict[str, Path]) -> tuple[list[str], bool]:
    """(argv, whether stdout must be JSON) for one Tour line."""
    args = shlex.split(line)
    wants_json = "|" in args and args[args.index("|") + 1] == "jq"
    for stop in ("|", ">"):
        if stop in args:
            args = args[: args.index(stop)]
    args = [f"source.path={offline['idx']}" if a == "source.path=DIR" else a for a in args]
    if args[:2] == ["movmnist", "build"]:
        args += [f"--set={s}" for s in SMALL]
    if args[:3] == ["movmnist", "fetch", "mnist"]:
        args[args.index("--data-dir") + 1] = str(offline["tfds"])
    if args[:3] == ["movmnist", "fetch", "mnist_test_seq"]:
        args += ["--mirror", offline["mirror"].as_uri(), "-q"]
    return args, wants_json


def test_every_command_of_the_tour_runs(
    tmp_path: Path, offline: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = tour()
    assert len(lines) >= 20 and all(line.startswith(("movmnist ", "python -c ")) for line in lines)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TFDS_DATA_DIR", str(offline["tfds"]))
    fake = (offline["mirror"] / published.FILE).read_bytes()
    monkeypatch.setattr(published, "MD5", hashlib.md5(fake).hexdigest())
    monkeypatch.setattr(published, "SIZE", len(fake))
    runner = CliRunner()
    for line in lines:
        args, wants_json = _offline_variant(line, offline)
        if args[0] == "python":
            done = subprocess.run([sys.executable, *args[1:]], capture_output=True, text=True, env=os.environ.copy())
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            assert done.stdout.strip() == "(20, 64, 64)"
            continue
        result = runner.invoke(cli, args[1:])
        assert result.exit_code == 0, f"{line}\n-> {' '.join(args)}\n{result.output}"
        if wants_json:
            json.loads(result.stdout)


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_every_config_builds_offline_as_the_readme_says(
    tmp_path: Path, offline: dict[str, Path], monkeypatch: pytest.MonkeyPatch, config: str
) -> None:
    monkeypatch.setenv("TFDS_DATA_DIR", str(offline["tfds"]))  # online: the same, downloaded once
    sizes = SMALL[:3] if config != "demo.yaml" else []
    args = ["build", str(ROOT / "configs" / config), "-o", str(tmp_path / "d"), "-q", "-j", "1"]
    result = CliRunner().invoke(cli, [*args, *[f"--set={s}" for s in sizes], "--set=output.shard_size=16"])
    assert result.exit_code == 0, result.output
