"""Commands for evaluation packs: packs (the catalogue), pack (build one), score (a prediction against one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from movmnist.cli.common import ProgressBar, cli


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def packs(as_json: bool) -> None:
    """List the evaluation packs: name, what each reproduces, its sizes and its pinned digest.

    The digest listed is that of the tests' small build (`small`, on synthetic digits); the
    full-size digest is printed by `movmnist pack` when it builds one.

    \b
    Example:
        movmnist packs --json
    """
    from dataclasses import asdict

    from movmnist.config.packs import CATALOGUE

    if as_json:
        rows = [{**asdict(p), "config": p.config} for p in CATALOGUE]
        click.echo(json.dumps(rows))
        return
    for p in CATALOGUE:
        click.echo(f"{p.name}: {p.reproduces}")
        click.echo(f"  sizes: {p.sizes}; files: {', '.join(f.path for f in p.files)}; config: {p.config}")
        for protocol in p.protocols:
            trains, tests = ", ".join(protocol.train), ", ".join(protocol.test)
            click.echo(f"  protocol {protocol.name} (varies {protocol.varies}): {trains} -> {tests}")
        click.echo(f"  digest (small: --set {' --set '.join(p.small)}): {p.small_digest}")


@cli.command()
@click.argument("name")
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Folder to write NAME/ into.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a field of the pack's config, e.g. --set splits.test.sequences=100; VARIANT:KEY=VALUE"
    " overrides one variant of an ood suite only, e.g. --set fashion:source.path=DIR. Repeatable.",
)
@click.option("--workers", "-j", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--overwrite", is_flag=True, help="Replace OUT/NAME if it exists.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the pack's manifest as JSON.")
def pack(
    name: str, out: Path, overrides: tuple[str, ...], workers: int | None, overwrite: bool, quiet: bool, as_json: bool
) -> None:
    """Build evaluation pack NAME into OUT/NAME: its consumer's files, and pack.json with their digest.

    An out-of-distribution suite (ood-*) also prints its leakage report, computed from the
    built data, and is refused when a training and a test file share source images or the
    property its protocol varies.

    \b
    Example:
        movmnist pack openstl-mmnist -o packs/
        movmnist pack predrnn-mnist -o packs/ --set source.kind=idx --set source.path=mnist/
        movmnist pack ood-sprites -o packs/ --set fashion:source.kind=idx --set fashion:source.path=fashion/
    """
    from movmnist.builder.pack import make_pack

    bar = ProgressBar(disable=quiet)
    try:
        data = make_pack(name, out, overrides, workers=workers, overwrite=overwrite, progress=bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(data))
        return
    click.echo(f"pack {data['pack']} -> {out / name}")
    for entry in data["files"]:
        shapes = "; ".join(f"{k} {v['dtype']} {v['shape']}" for k, v in entry["arrays"].items())
        click.echo(f"  {entry['path']}: {shapes}")
    for report in data.get("protocols", []):
        _echo_report(report)
    click.echo(f"digest {data['digest']}")


def _echo_report(report: dict[str, Any]) -> None:
    """A protocol's leakage report: what each file holds, then each train -> test pair."""
    varies = report["varies"]
    click.echo(f"protocol {report['name']} (varies {varies}): {'LEAKS' if report['leak'] else 'no leakage'}")
    for path, seen in report["observed"].items():
        speed = "" if seen["speed"] is None else f", speed {seen['speed'][0]:.4f}-{seen['speed'][1]:.4f}"
        click.echo(
            f"  {path}: {seen['sequences']} sequences x {seen['frames']} frames, digits {seen['digits']}{speed},"
            f" source {seen['source']}, {seen['images']} images"
        )
    for pair in report["pairs"]:
        common = pair[f"shared_{varies}"]
        images = pair["shared_images"] if pair["same_source"] else "none (other source)"
        click.echo(f"  {pair['train']} -> {pair['test']}: shared {varies} {common or 'none'}, shared images {images}")


@cli.command()
@click.argument("pred", type=click.Path(path_type=Path))
@click.option("--pack", "pack_dir", type=click.Path(path_type=Path), required=True, help="A pack folder.")
@click.option(
    "--metrics",
    type=click.Choice(["openstl", "predrnn"]),
    default="openstl",
    show_default=True,
    help="Whose metric definitions to use (README, Evaluation packs).",
)
@click.option(
    "--file",
    "file",
    metavar="NAME",
    help="The pack's test file to score against, e.g. test-1digit.npy (default: the pack's target).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON (an infinite PSNR as null).")
def score(pred: Path, pack_dir: Path, metrics: str, file: str | None, as_json: bool) -> None:
    """Score prediction PRED (npy, npz or HDF5, the pack's layout) against a test file of pack DIR.

    PRED holds the predicted frames (the last T - K of the test file), uint8 or float in
    [0, 1], in that file's layout or as [N, T - K, C, H, W] (OpenSTL's preds.npy). The file
    is the pack's target unless --file names another of its test files (an ood suite has
    several); the output names the one scored.

    \b
    Example:
        movmnist score saved/preds.npy --pack packs/openstl-mmnist --metrics openstl --json
        movmnist score preds.npy --pack packs/ood-digits --file test-1digit.npy
    """
    import math

    from movmnist.tools.score import score as run

    result = run(pred, pack_dir, metrics=metrics, file=file)
    if as_json:

        def finite(x: object) -> object:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: finite(v) for k, v in x.items()}
            if isinstance(x, list):
                return [finite(v) for v in x]
            return x

        click.echo(json.dumps(finite(result)))
        return
    names = [k for k in ("mse", "mae", "psnr", "ssim") if k in result]
    click.echo(
        f"{metrics} metrics on {result['file']}, {result['sequences']} sequences x {result['frames']} predicted frames"
    )
    click.echo("frame " + " ".join(f"{k:>10}" for k in names))
    for i in range(result["frames"]):
        click.echo(f"{i + 1:>5} " + " ".join(f"{result['per_frame'][k][i]:10.4f}" for k in names))
    click.echo(" mean " + " ".join(f"{result[k]:10.4f}" for k in names))
    if "mse_per_seq" in result:
        click.echo(f"mse per seq (PredRNN's line): {result['mse_per_seq']:.4f}")
