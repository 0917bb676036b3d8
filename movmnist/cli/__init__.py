"""cli: the command line. Each command parses, calls one library function, formats; nothing else.

Lives here: `common` (the `cli` group, which turns a MovmnistError into a one-line message
and its exit status, and the pieces commands share: `config_options`, config loading,
writing to a file or stdout, the progress bar), and one module per family of commands:
`building` (build, plan, config show), `looking` (preview, info, stats, verify, export),
`loading` (bench-loader) and `sourcing` (sources, fetch). Importing this package imports them, which registers
their commands on `cli`. `main` is the `movmnist` script.

May import every layer below it: `errors`, `files`, `text`, `config`, `core`, `sources`,
`store`, `read`, `tools`, `builder`. Heavy modules (numpy, h5py, the builder, ...) are
imported inside the commands that need them, so that `movmnist --help` and quick commands
start fast.
"""

from __future__ import annotations

import sys

import click

from movmnist.cli import building, loading, looking, packing, sourcing  # noqa: F401  (importing a command module registers its commands)
from movmnist.cli.common import cli

__all__ = ["cli", "main"]


def main() -> None:
    """The `movmnist` script: the `cli` group, with Ctrl-C as one line and exit status 130."""
    try:
        cli(prog_name="movmnist")
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
