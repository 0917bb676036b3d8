"""Error types. Each carries its own exit status; the CLI prints the one-line message."""

from __future__ import annotations

import errno


class MovmnistError(Exception):
    """A problem the user can act on; the message is one line that says how."""

    exit_code = 1


class ConfigError(MovmnistError):
    """The config (file, --set override or flag) is invalid."""

    exit_code = 2


class SourceError(MovmnistError):
    """The digit source (files or their contents) is unusable."""

    exit_code = 2


class DatasetError(MovmnistError):
    """A built dataset is missing, incomplete or damaged."""

    exit_code = 1


class UnknownSplitError(DatasetError):
    """The dataset has no split of the name asked for (a flag or key error, hence exit 2)."""

    exit_code = 2


class OutputError(MovmnistError):
    """The output directory cannot be used as asked."""

    exit_code = 2


class DownloadError(MovmnistError):
    """A source could not be downloaded, or what arrived failed its checksum."""

    exit_code = 1


class BuildError(MovmnistError):
    """A build could not finish (disk full, no permission, a worker died); finished shards are kept."""

    exit_code = 1


class EngineUnavailable(BuildError):
    """The engine could not start (a Dask scheduler out of reach) before any shard was written."""


class BuildLocked(MovmnistError):
    """Another build is running in the same output directory."""

    exit_code = 1


class Interrupted(MovmnistError):
    """The build was interrupted (Ctrl-C); finished shards are kept for --resume (when `resumable`;
    else the rebuild of a finished dataset was abandoned, and the old one kept)."""

    exit_code = 130

    def __init__(self, message: str, out: str = "", finished: int = 0, total: int = 0, resumable: bool = False) -> None:
        super().__init__(message, out, finished, total, resumable)
        self.out, self.finished, self.total, self.resumable = out, finished, total, resumable

    def __str__(self) -> str:
        return str(self.args[0])


class WriteFailed(MovmnistError):
    """Writing a file failed for a reason of the storage (full, read-only, no permission).

    Raised in worker processes and pickled back to the driver, which adds the plan's size
    estimate; so it keeps its parts as plain strings.
    """

    exit_code = 1

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"

    @classmethod
    def from_os_error(cls, path: object, exc: OSError) -> WriteFailed:
        return cls(str(path), os_reason(exc))


_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_REASON_TEXT = {  # HDF5 reports the C errno only inside its message text
    "no space left": errno.ENOSPC,
    "quota exceeded": errno.EDQUOT,
    "file too large": errno.EFBIG,
    "read-only file system": errno.EROFS,
    "permission denied": errno.EACCES,
}


def os_reason(exc: OSError) -> str:
    """A short reason for an OSError, also for h5py's, whose errno is buried in its text."""
    if exc.errno in _REASONS:
        return _REASONS[exc.errno]
    text = str(exc).lower()
    for needle, code in _REASON_TEXT.items():
        if needle in text:
            return _REASONS[code]
    if exc.strerror:
        return exc.strerror.lower()
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
