"""Helpers for fault tests: a tiny fast source, builds in a subprocess, and what a directory holds.

Subprocess builds run `python -m movmnist` with a config on a tiny npz source (8x8
digits on a 16x16 canvas), so that one build is well under a second after start-up and a
signal after a random delay can land anywhere in it.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from movmnist.store import manifest


def tiny_npz(path: Path) -> Path:
    """A Keras-layout npz of random 8x8 'digits': 400 train, 100 test."""
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (400, 8, 8), dtype=np.uint8),
        y_train=rng.integers(0, 10, 400, dtype=np.uint8),
        x_test=rng.integers(0, 256, (100, 8, 8), dtype=np.uint8),
        y_test=rng.integers(0, 10, 100, dtype=np.uint8),
    )
    return path


def tiny_config(npz: Path, **sections: Any) -> dict[str, Any]:
    """Plain config data: 16x16 canvas, 4 frames, 160 sequences in 16 shards."""
    data: dict[str, Any] = {
        "canvas": {"height": 16, "width": 16},
        "sequence": {"length": 4},
        "digits": {"count": 2, "size": 8},
        "source": {"kind": "npz", "path": str(npz)},
        "splits": {
            "train": {"sequences": 120, "pool": "train[:300]"},
            "val": {"sequences": 0, "pool": "train[300:]"},
            "test": {"sequences": 40, "pool": "test"},
        },
        "output": {"shard_size": 10},
        "build": {"chunk_size": 1},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return data


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def command(config: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "movmnist", "build", str(config), "--out", str(out), "--quiet", *extra]


def start(config: Path, out: Path, *extra: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(config, out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


def run(config: Path, out: Path, *extra: str, **popen: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(config, out, *extra), capture_output=True, text=True, timeout=120, **popen)


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def children(pid: int, direct: bool = False) -> list[int]:
    """Every descendant of `pid` (from /proc); only its own children if `direct`."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += [] if direct else kids
    return found


def workers(driver: int) -> list[int]:
    """The local engine's worker processes: children of the driver's forkserver."""
    return [w for child in children(driver, direct=True) for w in children(child, direct=True)]


def kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a subprocess and everything under it (tests must leave no process behind)."""
    for pid in [*children(proc.pid), proc.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def shard_digests(out: Path) -> dict[str, str]:
    """sha256 of every shard file in `out`, by name."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if manifest.SHARD_NAME.match(p.name)
    }


def temporaries(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if manifest.TEMP_NAME.match(p.name)] if out.exists() else []


def looks_complete_but_is_not(out: Path) -> list[str]:
    """Shards that a reader or --resume would take as finished but whose bytes do not match."""
    from movmnist.files import sha256_file
    from movmnist.store.records import read_record

    bad = []
    for p in sorted(out.iterdir()) if out.exists() else []:
        if manifest.SHARD_NAME.match(p.name):
            digest = read_record(p)
            if digest is not None and sha256_file(p) != digest:
                bad.append(p.name)
    return bad


def without_dac_override() -> None:
    """In the child, before exec: drop root's power to ignore permission bits."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER: out of the bounding set,
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, so that exec does not give them back
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@dataclass(frozen=True)
class Outcome:
    """What a command printed (stdout and stderr together), its exit status, and whether it was a traceback."""

    code: int
    output: str
    traceback: bool

    @property
    def one_line(self) -> bool:
        return self.output.strip().count("\n") == 0 and not self.traceback


def invoke(args: list[str], input: str | bytes | None = None) -> Outcome:
    """Run `movmnist ARGS` in this process (click's runner)."""
    from click.testing import CliRunner

    from movmnist.cli import cli

    result = CliRunner().invoke(cli, args, input=input)
    raised = result.exception is not None and not isinstance(result.exception, SystemExit)
    return Outcome(result.exit_code, result.output, raised or "Traceback" in result.output)


def refused(outcome: Outcome, phrase: str, code: int = 2) -> bool:
    """Refused as a user's mistake should be: that exit status, one line, holding `phrase`."""
    return outcome.code == code and outcome.one_line and phrase in outcome.output
