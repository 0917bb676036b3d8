"""Signals (issue 18, item 11): SIGTERM (what kill, Slurm and docker send) as Ctrl-C, and
either one at start-up: one line, the conventional status (130, 143), no temporary left,
and `--resume` gives the bytes of a clean build.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from movmnist.builder import build
from movmnist.config import Config
from movmnist.store import manifest
from tests import faults
from tests.reliability.conftest import Case


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("signals")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    clean = root / "clean"
    build(Config.from_data(data), clean, workers=2)
    return {"cfg": Config.from_data(data), "path": faults.write_config(root / "tiny.yaml", data),
            "digests": faults.shard_digests(clean)}  # fmt: skip


def _catches(pid: int, signum: int) -> bool:
    """Whether process `pid` has a handler for `signum` (its SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def _signalled(tiny: dict[str, object], out: Path, signum: int, when: float, after_marker: bool) -> tuple[int, str]:
    """Start a build, send `signum` `when` seconds after it takes SIGTERM (or writes its marker): (status, stderr)."""
    proc = faults.start(tiny["path"], out, "-j", "2")  # type: ignore[arg-type]
    try:
        started = (
            (lambda: (out / manifest.BUILDING).exists())
            if after_marker
            else (lambda: _catches(proc.pid, signal.SIGTERM))
        )
        assert faults.wait_for(started, timeout=30)
        try:
            proc.wait(timeout=when)
        except subprocess.TimeoutExpired:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            faults.kill_tree(proc)
    assert faults.children(proc.pid) == []
    return proc.returncode, err


def _settled(out: Path) -> bool:
    return (
        faults.temporaries(out) == []
        and faults.looks_complete_but_is_not(out) == []
        and not (out / manifest.LOCK).exists()
    )


def test_sigterm_mid_build_is_ctrl_c(tiny: dict[str, object], tmp_path: Path, case: Case) -> None:
    rng = random.Random(os.getpid())
    for trial in range(3):
        out = tmp_path / f"t{trial}"
        code, err = _signalled(tiny, out, signal.SIGTERM, rng.uniform(0.0, 0.3), after_marker=True)
        if (out / manifest.MANIFEST).exists():
            continue  # finished before the signal
        ok = code == 143 and err.count("\n") == 1 and "shards are finished and kept in" in err
        ok = ok and err.rstrip().endswith(f"run: movmnist build {tiny['path']} --out {out} --resume") and _settled(out)
        build(tiny["cfg"], out, resume=True, workers=2)  # type: ignore[arg-type]
        ok = ok and faults.shard_digests(out) == tiny["digests"]
        case("signals", ok, traceback="Traceback" in err)
        assert ok, (code, err)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_at_start_up_is_one_line(tiny: dict[str, object], tmp_path: Path, case: Case, signum: int) -> None:
    rng = random.Random(os.getpid() + signum)
    for trial in range(3):
        out = tmp_path / f"s{trial}"
        code, err = _signalled(tiny, out, signum, rng.uniform(0.0, 0.25), after_marker=False)
        if (out / manifest.MANIFEST).exists():
            continue
        ok = code == 128 + signum and err.count("\n") == 1 and "interrupted" in err and _settled(out)
        case("signals", ok, traceback="Traceback" in err)
        assert ok, (code, err)


def test_ctrl_c_in_a_terminal_stops_a_dask_build_in_one_line(tmp_path: Path, case: Case) -> None:
    """A terminal's Ctrl-C reaches the whole process group, Dask's worker processes too: each
    printed its KeyboardInterrupt traceback under the driver's line (67 lines in all)."""
    pytest.importorskip("distributed")
    data = faults.tiny_config(faults.tiny_npz(tmp_path / "digits.npz"))
    data["splits"]["train"]["sequences"] = 400_000  # type: ignore[index]
    data["output"]["shard_size"] = 1_000  # type: ignore[index]
    config, out = faults.write_config(tmp_path / "big.yaml", data), tmp_path / "out"
    proc = faults.start(config, out, "-j", "2", "--engine", "dask", start_new_session=True)
    try:
        # Both workers are up (they ignore SIGINT once started: a worker still importing prints
        # its traceback, a window the README names) and the build writes shards.
        running = faults.wait_for(lambda: _shards_done(out) >= 1 and _workers_ignore_sigint(proc.pid, 2), 60)
        if running and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            faults.kill_tree(proc)
    if (out / manifest.MANIFEST).exists():
        pytest.skip("the build finished before its workers were up")
    ok = running and proc.returncode == 130 and err.count("\n") == 1 and "shards are finished and kept in" in err
    ok = ok and _settled(out)
    case("signals", ok, traceback="Traceback" in err)
    assert ok, (running, proc.returncode, err[-2000:])


def _workers_ignore_sigint(driver: int, count: int) -> bool:
    """Whether `count` Dask worker processes (spawned) under `driver` ignore SIGINT (SigIgn in /proc)."""
    ignoring = 0
    for pid in faults.children(driver):
        try:
            if "spawn_main" not in Path(f"/proc/{pid}/cmdline").read_text():
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        ignored = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigIgn:"))
        ignoring += bool(ignored >> (signal.SIGINT - 1) & 1)
    return ignoring >= count


def _shards_done(out: Path) -> int:
    names = [p.name for p in out.iterdir()] if out.exists() else []
    return sum(n.endswith(".h5") and not manifest.TEMP_NAME.match(n) for n in names)
