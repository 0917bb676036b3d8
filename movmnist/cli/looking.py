"""Commands that look at a built dataset, check it or convert it: preview, info, stats, verify, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from movmnist.cli.common import ProgressBar, cli, refuse_terminal, split_option, write_out


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@split_option("test", "Which split to show.")
@click.option("--gif", "gif", metavar="OUT", help="Write an animated GIF grid here (- for stdout).")
@click.option("--png", "png", metavar="OUT", help="Write a PNG contact sheet here instead (- for stdout).")
@click.option("--index", "index", metavar="LIST", help="Sequences to show, e.g. 0,5,8-11 (default: the first ones).")
@click.option("--rows", default=4, show_default=True, type=click.IntRange(1, 32), help="Grid rows (sheet: sequences).")
@click.option("--cols", default=4, show_default=True, type=click.IntRange(1, 32), help="Grid columns (GIF only).")
@click.option("--scale", default=3, show_default=True, type=click.IntRange(1, 16), help="Upscaling factor.")
@click.option("--fps", default=10.0, show_default=True, type=click.FloatRange(0.5, 100), help="Frames per second.")
@click.option(
    "--annotate",
    is_flag=True,
    help="Draw boxes, labels, frame numbers and the stored tracks, captions, corruptions, collisions and flow.",
)
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
    refuse_terminal(gif if gif is not None else str(png), "a GIF" if gif is not None else "a PNG")
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

    DATASET may also be an .npy of mnist_test_seq.npy's layout: its shape, and whether it is
    the published file (md5).

    \b
    Example:
        movmnist info data/moving-mnist
        movmnist info data/moving-mnist --json | jq .splits.test.sequences
    """
    from movmnist.tools import published
    from movmnist.tools.info import format_text, summarize

    if published.is_npy(dataset):  # mnist_test_seq.npy, or an export of the same layout
        summary = published.summarize(dataset)
        click.echo(json.dumps(summary) if as_json else published.format_text(summary))
        return
    summary = summarize(dataset)
    click.echo(json.dumps(summary) if as_json else format_text(summary))


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@split_option(None, "One split (default: every split).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the first N sequences of each split.")
@click.option("--plot", metavar="PNG", help="Also write the statistics as one PNG figure of panels (- for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
def stats(dataset: Path, split: str | None, limit: int | None, plot: str | None, as_json: bool, quiet: bool) -> None:
    """Statistics of DATASET: labels, positions, speeds, movement, overlap, wall contact, PCA.

    Streams over the shards with bounded memory; --limit samples the first N sequences.
    DATASET may also be an .npy of mnist_test_seq.npy's layout (frames only: no labels,
    speeds or boxes), e.g. the published file from `movmnist fetch mnist_test_seq`.

    \b
    Example:
        movmnist stats data/moving-mnist --split test --plot stats.png
        movmnist stats data/moving-mnist --limit 1000 --json | jq .test.overlap_rate
    """
    from movmnist.read.dataset import Dataset
    from movmnist.tools import published
    from movmnist.tools.stats import compute_stats, format_text, stats_total

    if plot == "-" and as_json:
        raise click.UsageError("--plot - and --json would both write to stdout; give --plot a file name")
    if plot is not None:
        refuse_terminal(plot, "a PNG")
    if published.is_npy(dataset):  # mnist_test_seq.npy: frames only, one split
        if plot is not None or split not in (None, "test"):
            raise click.UsageError(f"{dataset} is an .npy of frames alone: give no --plot and no --split")
        result = {"test": published.stats(dataset, limit=limit)}
        click.echo(json.dumps({"test": result["test"].to_data()}) if as_json else format_text(result))
        return
    with Dataset(dataset) as ds:
        bar = ProgressBar(disable=quiet, terminal_only=True)
        bar.start(stats_total(ds, split, limit))
        try:
            result = compute_stats(ds, split=split, limit=limit, progress=bar.advance)
        finally:
            bar.close()
    if plot is not None:
        from movmnist.tools.plot import plot_stats

        write_out(plot, plot_stats(result, title=f"{dataset.name}: {', '.join(result)}"))
    if as_json:
        click.echo(json.dumps({name: s.to_data() for name, s in result.items()}))
    elif plot != "-":
        click.echo(format_text(result))


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
@click.option(
    "--source-path",
    "source_path",
    metavar="PATH",
    help="With --regenerate: the digit source on this machine (idx folder, npz file, image folder, or TFDS data dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print only problems and the verdict; no progress bar.")
def verify(dataset: Path, regenerate: int, source_path: str | None, as_json: bool, quiet: bool) -> None:
    """Check every shard of DATASET against its manifest: exists, sha256, sizes, shapes, dtypes.

    Exit status 0 when everything holds, 1 with a per-shard report otherwise.
    --regenerate needs the digit source the dataset was built from: the manifest's paths and
    URLs are never used (a dataset may come from anywhere), so an idx, npz or images source is named
    with --source-path, and a tfds set must be cached (movmnist fetch; nothing is downloaded).

    \b
    Example:
        movmnist verify data/moving-mnist --regenerate 20 --source-path ~/mnist
    """
    from movmnist.store.manifest import read_manifest
    from movmnist.tools.verify import format_text
    from movmnist.tools.verify import verify as run_verify

    bar = ProgressBar(disable=quiet or as_json, unit="shard", terminal_only=True)
    bar.start(len(read_manifest(dataset).shards))
    try:
        report = run_verify(dataset, regenerate=regenerate, progress=lambda _: bar.advance(1), source_path=source_path)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report.to_data()))
    else:
        text = format_text(report)
        if quiet:
            text = "\n".join(line for line in text.splitlines() if not line.startswith("ok "))
        click.echo(text)
    if not report.ok:
        sys.exit(1)


