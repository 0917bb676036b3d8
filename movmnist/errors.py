"""Error types. Each carries its own exit status; the CLI prints the one-line message."""

from __future__ import annotations


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


class OutputError(MovmnistError):
    """The output directory cannot be used as asked."""

    exit_code = 2


class DownloadError(MovmnistError):
    """A source could not be downloaded, or what arrived failed its checksum."""

    exit_code = 1
