"""Faults during a build: kill -9 at random moments, a worker that raises, a directory made read-only.

Every trial ends the same way: nothing looks complete that is not, no temporary file is
left, and `--resume` gives the bytes of a clean build.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from movmnist.builder import build
from movmnist.config import Config
from movmnist.store import manifest
from tests import faults

KILL_TRIALS = int(os.environ.get("MOVMNIST_KILL_TRIALS", "10"))  # the bench runs more

INJECT = """
import os
if os.environ.get("MOVMNIST_TEST_FAIL_AT"):
    import movmnist.builder.worker as _build

    _generate, _calls = _build.generate, [0]

    def _failing(*args, **kwargs):
        _calls[0] += 1
        if _calls[0] == int(os.environ["MOVMNIST_TEST_FAIL_AT"]):
            raise RuntimeError("injected fault: the digit pool went away")
        return _generate(*args, **kwargs)

    _build.generate = _failing
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("faults")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    clean = root / "clean"
    build(Config.from_data(data), clean, workers=2)
    return {"cfg": Config.from_data(data), "path": faults.write_config(root / "tiny.yaml", data), "root": root,
            "digests": faults.shard_digests(clean)}  # fmt: skip


def _settled(out: Path) -> bool:
    """What any interrupted build must leave: no temporaries; every recorded shard whole."""
    return faults.looks_complete_but_is_not(out) == [] and (
        (out / manifest.MANIFEST).exists() or faults.temporaries(out) == []
    )


def test_kill_9_at_random_moments_then_resume(
    tiny: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    rng = random.Random(0x5EED ^ os.getpid())
    for trial in range(KILL_TRIALS):
        out = tmp_path / f"k{trial}"
        proc = faults.start(tiny["path"], out, "-j", "2")  # type: ignore[arg-type]
        marker = out / manifest.BUILDING
        try:
            faults.wait_for(marker.exists, timeout=30)
            proc.wait(timeout=rng.uniform(0.0, 1.0))
        except subprocess.TimeoutExpired:
            pass
        finally:
            faults.kill_tree(proc)
        settled = faults.looks_complete_but_is_not(out) == []  # (kill -9 leaves temporaries: resume removes them)
        build(tiny["cfg"], out, resume=True, workers=2)  # type: ignore[arg-type]
        ok = settled and faults.shard_digests(out) == tiny["digests"] and faults.temporaries(out) == []
        case("faults", ok)
        assert ok, f"trial {trial}"


def test_a_worker_that_raises_fails_the_build_with_its_message(
    tiny: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(INJECT)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp_path / "d"
    result = faults.run(tiny["path"], out, "-j", "2", env={**env, "MOVMNIST_TEST_FAIL_AT": "15"})  # type: ignore[arg-type]
    line = result.stderr.strip()
    ok = (
        result.returncode == 1
        and "\n" not in line
        and "failed: RuntimeError: injected fault: the digit pool went away; finished shards are kept" in line
        and not (out / manifest.MANIFEST).exists()
        and _settled(out)
    )
    build(tiny["cfg"], out, resume=True, workers=2)  # type: ignore[arg-type]
    ok = ok and faults.shard_digests(out) == tiny["digests"]
    case("faults", ok)
    assert ok, result.stderr


def test_output_made_read_only_mid_build(
    tiny: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]
) -> None:
    out = tmp_path / "d"
    popen = {"preexec_fn": faults.without_dac_override} if os.geteuid() == 0 else {}
    proc = faults.start(tiny["path"], out, "-j", "2", **popen)  # type: ignore[arg-type]
    try:
        faults.wait_for(lambda: any(out.glob("*.h5")), timeout=30)
        out.chmod(0o555)
        _, err = proc.communicate(timeout=60)
    finally:
        out.chmod(0o755)
        if proc.poll() is None:
            faults.kill_tree(proc)
    if (out / manifest.MANIFEST).exists():
        pytest.skip("the build finished before the directory was made read-only")
    line = err.strip()
    ok = proc.returncode == 1 and "\n" not in line and "permission denied; the build needs about" in line
    # Temporaries cannot be removed from a read-only directory: --resume removes them.
    ok = ok and faults.looks_complete_but_is_not(out) == [] and not (out / manifest.MANIFEST).exists()
    # The lock could not be removed either: the next build takes it over, with a warning.
    warnings: list[str] = []
    build(tiny["cfg"], out, resume=True, workers=2, warn=warnings.append)  # type: ignore[arg-type]
    ok = ok and faults.shard_digests(out) == tiny["digests"]
    case("faults", ok)
    assert ok, (err, warnings)


def test_disk_full_then_resume(tiny: dict[str, object], tmp_path: Path, case: Callable[[str, bool], None]) -> None:
    import resource

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    out = tmp_path / "d"
    result = faults.run(tiny["path"], out, preexec_fn=small_disk)  # type: ignore[arg-type]
    line = result.stderr.strip()
    ok = result.returncode == 1 and "\n" not in line and "file size limit exceeded" in line and _settled(out)
    ok = ok and not (out / manifest.MANIFEST).exists() and not any(out.glob("*.h5"))
    build(tiny["cfg"], out, resume=True, workers=2)  # type: ignore[arg-type]
    ok = ok and faults.shard_digests(out) == tiny["digests"]
    case("faults", ok)
    assert ok, line
    data = json.loads((out / manifest.MANIFEST).read_text())
    assert data["config"]["seed"] == 0


def test_disk_full_late_in_a_shard_is_one_line(tmp_path: Path, case: Callable[[str, bool], None]) -> None:
    import resource

    # One lzf shard of ~250 kB (HDF5 compresses: its objects cannot be freed once a write failed);
    # the limit lands in its last fifth.
    data = faults.tiny_config(faults.tiny_npz(tmp_path / "digits.npz"))
    data.update(canvas={"height": 32, "width": 32}, sequence={"length": 10}, build={"chunk_size": 8})
    data["output"] = {"shard_size": 200, "compression": "lzf"}
    data["splits"]["train"]["sequences"], data["splits"]["test"]["sequences"] = 200, 0
    config = faults.write_config(tmp_path / "c.yaml", data)

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    out = tmp_path / "d"
    result = faults.run(config, out, "-j", "1", preexec_fn=small_disk)  # type: ignore[arg-type]
    line = result.stderr.strip()
    ok = result.returncode == 1 and "\n" not in line and "file size limit exceeded" in line and _settled(out)
    build(Config.from_data(data), out, resume=True, workers=1)
    ok = ok and (out / manifest.MANIFEST).exists()
    case("faults", ok, traceback="Traceback" in result.stderr)
    assert ok, result.stderr[:2000]
