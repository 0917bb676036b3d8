"""The output directory: who builds in it (the lock), and what an earlier build left there.

`manifest` names the files; this module decides what to do with them: take the lock,
clear the directory for a fresh build, or check what an interrupted build finished, so
that `--resume` regenerates only the shards that are missing or damaged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from movmnist import files
from movmnist.errors import BuildError, BuildLocked, OutputError
from movmnist.store import manifest, records

# Builds are POSIX-only (Linux, macOS): the lock is an flock, and the local engine forks its
# workers from a server. Reading a dataset (movmnist.open) never comes here, so it works anywhere.
flock: ModuleType | None
try:
    import fcntl as flock
except ImportError:  # Windows
    flock = None

Warn = Callable[[str], None]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- one builder per directory ---------------------------------------------------------


def _describe(holder: dict[str, Any]) -> str:
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('started', '?')}"


def _read_holder(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 16)
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def locked(out: Path, warn: Warn) -> Iterator[None]:
    """Hold `out/.movmnist-lock` (pid, host, start time) for the duration of a build.

    The kernel's flock on the open file says whether its owner still runs: a lock whose
    owner died (kill -9, power loss) is free, and is taken over with a warning. A lock
    written on another host is never taken over: that host's build may still be running.
    """
    if flock is None:
        raise BuildError("movmnist builds need a POSIX system (Linux, macOS, WSL); reading a dataset works anywhere")
    path = out / manifest.LOCK
    host = socket.gethostname()
    fd = -1
    holder: dict[str, Any] | None
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            flock.flock(fd, flock.LOCK_EX | flock.LOCK_NB)
            flock_works = True
        except BlockingIOError:
            holder = _read_holder(fd) or {}
            os.close(fd)
            raise BuildLocked(
                f"{out} is being built by {_describe(holder)}; wait for that build to finish, or use another --out"
            ) from None
        except OSError as exc:  # a file system without flock: fall back on the pid alone
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                os.close(fd)
                raise
            flock_works = False
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous owner removed the file between our open and our flock: again
    else:
        raise BuildLocked(f"cannot take the lock {path}: it keeps changing; is another build starting?")
    try:
        holder = _read_holder(fd)
        if holder is not None:
            alive = holder.get("host") == host and not flock_works and _pid_alive(holder.get("pid"))
            if holder.get("host") not in (host, None) or alive:
                raise BuildLocked(
                    f"{out} is locked by {_describe(holder)}; if no build is running there, delete {path} and retry"
                )
            warn(f"taking over the lock of a build that is no longer running ({_describe(holder)})")
        mine = json.dumps({"pid": os.getpid(), "host": host, "started": now()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, mine + b"\n", 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield
    finally:
        # Unlink while still holding the flock, so nobody locks a file that is about to vanish.
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)


# --- a fresh build ----------------------------------------------------------------------


def _entries(out: Path) -> list[str]:
    return sorted(e.name for e in out.iterdir() if e.name != manifest.LOCK)


def claim(out: Path, overwrite: bool) -> None:
    """Make `out` (which exists and is locked) ready for a fresh build; never touch what is not ours."""
    names = _entries(out)
    others = [n for n in names if not manifest.is_ours(n)]
    if not others and names and all(n in manifest.CARD_FILES for n in names):
        others = [names[0]]  # a README.md or preview.gif alone is nobody's dataset card: maybe the user's
    if others:
        raise OutputError(
            f"{out} is not empty and is not a movmnist dataset (it holds {others[0]!r}); choose an empty or new --out"
        )
    if names and not overwrite:
        if manifest.MANIFEST not in names and manifest.BUILDING in names:
            raise OutputError(
                f"{out} holds an interrupted build; pass --resume to finish it, or --overwrite to start again"
            )
        raise OutputError(
            f"{out} already holds a movmnist dataset; pass --overwrite to replace it, or choose another --out"
        )
    # The manifest goes first, so that a half-deleted dataset never looks complete.
    for name in sorted(names, key=lambda n: n != manifest.MANIFEST):
        (out / name).unlink()


def remove_temporaries(out: Path) -> None:
    """Remove the temporary files of writers that no longer run (call when no worker writes)."""
    with contextlib.suppress(OSError):
        for entry in out.iterdir():
            if manifest.TEMP_NAME.match(entry.name) and entry.name != f".{manifest.LOCK}":
                entry.unlink(missing_ok=True)


def finish(out: Path, planned: Sequence[str]) -> None:
    """After the manifest: drop what only an unfinished build needs (it holds the same sha256s).

    planned: the file names of every shard of the plan."""
    for name in planned:
        records.record_path(out / name).unlink(missing_ok=True)
    (out / manifest.BUILDING).unlink(missing_ok=True)
    remove_temporaries(out)


# --- resuming ---------------------------------------------------------------------------


@dataclass
class Finished:
    """What an earlier build left that can be kept: shard file name -> (sha256, bytes)."""

    shards: dict[str, tuple[str, int]] = field(default_factory=dict)
    damaged: list[str] = field(default_factory=list)
    complete: manifest.Manifest | None = None  # the manifest, when nothing needs rebuilding


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: data}


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'field (was A, now B)' for every dotted field that differs; the engine never counts."""
    a, b = _flatten({k: v for k, v in old.items() if k != "engine"}), _flatten(new)

    def show(flat: dict[str, Any], key: str) -> str:
        return json.dumps(flat[key]) if key in flat else "absent"

    keys = [*a, *(k for k in b if k not in a)]
    return [f"{k} (was {show(a, k)}, now {show(b, k)})" for k in keys if k not in a or k not in b or a[k] != b[k]]


