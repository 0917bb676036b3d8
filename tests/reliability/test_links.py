"""Planted links: a symlink, hard link or FIFO where movmnist writes a file of its own.

An attacker who can write into the dataset directory (a shared scratch folder) plants
`DIR/.movmnist-lock -> ~/victim`, a symlink at a temporary name, or a symlinked
manifest. Whatever the command, the victim's bytes never change: the build refuses in one
line, or writes around the link (temporary names are random and created exclusively).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from movmnist import files
from movmnist.builder import build
from movmnist.config import Config
from movmnist.store import manifest
from tests import faults
from tests.reliability.conftest import Case

PRECIOUS = b"the user's own file\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("links")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 20, 10
    built = root / "built"
    build(Config.from_data(data), built, workers=1)
    return {"config": faults.write_config(root / "tiny.yaml", data), "built": built}


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_bytes(PRECIOUS)
    return victim


def _untouched(victim: Path) -> bool:
    return victim.read_bytes() == PRECIOUS


@pytest.mark.parametrize("mode", ["fresh", "overwrite", "resume"])
@pytest.mark.parametrize("link", ["symlink", "hard link", "fifo"])
def test_a_planted_lock_file_is_refused(
    mode: str, link: str, tiny: dict[str, Path], tmp_path: Path, case: Case
) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "ds"
    if mode == "fresh":
        out.mkdir()
    else:
        shutil.copytree(tiny["built"], out)
    lock = out / manifest.LOCK
    if link == "symlink":
        lock.symlink_to(victim)
    elif link == "hard link":
        os.link(victim, lock)
    else:
        os.mkfifo(lock)
    extra = {"fresh": [], "overwrite": ["--overwrite"], "resume": ["--resume"]}[mode]
    result = faults.invoke(["build", str(tiny["config"]), "-o", str(out), "-q", "-j", "1", *extra])
    what = {"symlink": "is a symlink", "hard link": "is a hard link", "fifo": "is not a plain file"}[link]
    ok = faults.refused(result, what)
    case("links", ok, traceback=result.traceback, outside=not _untouched(victim))
    assert ok and _untouched(victim), result.output


@pytest.mark.parametrize("name", [manifest.MANIFEST, manifest.BUILDING, "README.md", "test-00000-of-00001.h5"])
def test_a_symlink_in_place_of_a_file_of_ours_is_refused(
    name: str, tiny: dict[str, Path], tmp_path: Path, case: Case
) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "ds"
    shutil.copytree(tiny["built"], out)
    (out / name).unlink(missing_ok=True)
    (out / name).symlink_to(victim)
    results = [
        faults.invoke(["build", str(tiny["config"]), "-o", str(out), "-q", "-j", "1", flag])
        for flag in ("--overwrite", "--resume")
    ]
    ok = all(faults.refused(r, "is a symlink") for r in results) and (out / name).is_symlink()
    case("links", ok, traceback=any(r.traceback for r in results), outside=not _untouched(victim))
    assert ok and _untouched(victim), [r.output for r in results]


def test_symlinks_at_the_old_predictable_temporary_names_are_never_written_through(
    tiny: dict[str, Path], tmp_path: Path, case: Case
) -> None:
    victim = _victim(tmp_path)
    out = tmp_path / "ds"
    out.mkdir()
    pid = os.getpid()  # the build below runs in this process: these were its temporary names
    planted = [manifest.MANIFEST, manifest.BUILDING, "README.md", "preview.gif", "test-00000-of-00001.h5.sha256"]
    for name in planted:
        (out / f".{name}.tmp-{pid}").symlink_to(victim)
    export = tmp_path / "export.npy"
    (tmp_path / f".{export.name}.tmp-{pid}").symlink_to(victim)
    (tmp_path / f"{export.name}.partial").symlink_to(victim)
    built = faults.invoke(["build", str(tiny["config"]), "-o", str(out), "-q", "-j", "1"])
    exported = faults.invoke(["export", str(tiny["built"]), "-o", str(export)])
    ok = faults.refused(built, "is a symlink") and exported.code == 0 and export.stat().st_size > 1000
    case("links", ok, traceback=built.traceback or exported.traceback, outside=not _untouched(victim))
    assert ok and _untouched(victim), (built.output, exported.output)


def test_temporary_names_are_fresh_and_created_exclusively(tmp_path: Path, case: Case) -> None:
    victim = _victim(tmp_path)
    target = tmp_path / "file"
    names = {files.temporary_path(target).name for _ in range(100)}
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(FileExistsError):
        files.create_new(link)
    files.write_atomic(link, b"new")  # the link is replaced, not written through
    ok = len(names) == 100 and not link.is_symlink() and link.read_bytes() == b"new"
    case("links", ok, outside=not _untouched(victim))
    assert ok


def _rewrite_shard(out: Path, attack: str, secret: Path) -> None:
    """Make the first test shard reach outside itself, and update the manifest to match (a foreign dataset)."""
    import h5py
    import numpy as np

    from movmnist.files import sha256_file

    data = json.loads((out / manifest.MANIFEST).read_text())
    entry = data["splits"]["test"]["shards"][0]
    path = out / entry["file"]
    if attack == "symlink outside":
        outside = secret.parent / "elsewhere.h5"
        shutil.copy(path, outside)
        path.unlink()
        path.symlink_to(outside)
    else:
        with h5py.File(path, "a") as f:
            frames = f["frames"][:]
            if attack == "external link":
                with h5py.File(secret, "w") as s:
                    s["x"] = np.arange(10)
                f["leak"] = h5py.ExternalLink(str(secret), "x")
            elif attack == "soft link":
                f["leak"] = h5py.SoftLink("/labels")
            elif attack == "external storage":
                secret.write_bytes(b"secret!!" * (frames.nbytes // 8 + 1))
                del f["frames"]
                f.create_dataset("frames", frames.shape, frames.dtype, external=[(str(secret), 0, frames.nbytes)])
            elif attack == "virtual dataset":
                with h5py.File(secret, "w") as s:
                    s["frames"] = frames + 1
                layout = h5py.VirtualLayout(frames.shape, frames.dtype)
                layout[:] = h5py.VirtualSource(str(secret), "frames", frames.shape)
                del f["frames"]
                f.create_virtual_dataset("frames", layout)
    entry["sha256"], entry["bytes"] = sha256_file(path), path.stat().st_size
    (out / manifest.MANIFEST).write_text(json.dumps(data))


@pytest.mark.parametrize(
    "attack", ["external link", "soft link", "external storage", "virtual dataset", "symlink outside"]
)
def test_a_shard_that_reaches_outside_itself_is_refused(
    attack: str, tiny: dict[str, Path], tmp_path: Path, case: Case
) -> None:
    out = tmp_path / "ds"
    shutil.copytree(tiny["built"], out)
    secret = tmp_path / "secret.bin"
    _rewrite_shard(out, attack, secret)
    checked = faults.invoke(["verify", str(out)])
    exported = faults.invoke(["export", str(out), "-o", str(tmp_path / "x.npy")])
    phrase = "outside the dataset" if attack == "symlink outside" else "is not self-contained"
    ok = checked.code == 1 and phrase in checked.output and faults.refused(exported, phrase, code=1)
    leaked = (tmp_path / "x.npy").exists()
    case("links", ok, traceback=checked.traceback or exported.traceback, wrong=leaked)
    assert ok and not leaked, (checked.output, exported.output)


def test_the_directory_name_cannot_break_the_card(tiny: dict[str, Path], tmp_path: Path, case: Case) -> None:
    import yaml

    name = "x\n---\ninjected: true\n# <script>alert(1)<script> [a](b)"
    out = tmp_path / name
    result = faults.invoke(["build", str(tiny["config"]), "-o", str(out), "-q", "-j", "1"])
    text = (out / "README.md").read_text()
    front = yaml.safe_load(text.split("---\n")[1])
    heading = next(line for line in text.splitlines() if line.startswith("# "))
    ok = result.code == 0 and front["pretty_name"] == name and "injected" not in front
    ok = ok and "<script>" not in heading and "\\<script\\>" in heading
    case("links", ok, traceback=result.traceback)
    assert ok, (result.output, text[:400])
