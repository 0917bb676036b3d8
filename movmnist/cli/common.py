"""The command line: parse, call one library function, format. Nothing else.

Heavy modules are imported inside the commands that need them, so that `--help` and
quick commands start fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from movmnist import __version__
from movmnist.errors import MovmnistError


class _RuntimeError(click.ClickException):
    """A MovmnistError on its way out: one line on stderr, exit status 1."""

    exit_code = 1


class _InputError(click.ClickException):
    """A MovmnistError about the user's config, files or flags: exit status 2."""

    exit_code = 2


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MovmnistError as exc:
            if exc.exit_code not in (1, 2):  # 130 for an interrupted build
                error = click.ClickException(str(exc))
                error.exit_code = exc.exit_code  # type: ignore[misc]
                raise error from None
            raise (_InputError if exc.exit_code == 2 else _RuntimeError)(str(exc)) from None


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


class ProgressBar:
    """tqdm on stderr, created when the build knows its total."""

    def __init__(self, disable: bool) -> None:
        self.disable = disable
        self._bar: Any = None

    def start(self, total: int) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, unit="seq", file=sys.stderr, disable=self.disable, smoothing=0.1)

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


def write_out(target: str, data: bytes) -> None:
    """Write bytes to a file, or to stdout for '-'."""
    if target == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        Path(target).write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror}") from None


_KINDS = {
    "tfds": "a TensorFlow Datasets image set by name (source.name): mnist, fashion_mnist and kmnist download"
    " without TensorFlow; others (cifar10, emnist/letters, ...) need movmnist[tensorflow] to prepare",
    "idx": "a folder with the four MNIST IDX files (source.path), raw or .gz",
    "npz": "a Keras-style mnist.npz (source.path) with x_train, y_train, x_test, y_test",
    "synthetic": "built-in handwriting-like digits, no download (source.seed; source.colour for RGB)",
}


@cli.command()
@config_options
@click.option("--name", "names", multiple=True, metavar="NAME", help="Also report this TFDS set. Repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def sources(config: str | None, overrides: tuple[str, ...], names: tuple[str, ...], as_json: bool) -> None:
    """List the source kinds, and which TFDS sets are cached in CONFIG's source.data_dir.

    Reports mnist, fashion_mnist, kmnist, CONFIG's source.name and every --name. Downloads nothing.

    \b
    Example:
        movmnist sources --name cifar10 --set source.data_dir=/scratch/tfds
    """
    from movmnist.sources.tfds import IDX_SETS, status

    cfg = load(config, overrides)
    wanted = dict.fromkeys([*IDX_SETS, cfg.source.name, *names])
    sets = [status(name, cfg.source.data_dir) for name in wanted]
    if as_json:
        click.echo(json.dumps({"kinds": _KINDS, "source": cfg.source.kind, "tfds": sets}))
        return
    for kind, text in _KINDS.items():
        mark = "*" if kind == cfg.source.kind else " "
        click.echo(f"{mark} {kind:<10} {text}")
    click.echo(f"tfds sets in {sets[0]['data_dir']}:")
    for item in sets:
        if item["cached"]:
            sizes = ", ".join(f"{k} {v}" for k, v in item["splits"].items())
            shape = "x".join(map(str, item["image_shape"]))
            state = f"cached ({sizes}; {shape})"
        elif item.get("prepared"):
            state = "prepared by TFDS, not yet cached (the first build reads it, no TensorFlow needed)"
        elif item["needs_tensorflow"]:
            state = "not cached; preparing it needs TensorFlow: pip install 'movmnist[tensorflow]'"
        else:
            state = "not cached; movmnist fetch " + item["name"] + " downloads it (no TensorFlow)"
        click.echo(f"  {item['name']:<16} {state}")


@cli.command()
@click.argument("name")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="TFDS data dir (default: $TFDS_DATA_DIR or ~/tensorflow_datasets).",
)
@click.option(
    "--mirror", metavar="URL", help="Download mnist/fashion_mnist/kmnist from this URL base; checksums still verified."
)
@click.option("--force", is_flag=True, help="Download and decode again even if cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the cache description as JSON.")
def fetch(name: str, data_dir: str | None, mirror: str | None, force: bool, as_json: bool) -> None:
    """Download the TFDS set NAME and cache its decoded images, for machines without network.

    Run it where there is network, on the data dir the workers share; builds then read the
    cache (source.data_dir) without downloading or importing tensorflow-datasets.

    \b
    Example:
        movmnist fetch mnist --data-dir /shared/tensorflow_datasets
    """
    from movmnist.sources.tfds import cache_path
    from movmnist.sources.tfds import fetch as run_fetch

    meta = run_fetch(name, data_dir, mirror=mirror, force=force)
    if as_json:
        click.echo(json.dumps({"path": str(cache_path(name, data_dir)), **meta}))
        return
    sizes = ", ".join(f"{k} {v['count']}" for k, v in meta["splits"].items())
    shape = "x".join(map(str, next(iter(meta["splits"].values()))["image_shape"]))
    click.echo(f"{name}: {sizes} images of {shape} uint8, cached in {cache_path(name, data_dir)}")
