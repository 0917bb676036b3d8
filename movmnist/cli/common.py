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


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--split", default="test", show_default=True, help="Which split to show.")
@click.option("--gif", "gif", metavar="OUT", help="Write an animated GIF grid here (- for stdout).")
@click.option("--png", "png", metavar="OUT", help="Write a PNG contact sheet here instead (- for stdout).")
@click.option("--index", "index", metavar="LIST", help="Sequences to show, e.g. 0,5,8-11 (default: the first ones).")
@click.option("--rows", default=4, show_default=True, type=click.IntRange(1, 32), help="Grid rows (sheet: sequences).")
@click.option("--cols", default=4, show_default=True, type=click.IntRange(1, 32), help="Grid columns (GIF only).")
@click.option("--scale", default=3, show_default=True, type=click.IntRange(1, 16), help="Upscaling factor.")
@click.option("--fps", default=10.0, show_default=True, type=click.FloatRange(0.5, 100), help="Frames per second.")
@click.option("--annotate", is_flag=True, help="Draw each digit's box and label, and the frame number.")
@click.option(
    "--split-at", "split_at", type=int, metavar="K", help="Frame the first K frames (input) green, the rest orange."
)
def preview(
    dataset: Path,
    split: str,
    gif: str | None,
    png: str | None,
    index: str | None,
    rows: int,
    cols: int,
    scale: int,
    fps: float,
    annotate: bool,
    split_at: int | None,
) -> None:
    """Write an animated GIF grid, or a PNG contact sheet, of sequences read back from the shards.

    The GIF shows --rows x --cols sequences side by side; the PNG shows one sequence
    per row and one frame per column. Colour datasets are shown in colour.

    \b
    Example:
        movmnist preview data/moving-mnist --split test --gif preview.gif
        movmnist preview data/moving-mnist --index 0-3 --annotate --split-at 10 --png sheet.png
    """
    from movmnist.read.dataset import Dataset
    from movmnist.tools.preview import parse_index, preview_gif, preview_png

    if (gif is None) == (png is None):
        raise click.UsageError("give exactly one of --gif OUT or --png OUT")
    chosen = parse_index(index) if index is not None else None
    with Dataset(dataset) as ds:
        if gif is not None:
            data = preview_gif(
                ds,
                split=split,
                rows=rows,
                cols=cols,
                scale=scale,
                fps=fps,
                index=chosen,
                annotate=annotate,
                split_at=split_at,
            )
        else:
            data = preview_png(
                ds, split=split, rows=rows, scale=scale, index=chosen, annotate=annotate, split_at=split_at
            )
    write_out(gif if gif is not None else str(png), data)


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def info(dataset: Path, as_json: bool) -> None:
    """Summarise a built DATASET from its manifest: splits, shapes, source, size, build.

    \b
    Example:
        movmnist info data/moving-mnist
        movmnist info data/moving-mnist --json | jq .splits.test.sequences
    """
    from movmnist.tools.info import format_text, summarize

    summary = summarize(dataset)
    click.echo(json.dumps(summary) if as_json else format_text(summary))


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option(
    "--regenerate",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="K",
    help="Also regenerate K sampled sequences from the config and compare them byte for byte.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the verdict.")
def verify(dataset: Path, regenerate: int, as_json: bool, quiet: bool) -> None:
    """Check every shard of DATASET against its manifest: exists, sha256, sizes, shapes, dtypes.

    Exit status 0 when everything holds, 1 with a per-shard report otherwise.
    --regenerate needs the digit source the dataset was built from.

    \b
    Example:
        movmnist verify data/moving-mnist --regenerate 20
    """
    from movmnist.tools.verify import format_text
    from movmnist.tools.verify import verify as run_verify

    report = run_verify(dataset, regenerate=regenerate)
    if as_json:
        click.echo(json.dumps(report.to_data()))
    else:
        text = format_text(report)
        if quiet:
            text = "\n".join(line for line in text.splitlines() if not line.startswith("ok "))
        click.echo(text)
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--split", default="test", show_default=True, help="Which split to export.")
@click.option(
    "--format",
    "format_",
    default="npy",
    show_default=True,
    type=click.Choice(["npy", "predrnn-npz"]),
    help="npy: one uint8 array; predrnn-npz: PredRNN / E3D-LSTM's clips, dims, input_raw_data.",
)
@click.option(
    "--layout",
    default="tnhw",
    show_default=True,
    type=click.Choice(["tnhw", "nthw", "ntchw"]),
    help="npy axis order: tnhw is mnist_test_seq.npy's [T, N, H, W]; ntchw is torchvision's [N, T, C, H, W].",
)
@click.option(
    "--input-frames",
    type=click.IntRange(min=1),
    metavar="K",
    help="predrnn-npz: frames of input per clip (default: half the sequence).",
)
@click.option("--out", "-o", required=True, metavar="FILE", help="File to write (- for stdout).")
@click.option("--quiet", "-q", is_flag=True, help="No summary line on stderr.")
def export(
    dataset: Path, split: str, format_: str, layout: str, input_frames: int | None, out: str, quiet: bool
) -> None:
    """Export one split to a file other code reads: npy (time-major like mnist_test_seq.npy) or PredRNN's npz.

    Streams: reads one chunk of sequences at a time, so memory stays small whatever the split's size.

    \b
    Example:
        movmnist export data/moving-mnist --split test --format npy -o mnist_test_seq.npy
        movmnist export data/moving-mnist --split train --format predrnn-npz -o moving-mnist-train.npz
    """
    from movmnist.read.dataset import Dataset
    from movmnist.tools.export import export as run_export

    if format_ != "npy" and layout != "tnhw":
        raise click.UsageError("--layout applies to --format npy only")
    if format_ != "predrnn-npz" and input_frames is not None:
        raise click.UsageError("--input-frames applies to --format predrnn-npz only")
    with Dataset(dataset) as ds:
        summary = run_export(ds, out, split=split, format=format_, layout=layout, input_frames=input_frames)
    if not quiet:
        shape = " x ".join(map(str, summary["shape"]))
        click.echo(f"exported {summary['sequences']} {split} sequences as {format_} [{shape}] -> {out}", err=True)


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


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--split", help="One split (default: every split).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N sequences of each split.")
@click.option("--plot", metavar="PNG", help="Also write the statistics as one PNG figure of panels (- for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON on stdout.")
def stats(dataset: Path, split: str | None, limit: int | None, plot: str | None, as_json: bool) -> None:
    """Statistics of DATASET: labels, positions, speeds, movement, overlap, wall contact, PCA.

    Streams over the shards with bounded memory; --limit samples the first N sequences.

    \b
    Example:
        movmnist stats data/moving-mnist --split test --plot stats.png
        movmnist stats data/moving-mnist --limit 1000 --json | jq .test.overlap_rate
    """
    from movmnist.read.dataset import Dataset
    from movmnist.tools.stats import compute_stats, format_text

    if plot == "-" and as_json:
        raise click.UsageError("--plot - and --json would both write to stdout; give --plot a file name")
    with Dataset(dataset) as ds:
        result = compute_stats(ds, split=split, limit=limit)
    if plot is not None:
        from movmnist.tools.plot import plot_stats

        write_out(plot, plot_stats(result, title=f"{dataset.name}: {', '.join(result)}"))
    if as_json:
        click.echo(json.dumps({name: s.to_data() for name, s in result.items()}))
    elif plot != "-":
        click.echo(format_text(result))