def _recorded_config(out: Path) -> tuple[dict[str, Any] | None, manifest.Manifest | None]:
    """(config an earlier build recorded, its manifest if it finished); (None, None) if none."""
    if (out / manifest.MANIFEST).exists():
        data = manifest.read_manifest(out)
        return data.config, data
    marker = out / manifest.BUILDING
    if not marker.exists():
        return None, None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OutputError(f"{marker} is not readable ({exc}); pass --overwrite to start the build again") from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise OutputError(f"{marker} records no config; pass --overwrite to start the build again")
    return data["config"], None


def check_finished(out: Path, planned: Sequence[str], config: dict[str, Any], warn: Warn) -> Finished:
    """Check every shard an earlier build of `config` finished in `out` (locked); remove the rest.

    A shard is kept when its sha256 matches its record (`{shard}.sha256`, written after its
    rename) or, for a finished dataset, the manifest. Anything else of ours is removed, so
    that the build regenerates it. Refuses a directory built with a different config.
    """
    recorded, done = _recorded_config(out)
    names = _entries(out)
    if recorded is None:
        if any(manifest.SHARD_NAME.match(n) for n in names):
            raise OutputError(f"{out} holds shards but no record of their build; pass --overwrite to start again")
        claim(out, overwrite=True)
        return Finished()
    diffs = config_differences(recorded, config)
    if diffs:
        raise OutputError(
            f"refusing to resume: {out} was built with a different config: {'; '.join(diffs)}; "
            "resume with the same config, or pass --overwrite to start again"
        )
    expected = {s.file: s.sha256 for s in done.shards} if done is not None else {}
    finished = Finished()
    for name in planned:
        path = out / name
        if not path.exists():
            continue
        digest = records.read_record(path) or expected.get(name)
        if digest is not None and files.sha256_file(path) == digest:
            finished.shards[name] = (digest, path.stat().st_size)
            continue
        if digest is not None:
            finished.damaged.append(name)
            warn(f"shard {path} is damaged (its sha256 does not match its record); rebuilding it")
        path.unlink()
        records.record_path(path).unlink(missing_ok=True)
    if done is not None and len(finished.shards) == len(planned):
        finished.complete = done
        return finished
    # The manifest goes first: from here the dataset no longer looks complete.
    (out / manifest.MANIFEST).unlink(missing_ok=True)
    wanted = set(planned)
    for name in names:
        stem = name.removesuffix(records.RECORD_SUFFIX)
        stray = (manifest.SHARD_NAME.match(name) or manifest.RECORD_NAME.match(name)) and stem not in wanted
        if (
            stray
            or manifest.TEMP_NAME.match(name)
            or (name.endswith(records.RECORD_SUFFIX) and stem not in finished.shards)
        ):
            (out / name).unlink(missing_ok=True)
    return finished
