"""The output directory: who builds in it (the lock), and what an earlier build left there.

`manifest` names the files; this module decides what to do with them: take the lock,
clear the directory for a fresh build, or check what an interrupted build finished, so
that `--resume` regenerates only the shards that are missing or damaged.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from movmnist import files
from movmnist.errors import BuildError, BuildLocked, OutputError
from movmnist.store import manifest, records
from movmnist.text import cut, short

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


def _refuse(path: Path, what: str) -> OutputError:
    return OutputError(
        f"{path} is {what}, where movmnist keeps a file of its own; refusing to use it: remove it and retry"
    )


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file; never through a symlink, and never a file that is not ours alone."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(path, "a symlink") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:  # a FIFO, a device, or a hard link to someone's file
        os.close(fd)
        raise _refuse(path, "not a plain file" if not stat.S_ISREG(st.st_mode) else "a hard link to another file")
    return fd


def refuse_links(out: Path) -> None:
    """OutputError if an entry of `out` with one of our names is a symlink or not a plain file."""
    for entry in out.iterdir():
        if manifest.is_ours(entry.name) and entry.name != manifest.LOCK:
            if entry.is_symlink():
                raise _refuse(entry, "a symlink")
            if not entry.is_file():
                raise _refuse(entry, "not a plain file")


def _take(path: Path, mode: int, busy: Callable[[int], BaseException]) -> tuple[int, bool]:
    """Open the lock file at `path` and flock it (`mode`, never waiting); return (fd, whether flock works).

    `busy(fd)` makes the error raised when another process holds it. Retried when the owner
    removed the file between our open and our flock, so that we never hold a vanished file."""
    assert flock is not None
    for _ in range(20):
        fd = _open_lock(path)
        try:
            flock.flock(fd, mode | flock.LOCK_NB)
            flock_works = True
        except BlockingIOError:
            error = busy(fd)
            os.close(fd)
            raise error from None
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
            return fd, flock_works
        os.close(fd)
    raise BuildLocked(f"cannot take the lock {path}: it keeps changing; is another build starting?")


def _posix_only() -> None:
    if flock is None:
        raise BuildError("movmnist builds need a POSIX system (Linux, macOS, WSL); reading a dataset works anywhere")


@contextlib.contextmanager
def locked(out: Path, warn: Warn, name: str = manifest.LOCK, what: str | None = None) -> Iterator[None]:
    """Hold `out/.movmnist-lock` (pid, host, start time) for the duration of a build.

    The kernel's flock on the open file says whether its owner still runs: a lock whose
    owner died (kill -9, power loss) is free, and is taken over with a warning. A lock
    written on another host is never taken over: that host's build may still be running.
    `name`: another lock file of the directory (a part's: `store.parts`), held the same way;
    `what`: what it locks, for the messages (default: the directory).
    Parts of a build hold `.movmnist-lock` shared (`shared`): it is then busy, with no holder written.
    """
    _posix_only()
    assert flock is not None
    path = out / name
    host = socket.gethostname()

    def busy(fd: int) -> BuildLocked:
        holder = _read_holder(fd)
        if not holder and name == manifest.LOCK:
            return BuildLocked(
                f"{out} is being built in parts (build --shard-index); wait for them to finish, or use another --out"
            )
        return BuildLocked(
            f"{what or out} is being built by {_describe(holder or {})}; wait for that build to finish,"
            " or use another --out"
        )

    fd, flock_works = _take(path, flock.LOCK_EX, busy)
    try:
        holder = _read_holder(fd)
        if holder is not None:
            alive = holder.get("host") == host and not flock_works and _pid_alive(holder.get("pid"))
            if holder.get("host") not in (host, None) or alive:
                raise BuildLocked(
                    f"{what or out} is locked by {_describe(holder)}; if no build is running there, delete {path}"
                    " and retry"
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
        # Unlink while still holding the flock, so nobody locks a file that is about to vanish;
        # and only our own file: after a swap (`replace_with`) the name may be another build's.
        with contextlib.suppress(OSError):
            if os.lstat(path).st_ino == os.fstat(fd).st_ino:
                path.unlink()
        os.close(fd)


@contextlib.contextmanager
def shared(out: Path, warn: Warn) -> Iterator[None]:
    """Hold `out/.movmnist-lock` shared, as each part of a build does while it runs: parts run
    side by side, while a whole build and `merge` (which take it whole, `locked`) wait for none.

    A holder left in the file by a build that died is cleared (with a warning), on the same
    terms as `locked` takes one over; the file itself is left for `locked` to remove."""
    _posix_only()
    assert flock is not None
    path = out / manifest.LOCK

    def busy(fd: int) -> BuildLocked:
        return BuildLocked(
            f"{out} is being built by {_describe(_read_holder(fd) or {})}; wait for that build to finish,"
            " or use another --out"
        )

    fd, flock_works = _take(path, flock.LOCK_SH, busy)
    try:
        holder = _read_holder(fd)
        if holder is not None:
            alive = not flock_works and _pid_alive(holder.get("pid"))
            if holder.get("host") not in (socket.gethostname(), None) or alive:
                raise BuildLocked(
                    f"{out} is locked by {_describe(holder)}; if no build is running there, delete {path} and retry"
                )
            warn(f"clearing the lock of a build that is no longer running ({_describe(holder)})")
            os.ftruncate(fd, 0)
        yield
    finally:
        os.close(fd)


# --- a fresh build ----------------------------------------------------------------------


def _entries(out: Path) -> list[str]:
    return sorted(e.name for e in out.iterdir() if e.name != manifest.LOCK)


def claim(out: Path, overwrite: bool) -> None:
    """Make `out` (which exists and is locked) ready for a fresh build; never touch what is not ours."""
    names = claimable(out, overwrite)
    # The manifest goes first, so that a half-deleted dataset never looks complete.
    for name in sorted(names, key=lambda n: n != manifest.MANIFEST):
        (out / name).unlink()


def claimable(out: Path, overwrite: bool) -> list[str]:
    """What a fresh build of `out` (which exists and is locked) would remove; OutputError if it may not."""
    refuse_links(out)
    names = _entries(out)
    others = [n for n in names if not manifest.is_ours(n)]
    if not others and names and all(n in manifest.CARD_FILES for n in names):
        others = [names[0]]  # a README.md or preview.gif alone is nobody's dataset card: maybe the user's
    if others:
        raise OutputError(
            f"{out} is not empty and is not a movmnist dataset (it holds {others[0]!r}); choose an empty or new --out"
        )
    if names and not overwrite:
        if manifest.MANIFEST not in names and any(manifest.PART_NAME.match(n) for n in names):
            raise OutputError(
                f"{out} holds parts of a build (build --shard-index); finish them and run movmnist merge {out},"
                " or pass --overwrite to start again"
            )
        if manifest.MANIFEST not in names and manifest.BUILDING in names:
            raise OutputError(
                f"{out} holds an interrupted build; pass --resume to finish it, or --overwrite to start again"
            )
        raise OutputError(
            f"{out} already holds a movmnist dataset; pass --overwrite to replace it, or choose another --out"
        )
    return names


# --- replacing a finished dataset -----------------------------------------------------

STAGE_PREFIX = ".movmnist-new-"  # `beside`: `.{name}.movmnist-new-{random}` next to the dataset


def beside(out: Path) -> Path | None:
    """A new, empty, private directory next to `out` to build its replacement in; None when the
    parent is not writable (the caller then replaces `out` in place)."""
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}{STAGE_PREFIX}", dir=out.parent))
    except OSError:
        return None
    os.chmod(stage, stat.S_IMODE(os.stat(out).st_mode))  # the dataset keeps its permissions
    return stage


def replace_with(out: Path, stage: Path) -> None:
    """Put the finished dataset in `stage` at `out`, and remove the one that was there.

    One atomic exchange of the two directories where the kernel has it (Linux renameat2),
    else two renames: a reader opening `out` finds the old dataset or the new one, whole,
    never a mix; the moment between the two renames, nothing.
    """
    if _exchange(stage, out):
        old = stage
    else:
        old = stage.with_name(stage.name.replace(STAGE_PREFIX, ".movmnist-old-"))
        os.rename(out, old)
        os.rename(stage, out)
    files.fsync_dir(out.parent)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one step (renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def remove_temporaries(out: Path, owned: Collection[str] | None = None) -> None:
    """Remove the temporary files of writers that no longer run (call when no worker writes).

    owned: only those of files of these names (a part of a build: its own, not the other parts')."""
    with contextlib.suppress(OSError):
        for entry in out.iterdir():
            mine = owned is None or entry.name[1:].rsplit(".tmp-", 1)[0] in owned
            if manifest.TEMP_NAME.match(entry.name) and entry.name != f".{manifest.LOCK}" and mine:
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


IGNORED = ("engine", "source.path")  # where it runs; where the digit files lie (their digests are checked instead)


def config_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'field (was A, now B)' for every dotted field that differs, but for the `IGNORED` ones."""
    a, b = _flatten(old), _flatten(new)
    for flat in (a, b):
        for key in [k for k in flat if any(k == i or k.startswith(f"{i}.") for i in IGNORED)]:
            del flat[key]

    def show(flat: dict[str, Any], key: str) -> str:
        return json.dumps(flat[key]) if key in flat else "absent"

    keys = [*a, *(k for k in b if k not in a)]
    return [f"{k} (was {show(a, k)}, now {show(b, k)})" for k in keys if k not in a or k not in b or a[k] != b[k]]


@dataclass(frozen=True)
class Recorded:
    """What an earlier build of `out` recorded when it started (its marker) or finished (its manifest)."""

    config: dict[str, Any]
    source: dict[str, Any] | None  # None: a marker of a movmnist that did not record it
    version: str | None
    done: manifest.Manifest | None


def _recorded(out: Path) -> Recorded | None:
    """What an earlier build recorded; None if there was none."""
    if (out / manifest.MANIFEST).exists():
        data = manifest.read_manifest(out)
        return Recorded(data.config, data.source, data.movmnist_version, data)
    marker = out / manifest.BUILDING
    if not marker.exists():
        return None
    try:
        raw = files.read_bounded(marker, MARKER_LIMIT)  # a FIFO or a huge file there is refused
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise OutputError(
            f"{marker} is not readable ({cut(str(exc))}); pass --overwrite to start the build again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise OutputError(f"{marker} records no config; pass --overwrite to start the build again")
    source, version = data.get("source"), data.get("movmnist_version")
    return Recorded(
        data["config"],
        source if isinstance(source, dict) else None,
        version if isinstance(version, str) else None,
        None,
    )


MARKER_LIMIT = 1 << 24  # bytes: a marker holds a config and a source description


def _without_path(source: dict[str, Any]) -> dict[str, Any]:
    # Where the files lie may change between the start and the resume; their digests may not.
    return {k: v for k, v in source.items() if k != "path"}


def check_same_origin(out: Path, recorded: Recorded, source: dict[str, Any], version: str) -> None:
    """Refuse to resume a build started by another movmnist, or from other digit images."""
    fix = "or pass --overwrite to start again"
    if recorded.source is None or recorded.version is None:
        raise OutputError(
            f"refusing to resume: {out} was started by a movmnist that did not record its digit source; {fix}"
        )
    if recorded.version != version:
        raise OutputError(
            f"refusing to resume: {out} was started by movmnist {cut(recorded.version, 40)}, this is movmnist"
            f" {version}; finish it with movmnist {cut(recorded.version, 40)}, {fix}"
        )
    a, b = _flatten(_without_path(recorded.source)), _flatten(_without_path(source))
    diffs = [k for k in [*a, *(k for k in b if k not in a)] if a.get(k, _ABSENT) != b.get(k, _ABSENT)]
    if diffs:
        shown = "; ".join(f"{k} (was {_show(a.get(k, 'absent'))}, now {_show(b.get(k, 'absent'))})" for k in diffs[:3])
        more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
        raise OutputError(
            f"refusing to resume: {out} was started from other digit images: {shown}{more}; "
            f"resume with the source it was started from, {fix}"
        )


_ABSENT = object()


def _show(value: Any) -> str:
    return cut(value, 20) if isinstance(value, str) else short(value)  # a digest: its first 19 hex digits


def check_finished(
    out: Path,
    planned: Sequence[str],
    config: dict[str, Any],
    warn: Warn,
    *,
    source: dict[str, Any],
    version: str,
) -> Finished:
    """Check every shard an earlier build of `config` finished in `out` (locked); remove the rest.

    A shard is kept when its sha256 matches its record (`{shard}.sha256`, written after its
    rename) or, for a finished dataset, the manifest. Anything else of ours is removed, so
    that the build regenerates it. Refuses a directory built with a different config, from
    other digit images (`source`: their description, with digests) or by another movmnist
    `version`: shards from two origins would make one dataset that `verify` cannot tell apart.
    """
    refuse_links(out)
    recorded = _recorded(out)
    names = _entries(out)
    if recorded is None:
        if any(manifest.PART_NAME.match(n) for n in names):
            raise OutputError(
                f"{out} holds parts of a build (build --shard-index): resume each part with --shard-index K"
                f" --num-shards N --resume, then run movmnist merge {out}; or pass --overwrite to start again"
            )
        if any(manifest.SHARD_NAME.match(n) for n in names):
            raise OutputError(f"{out} holds shards but no record of their build; pass --overwrite to start again")
        claim(out, overwrite=True)
        return Finished()
    diffs = config_differences(recorded.config, config)
    if diffs:
        raise OutputError(
            f"refusing to resume: {out} was built with a different config: {cut('; '.join(diffs), 400)}; "
            "resume with the same config, or pass --overwrite to start again"
        )
    check_same_origin(out, recorded, source, version)
    done = recorded.done
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
