"""The ray engine on a local Ray instance, started once for the module (Ray takes seconds to start).

A Ray build gives the same arrays and shard bytes as a local one; a failed task, or Ctrl-C,
ends it as it ends a local or Dask build, and --resume finishes it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import movmnist
from movmnist.builder import build, engines
from movmnist.config import Config
from movmnist.errors import BuildError, ConfigError, DatasetError, Interrupted
from movmnist.store import manifest
from tests import faults


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'movmnist[ray]'")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def ray_cancels(ray_instance: Any) -> Any:
    """The instance, for the tests whose build cancels running Ray tasks: opt-in.

    In a fresh-clone CI run (2026-12-06) the pytest process (the Ray driver) exited with status
    1 and no message. Its Ray log (python-core-driver-*.log) shows Ray 2.60's own check failing
    in TaskManager::CompletePendingTask, "Tried to complete task that was not pending", 47 ms
    after our ray.cancel(force=True) of a running task: cancel races the task's reply inside
    Ray (ray-project/ray#54846, PR #54798 fixed the retry variant of the same race). Builds
    that do not cancel (the first test) run by default."""
    if not os.environ.get("MOVMNIST_TEST_RAY"):
        pytest.skip(
            "set MOVMNIST_TEST_RAY=1 to run the tests that cancel running Ray tasks (a Ray race aborts the driver)"
        )
    return ray_instance


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tiny")
    data = faults.tiny_config(faults.tiny_npz(root / "digits.npz"))
    build(Config.from_data(data), root / "local", workers=2)
    path = faults.write_config(root / "tiny.yaml", data)
    return {"data": data, "path": path, "local": root / "local", "digests": faults.shard_digests(root / "local")}


def _cfg(tiny: dict[str, Any], kind: str) -> Config:
    data = json.loads(json.dumps(tiny["data"]))
    data["engine"] = {"kind": kind}
    return Config.from_data(data)


def test_a_ray_build_gives_the_same_arrays_and_shards(ray_instance: Any, tiny: dict[str, Any], tmp_path: Path) -> None:
    counted: list[int] = []

    class Count:
        def start(self, total: int) -> None:
            counted.append(-total)

        def advance(self, n: int) -> None:
            counted.append(n)

    out = tmp_path / "r"
    data = build(_cfg(tiny, "ray"), out, workers=2, progress=Count()).to_data()  # type: ignore[arg-type]
    assert data["engine"] == "ray" and data["workers"] == 2 and "engine" not in data["config"]
    assert faults.shard_digests(out) == tiny["digests"]
    assert counted[:2] == [-160, 0] and counted[2:] == [10] * 16  # nothing resumed, then whole shards
    with movmnist.open(out) as ours, movmnist.open(tiny["local"]) as theirs:
        for split in ("train", "test"):
            np.testing.assert_array_equal(
                ours[split].read("frames", slice(None)), theirs[split].read("frames", slice(None))
            )
    assert ray_instance.is_initialized()  # the program's own connection is left to it


def test_a_failed_task_stops_the_run_with_its_own_exception(ray_cancels: Any, tiny: dict[str, Any]) -> None:
    from movmnist.builder.driver import prepare

    shards = prepare(_cfg(tiny, "ray"))[0].shards

    def fails(task: Any) -> None:  # pickled by value: Ray workers need not import the tests
        raise ValueError(f"no room for {task.filename}")

    with pytest.raises(engines.ShardTaskError) as info, engines.RayEngine(None, 2) as engine:
        list(engine.run(fails, shards, None))
    assert type(info.value.error) is ValueError and str(info.value.error) == f"no room for {info.value.shard}"


def test_ctrl_c_cancels_the_tasks_then_resume_finishes(ray_cancels: Any, tiny: dict[str, Any], tmp_path: Path) -> None:
    class CtrlC:  # the driver's own progress callback is where KeyboardInterrupt lands
        def start(self, total: int) -> None:
            pass

        def advance(self, n: int) -> None:
            raise KeyboardInterrupt

    out = tmp_path / "c"
    with pytest.raises(Interrupted, match=r"interrupted: \d+ of 16 shards are finished and kept in"):
        build(_cfg(tiny, "ray"), out, workers=2, progress=CtrlC())  # type: ignore[arg-type]
    assert faults.temporaries(out) == [] and not (out / manifest.MANIFEST).exists()
    assert faults.looks_complete_but_is_not(out) == []
    build(_cfg(tiny, "local"), out, resume=True, workers=2)  # the engine is not part of the dataset
    assert faults.shard_digests(out) == tiny["digests"]


def test_ray_missing_says_what_to_install(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"install it: pip install 'movmnist\[ray\]'"):
        build(_cfg(tiny, "ray"), tmp_path / "d")
    outcome = faults.invoke(["build", str(tiny["path"]), "-o", str(tmp_path / "e"), "--address", "auto", "-q"])
    assert faults.refused(outcome, "the ray engine needs Ray; install it: pip install 'movmnist[ray]'"), outcome


def test_an_unreachable_address_is_a_one_line_error_at_once(
    tiny: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ray.init retries an address nothing answers at for minutes (measured: over 2 minutes of warnings).
    ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'movmnist[ray]'")
    # With MOVMNIST_TEST_RAY the module's instance is up, and a build reuses a program's connection.
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = json.loads(json.dumps(tiny["data"]))
    data["engine"] = {"kind": "ray", "address": f"127.0.0.1:{port}"}
    started = time.monotonic()
    with pytest.raises(BuildError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port} \(Connection refused\)"):
        build(Config.from_data(data), tmp_path / "d")
    assert time.monotonic() - started < engines.ray.CONNECT_TIMEOUT
    assert not (tmp_path / "d" / manifest.BUILDING).exists() and not list((tmp_path / "d").glob("*.h5"))
    with pytest.raises(DatasetError, match=r"has no manifest.json: not a movmnist dataset"):
        movmnist.open(tmp_path / "d")
    outcome = faults.invoke(["build", str(tiny["path"]), "-o", str(tmp_path / "e"), "--address", f"127.0.0.1:{port}"])
    assert outcome.code == 1 and outcome.output.count("\n") <= 2 and "Traceback" not in outcome.output, outcome
    assert f"Error: cannot reach the Ray cluster at 127.0.0.1:{port} (Connection refused); check" in outcome.output


def test_cli_address_flags_that_contradict(tmp_path: Path) -> None:
    dask = faults.invoke(["build", "-o", str(tmp_path / "a"), "--engine", "dask", "--address", "auto"])
    assert dask.code == 2 and "Error: --address is for --engine ray; drop one of them" in dask.output, dask
    bad = faults.invoke(["build", "-o", str(tmp_path / "b"), "--address", "tcp://h:1"])
    assert faults.refused(bad, "engine.address must look like HOST:PORT (the head's GCS port) or auto"), bad
    assert not any(tmp_path.iterdir())
