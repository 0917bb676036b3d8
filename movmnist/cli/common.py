"""What the command modules share: the `cli` group they register on, and their helpers.

The group turns a MovmnistError into one line on stderr and the error's exit status.
`config_options` is the CONFIG argument and --set; `load` resolves them into a Config;
`split_option` is --split; `write_out` writes a file or stdout (`refuse_terminal` keeps
binary data off a terminal); `ProgressBar` is the build's tqdm bar on stderr.
Module level imports only click and the standard library: the command modules import this
on every start, `movmnist --help` included.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from movmnist import __version__
from movmnist.cli.signals import leave
from movmnist.errors import Interrupted, MovmnistError
from movmnist.text import brief


class _RuntimeError(click.ClickException):
    """A MovmnistError on its way out: one line on stderr, exit status 1."""

    exit_code = 1


class _InputError(click.ClickException):
    """A MovmnistError about the user's config, files or flags: exit status 2."""

    exit_code = 2


class _Group(click.Group):
    """The command group: a MovmnistError leaves as one line and its exit status (1 or 2); an
    interruption (Ctrl-C, SIGTERM) as one line and the signal's (130, 143), never click's "Aborted!".

    The one place that words errors for the terminal: every message (ours and click's) is cut
    by `text.brief`, so that no echoed input, however long, floods it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Interrupted as exc:
            leave(brief(str(exc)))
        except KeyboardInterrupt:  # before a command holds anything to clean up, or in one that has none
            leave()
        except MovmnistError as exc:
            raise (_InputError if exc.exit_code == 2 else _RuntimeError)(brief(str(exc))) from None
        except OSError as exc:  # a name the file system refuses, wherever a command met it
            if exc.errno != errno.ENAMETOOLONG:
                raise
            where = exc.filename if isinstance(exc.filename, str) else "a path given"
            raise _InputError(
                brief(
                    f"{where}: file name too long (the file system takes 255 bytes a name, 4,096 a path);"
                    " give a shorter path"
                )
            ) from None
        except click.ClickException as exc:  # click's own (a bad option value): it echoes the value
            exc.message = brief(exc.message)  # type: ignore[misc]
            raise


def config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The CONFIG argument and --set, shared by every command that reads a config."""
    f = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config field, e.g. --set sequence.length=30 (value parsed as YAML). Repeatable.",
    )(f)
    return click.argument("config", required=False, metavar="[CONFIG]")(f)


# The splits a build makes (config.SPLITS, restated: this module imports only click), and
# Hugging Face's name for val, which the loader takes too.
SPLIT_NAMES = ("train", "val", "validation", "test")


def split_option(default: str | None, help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--split, one of SPLIT_NAMES (click lists them in --help and exits 2 on any other)."""
    return click.option(
        "--split", default=default, show_default=default is not None, type=click.Choice(SPLIT_NAMES), help=help
    )


def load(config: str | None, overrides: tuple[str, ...]) -> Any:
    """The validated Config from CONFIG and --set; the YAML loader is imported only here, when called."""
    from movmnist.config.load import load_config

    return load_config(config, overrides)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="movmnist")
def cli() -> None:
    """Build Moving MNIST datasets: bouncing digits on a canvas, written as HDF5 shards.

    \b
    Example:
        movmnist build configs/default.yaml --out data/moving-mnist
        movmnist preview data/moving-mnist --gif preview.gif
    """


def interactive() -> bool:
    """Whether stderr is a terminal (someone watching a progress bar)."""
    return sys.stderr.isatty()


class ProgressBar:
    """tqdm on stderr, created when the work knows its total (build, stats, verify, export, fetch)."""

    def __init__(self, disable: bool, unit: str = "seq", terminal_only: bool = False) -> None:
        # terminal_only: for commands whose output people read or pipe (stats, verify,
        # export, fetch), the bar shows only where stderr is a terminal; a build always shows it.
        self.disable = disable or (terminal_only and not interactive())
        self.unit = unit
        self._bar: Any = None

    def start(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit=self.unit, file=sys.stderr, disable=self.disable, smoothing=0.1)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def write(self, message: str) -> None:
        """A line on stderr that does not garble the bar."""
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def refuse_terminal(target: str, what: str) -> None:
    """UsageError (exit 2) when binary data would go to stdout ('-') and stdout is a terminal."""
    if target == "-" and sys.stdout.isatty():
        raise click.UsageError(f"refusing to write {what} to a terminal; redirect it (> out-file) or give a file name")


def write_out(target: str, data: bytes) -> None:
    """Write bytes to a file, or to stdout for '-' (not a terminal: `refuse_terminal` first)."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None