# The --format choices, restated from tools.exports.FORMATS (this module imports only click at
# start-up; tests/tools/test_exports.py checks the two agree).
EXPORT_FORMATS = ("npy", "predrnn-npz", "webdataset", "hf", "croissant")
DIRECTORY_FORMATS = ("webdataset", "hf")


@cli.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@split_option(None, "Which split to export (npy, predrnn-npz: default test; webdataset, hf: default every split).")
@click.option(
    "--format",
    "format_",
    default="npy",
    show_default=True,
    type=click.Choice(EXPORT_FORMATS),
    help="npy: one uint8 array; predrnn-npz: PredRNN / E3D-LSTM's clips, dims, input_raw_data;"
    " webdataset: a folder of tar shards, one sample per sequence;"
    " hf: a folder of Parquet files per split and a Hugging Face dataset card;"
    " croissant: a JSON-LD file describing the dataset's HDF5 shards.",
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
@click.option(
    "--shard-size",
    type=click.IntRange(min=1),
    metavar="N",
    help="webdataset: sequences per tar shard (default 1000); hf: rows per Parquet file (default 5000).",
)
@click.option(
    "--overwrite", is_flag=True, help="webdataset, hf, croissant: replace an export of the same format that is there."
)
@click.option(
    "--out", "-o", required=True, metavar="OUT", help="File (- for stdout) or, for webdataset and hf, folder to write."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or summary line on stderr.")
def export(
    dataset: Path,
    split: str | None,
    format_: str,
    layout: str,
    input_frames: int | None,
    shard_size: int | None,
    overwrite: bool,
    out: str,
    quiet: bool,
) -> None:
    """Export a built dataset to files other code reads: npy, PredRNN's npz, WebDataset, Hugging Face.

    Streams: reads one chunk of sequences at a time, so memory stays small whatever the split's size.
    A file or folder takes its name only when it is whole. The folder formats (webdataset, hf)
    refuse a folder that exists unless --overwrite (and replace only an export of movmnist's).

    \b
    Example:
        movmnist export data/moving-mnist --split test --format npy -o mnist_test_seq.npy
        movmnist export data/moving-mnist --split train --format predrnn-npz -o moving-mnist-train.npz
        movmnist export data/moving-mnist --split train --format webdataset -o data/mm-wds
        movmnist export data/moving-mnist --format hf -o data/mm-hf
        movmnist export data/moving-mnist --format croissant -o data/moving-mnist/croissant.json
    """
    from movmnist.read.dataset import Dataset
    from movmnist.text import human_bytes
    from movmnist.tools.exports import FORMATS, progress_total, splits_for
    from movmnist.tools.exports import export as run_export

    if format_ != "npy" and layout != "tnhw":
        raise click.UsageError("--layout applies to --format npy only")
    if format_ != "predrnn-npz" and input_frames is not None:
        raise click.UsageError("--input-frames applies to --format predrnn-npz only")
    if format_ not in DIRECTORY_FORMATS and shard_size is not None:
        raise click.UsageError(f"--shard-size applies to --format {' and '.join(DIRECTORY_FORMATS)} only")
    if FORMATS[format_].writes == "file":
        refuse_terminal(out, f"binary {format_}")
    with Dataset(dataset) as ds:
        names = splits_for(ds, format_, split)
        bar = ProgressBar(disable=quiet, unit=FORMATS[format_].unit, terminal_only=True)
        bar.start(progress_total(ds, format_, names))
        try:
            summary = run_export(
                ds,
                out,
                split=split,
                format=format_,
                layout=layout,
                input_frames=input_frames,
                shard_size=shard_size,
                overwrite=overwrite,
                progress=bar.advance,
            )
        finally:
            bar.close()
    if quiet:
        return
    if format_ == "croissant":
        click.echo(
            f"described {summary['shards']} shards ({summary['sequences']} sequences) as croissant -> {out}", err=True
        )
    elif "shape" in summary:
        shape = " x ".join(map(str, summary["shape"]))
        click.echo(f"exported {summary['sequences']} {names[0]} sequences as {format_} [{shape}] -> {out}", err=True)
    else:
        parts = ", ".join(f"{n} {s['sequences']}" for n, s in summary["splits"].items())
        click.echo(
            f"exported {summary['sequences']} sequences ({parts}) as {format_}, {human_bytes(summary['bytes'])}"
            f" -> {out}",
            err=True,
        )
    if format_ == "npy" and layout == "tnhw":
        click.echo(
            "note: the layout of mnist_test_seq.npy, not that file: papers report on Srivastava et al.'s"
            " published one (movmnist fetch mnist_test_seq)",
            err=True,
        )
