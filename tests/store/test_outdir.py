"""The output directory's lock: builds need POSIX flock, and say so in one line where it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from movmnist.errors import BuildError
from movmnist.store import outdir


def test_a_system_without_flock_is_told_builds_need_posix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outdir, "flock", None)
    lock = outdir.locked(tmp_path, print)
    with pytest.raises(BuildError, match=r"^movmnist builds need a POSIX system \(Linux, macOS, WSL\)"):
        lock.__enter__()
    assert list(tmp_path.iterdir()) == []  # nothing written
