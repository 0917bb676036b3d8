"""cli: the command line. Each command parses, calls one library function, formats; nothing else.

Lives here: `common` (the `cli` group, which turns a MovmnistError into a one-line message
and its exit status, and the pieces commands share: `config_options`, config loading,
writing to a file or stdout, the progress bar), and one module per family of commands:
`building` (build, plan, config show), `looking` (preview, info, stats, verify, export),
`loading` (bench-loader) and `sourcing` (sources, fetch). `commands()` imports them, which
registers their commands on `cli` (also `movmnist.cli.cli`, imported when first asked for).
`main` is the `movmnist` script: it takes the signals before it imports anything else, so
that a Ctrl-C at start-up is one line too.

May import every layer below it: `errors`, `files`, `text`, `config`, `core`, `sources`,
`store`, `read`, `tools`, `builder`. Heavy modules (numpy, h5py, the builder, ...) are
imported inside the commands that need them, so that `movmnist --help` and quick commands
start fast.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

__all__ = ["cli", "commands", "main"]


def commands() -> click.Group:
    """The `cli` group, every command registered on it."""
    from movmnist.cli import building, loading, looking, packing, sourcing  # noqa: F401  (importing registers)
    from movmnist.cli.common import cli

    return cli


def __getattr__(name: str) -> click.Group:
    if name == "cli":  # `from movmnist.cli import cli`
        return commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """The `movmnist` script: the `cli` group. Ctrl-C and SIGTERM (what kill, Slurm and docker
    send) take the same way out: one line, temporaries removed, exit status 130 or 143."""
    from movmnist.cli.signals import as_interrupt, leave

    as_interrupt(signal.SIGTERM)
    try:
        commands()(prog_name="movmnist")
    except KeyboardInterrupt:  # outside a command: while starting or exiting
        leave()
