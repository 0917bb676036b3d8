"""Builds that survive: kill -9 and --resume, damaged shards, Ctrl-C, the lock, storage errors, Dask.

Fault tests run the real command in a subprocess on a tiny npz source (tests/faults.py) and
check the invariants: nothing looks complete that is not, temporaries are removed, and
--resume ends with the same bytes as a clean build.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import movmnist
from movmnist import files
from movmnist.builder import build, engines
from movmnist.config import Config
from movmnist.errors import BuildError, BuildLocked, ConfigError, DatasetError, OutputError
from movmnist.store import manifest, outdir
from tests import faults


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A tiny config (file and Config) and the shard digests of its clean build."""
    root = tmp_path_factory.mktemp("tiny")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    path = faults.write_config(root / "tiny.yaml", data)
    clean = root / "clean"
    build(Config.from_data(data), clean, workers=2)
    return {"data": data, "path": path, "digests": faults.shard_digests(clean), "root": root}


def _cfg(tiny: dict[str, object], **changes: object) -> Config:
    data = json.loads(json.dumps(tiny["data"]))
    for key, value in changes.items():
        section, field = key.split("__")
        data.setdefault(section, {})[field] = value
    return Config.from_data(data)


def test_kill_9_of_the_driver_then_resume_is_byte_identical(tiny: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(os.getpid())
    outcomes = []
    for trial in range(6):
        out = tmp_path / f"t{trial}"
        proc = faults.start(tiny["path"], out, "-j", "2")  # type: ignore[arg-type]
        marker = out / manifest.BUILDING
        try:
            if trial % 2:  # anywhere from start-up on; else once the build has begun
                faults.wait_for(marker.exists, timeout=30)
            proc.wait(timeout=rng.uniform(0.0, 0.8))
        except subprocess.TimeoutExpired:
            pass
        finally:
            faults.kill_tree(proc)
        assert faults.temporaries(out) == [] or not (out / manifest.MANIFEST).exists()
        assert faults.looks_complete_but_is_not(out) == []
        outcomes.append(sum(1 for _ in out.glob("*.h5")) if out.exists() else -1)
        build(_cfg(tiny), out, resume=True, workers=2)
        assert faults.shard_digests(out) == tiny["digests"], f"trial {trial}: killed with {outcomes[-1]} shards"
        assert faults.temporaries(out) == [] and not (out / manifest.LOCK).exists()
        assert sorted(p.name for p in out.iterdir() if p.name not in manifest.CARD_FILES) == sorted(
            [manifest.MANIFEST, *tiny["digests"]]
        )  # type: ignore[list-item]


def test_kill_9_of_a_worker_fails_cleanly_then_resumes(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    proc = faults.start(tiny["path"], out, "-j", "2")  # type: ignore[arg-type]
    try:
        # Once a worker writes a shard (its temporary file exists), kill it.
        assert faults.wait_for(lambda: any(".h5.tmp-" in name for name in faults.temporaries(out)), timeout=30)
        os.kill(faults.workers(proc.pid)[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            faults.kill_tree(proc)
    if proc.returncode == 0:
        pytest.skip("the build finished before a worker could be killed")  # a race on a loaded machine
    assert proc.returncode == 1, err
    assert err.count("\n") == 1 and "rerun with --resume" in err, err
    assert faults.temporaries(out) == [] and not (out / manifest.MANIFEST).exists()
    assert faults.looks_complete_but_is_not(out) == []
    build(_cfg(tiny), out, resume=True, workers=2)
    assert faults.shard_digests(out) == tiny["digests"]


def _interrupted(tiny: dict[str, object], out: Path) -> list[str]:
    """A finished build made to look interrupted: marker back, manifest gone, records written."""
    from movmnist.files import sha256_file
    from movmnist.store.records import write_record

    build(_cfg(tiny), out, workers=2)
    data = json.loads((out / manifest.MANIFEST).read_text())
    (out / manifest.MANIFEST).unlink()
    marker = {
        "pid": 1,
        "config": data["config"],
        "source": data["source"],
        "movmnist_version": data["movmnist_version"],
    }
    files.write_json_atomic(out / manifest.BUILDING, marker)
    names = sorted(tiny["digests"])  # type: ignore[call-overload]
    for name in names:
        write_record(out / name, sha256_file(out / name))
    return names


def test_resume_keeps_good_shards_and_rebuilds_damaged_and_unrecorded(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    names = _interrupted(tiny, out)
    flipped, unrecorded, missing = out / names[1], out / names[5], out / names[9]
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    flipped.write_bytes(bytes(raw))
    (out / (unrecorded.name + ".sha256")).unlink()
    missing.unlink()
    kept = out / names[0]
    before = kept.stat().st_mtime_ns, kept.stat().st_ino
    (out / ".test-00000-of-00004.h5.tmp-99999").write_bytes(b"half a shard")
    warnings: list[str] = []
    build(_cfg(tiny), out, resume=True, workers=2, warn=warnings.append)
    assert [w for w in warnings if "damaged" in w] == [
        f"shard {flipped} is damaged (its sha256 does not match its record); rebuilding it"
    ]
    assert faults.shard_digests(out) == tiny["digests"]
    assert (kept.stat().st_mtime_ns, kept.stat().st_ino) == before  # not rebuilt
    assert sorted(p.name for p in out.iterdir() if p.name not in manifest.CARD_FILES) == sorted(
        [manifest.MANIFEST, *names]
    )


def test_resume_of_a_finished_dataset_repairs_a_flipped_byte(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    first = build(_cfg(tiny), out, workers=2).to_data()
    assert build(_cfg(tiny), out, resume=True).to_data() == first  # nothing to do: the same manifest
    victim = out / sorted(tiny["digests"])[3]  # type: ignore[call-overload]
    raw = bytearray(victim.read_bytes())
    raw[100] ^= 0xFF  # in the HDF5 superblock / metadata
    victim.write_bytes(bytes(raw))
    warnings: list[str] = []
    build(_cfg(tiny), out, resume=True, workers=1, warn=warnings.append)
    assert len(warnings) == 1 and victim.name in warnings[0]
    assert faults.shard_digests(out) == tiny["digests"]


def test_resume_refuses_a_different_config_naming_the_fields(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    _interrupted(tiny, out)
    with pytest.raises(OutputError) as info:
        build(_seeded(tiny, 7), out, resume=True)
    message = str(info.value)
    assert message.startswith(f"refusing to resume: {out} was built with a different config: ")
    assert "seed (was 0, now 7)" in message and "splits.train.sequences (was 120, now 130)" in message
    assert "pass --overwrite to start again" in message and "\n" not in message
    # A different engine is not a different dataset.
    build(_cfg(tiny, engine__kind="local"), out, resume=True, workers=2)
    assert faults.shard_digests(out) == tiny["digests"]


def _seeded(tiny: dict[str, object], seed: int) -> Config:
    data = json.loads(json.dumps(tiny["data"]))
    data["seed"] = seed
    data["splits"]["train"]["sequences"] = 130
    return Config.from_data(data)


def test_plain_build_into_an_interrupted_one_says_resume_or_overwrite(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    _interrupted(tiny, out)
    with pytest.raises(OutputError, match="holds an interrupted build; pass --resume to finish it, or --overwrite"):
        build(_cfg(tiny), out)
    with pytest.raises(ConfigError, match="--overwrite and --resume contradict"):
        build(_cfg(tiny), out, resume=True, overwrite=True)
    build(_cfg(tiny), out, overwrite=True, workers=2)
    assert faults.shard_digests(out) == tiny["digests"]


def test_ctrl_c_stops_promptly_cleans_up_and_says_how_to_resume(tiny: dict[str, object], tmp_path: Path) -> None:
    rng = random.Random(os.getpid())
    for trial in range(3):
        out = tmp_path / f"c{trial}"
        proc = faults.start(tiny["path"], out, "-j", "2")  # type: ignore[arg-type]
        marker = out / manifest.BUILDING
        try:
            assert faults.wait_for(marker.exists, timeout=30)
            try:
                proc.wait(timeout=rng.uniform(0.0, 0.3))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)  # promptly: well before the build would end
        finally:
            if proc.poll() is None:
                faults.kill_tree(proc)
        if (out / manifest.MANIFEST).exists():
            continue  # the build finished before the signal (or while Python was exiting)
        assert proc.returncode == 130, err
        assert err.count("\n") == 1 and "shards are finished and kept in" in err, err
        assert err.rstrip().endswith("--resume"), err
        assert faults.temporaries(out) == [] and not (out / manifest.MANIFEST).exists()
        assert not (out / manifest.LOCK).exists()
        assert faults.children(proc.pid) == []
        command = err.rstrip().rsplit("run: ", 1)[1]
        assert command == f"movmnist build {tiny['path']} --out {out} --resume", command
        build(_cfg(tiny), out, resume=True, workers=2)
        assert faults.shard_digests(out) == tiny["digests"]


def test_disk_full_fails_cleanly_with_the_size_needed(tiny: dict[str, object], tmp_path: Path) -> None:
    def small_disk() -> None:  # room for the lock and the marker, not for a shard
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    for workers in ("1", "2"):
        out = tmp_path / f"j{workers}"
        result = faults.run(tiny["path"], out, "-j", workers, preexec_fn=small_disk)  # type: ignore[arg-type]
        assert result.returncode == 1, result.stderr
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith(f"Error: cannot write {out.resolve()}/"), line
        assert "file size limit exceeded; the build needs about " in line and "(plan estimate)" in line
        assert faults.temporaries(out) == [] and not (out / manifest.MANIFEST).exists()
        assert not any(out.glob("*.h5")) and not (out / manifest.LOCK).exists()
        assert faults.looks_complete_but_is_not(out) == []
    resumed = faults.run(tiny["path"], out, "--resume")  # type: ignore[arg-type]
    assert resumed.returncode == 0 and faults.shard_digests(out) == tiny["digests"]


def test_no_permission_fails_with_one_line_and_exit_1(tiny: dict[str, object], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    popen = {"preexec_fn": faults.without_dac_override} if os.geteuid() == 0 else {}
    try:
        for target in (locked, locked / "sub"):
            result = faults.run(tiny["path"], target, **popen)  # type: ignore[arg-type]
            line = result.stderr.strip()
            assert result.returncode == 1, line
            assert "\n" not in line and "permission denied; the build needs about" in line, line
            assert str(locked) in line and list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_one_builder_per_directory(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    with outdir.locked(out, warn=print):
        holder = json.loads((out / manifest.LOCK).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(BuildLocked, match=rf"{out} is being built by pid {os.getpid()} on "):
            build(_cfg(tiny), out, workers=1)
    assert list(out.iterdir()) == []

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / manifest.LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    warnings: list[str] = []
    build(_cfg(tiny), out, workers=2, warn=warnings.append)
    assert warnings == [
        f"taking over the lock of a build that is no longer running (pid {dead.pid} on {socket.gethostname()} since x)"
    ]
    assert not (out / manifest.LOCK).exists()

    (out / manifest.LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "y"}))
    with pytest.raises(BuildLocked, match=r"is locked by pid 1 on elsewhere since y; if no build is running there"):
        build(_cfg(tiny), out, overwrite=True)


def test_a_second_cli_build_is_refused_while_one_runs(tiny: dict[str, object], tmp_path: Path) -> None:
    out = tmp_path / "d"
    proc = faults.start(tiny["path"], out, "-j", "1")  # type: ignore[arg-type]
    try:
        assert faults.wait_for(lambda: (out / manifest.BUILDING).exists(), timeout=30)
        second = faults.run(tiny["path"], out, "--overwrite")  # type: ignore[arg-type]
    finally:
        proc.communicate(timeout=60)
    if proc.returncode == 0 and "being built" not in second.stderr:
        pytest.skip("the first build finished before the second started")
    assert second.returncode == 1 and f"{out} is being built by pid {proc.pid}" in second.stderr
    assert faults.shard_digests(out) == tiny["digests"]


def test_dask_local_cluster_gives_the_same_bytes(tiny: dict[str, object], tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install 'movmnist[dask]'")
    out = tmp_path / "d"
    data = build(_cfg(tiny, engine__kind="dask"), out, workers=2).to_data()
    assert data["engine"] == "dask" and data["workers"] == 2 and "engine" not in data["config"]
    assert faults.shard_digests(out) == tiny["digests"]


def test_dask_missing_says_what_to_install(
    tiny: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ConfigError, match=r"install it: pip install 'movmnist\[dask\]'"):
        build(_cfg(tiny, engine__kind="dask"), tmp_path / "d")


def test_unreachable_scheduler_is_a_one_line_error(
    tiny: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed", reason="dask is an optional extra: pip install 'movmnist[dask]'")
    monkeypatch.setattr(engines.dask, "CONNECT_TIMEOUT", "0.5s")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BuildError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "):
        build(_cfg(tiny, engine__kind="dask", engine__address=f"tcp://127.0.0.1:{port}"), tmp_path / "d")
    # Nothing was built: the directory is not left looking like an interrupted build.
    assert not (tmp_path / "d" / manifest.BUILDING).exists() and not list((tmp_path / "d").glob("*.h5"))
    with pytest.raises(DatasetError, match=r"has no manifest.json: not a movmnist dataset"):
        movmnist.open(tmp_path / "d")


def test_cli_flags_that_contradict(tiny: dict[str, object], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from movmnist.cli import cli

    runner = CliRunner()
    both = runner.invoke(cli, ["build", str(tiny["path"]), "-o", str(tmp_path / "a"), "--resume", "--overwrite"])
    assert both.exit_code == 2 and "--overwrite and --resume contradict each other" in both.output
    local = runner.invoke(cli, ["build", "-o", str(tmp_path / "b"), "--engine", "local", "--scheduler", "tcp://h:1"])
    assert local.exit_code == 2 and "--scheduler is for --engine dask" in local.output
    bad = runner.invoke(cli, ["build", "-o", str(tmp_path / "c"), "--scheduler", "h:1"])
    assert bad.exit_code == 2 and "engine.address must look like tcp://HOST:PORT (got 'h:1')" in bad.output
    assert not any(tmp_path.iterdir())


def test_plan_memory_does_not_grow_with_the_number_of_sequences(tiny: dict[str, object]) -> None:
    from click.testing import CliRunner

    from movmnist.cli import cli

    def plan(*sets: str) -> dict[str, int]:
        args = [x for s in sets for x in ("--set", s)]
        result = CliRunner().invoke(cli, ["plan", str(tiny["path"]), *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)  # type: ignore[no-any-return]

    small, huge = plan(), plan("splits.train.sequences=100000000", "output.shard_size=10000000")
    assert huge["sequences"] == small["sequences"] - 120 + 100_000_000
    for key in ("worker_memory_bytes", "driver_memory_bytes"):
        assert small[key] == huge[key] and 100_000_000 < small[key] < 500_000_000
    bigger_chunks = plan("build.chunk_size=1000")
    assert small["worker_memory_bytes"] == plan("output.shard_size=1000")["worker_memory_bytes"]
    assert bigger_chunks["worker_memory_bytes"] > small["worker_memory_bytes"]
    text = CliRunner().invoke(cli, ["plan", str(tiny["path"])]).output
    assert "per worker + ~" in text and "it does not grow with the number of sequences" in text
