"""Commands about feeding a training loop: bench-loader."""

from __future__ import annotations

import json

import click

from movmnist.cli.common import cli, config_options, load, split_option


@cli.command("bench-loader")
@config_options
@split_option("train", "Which split to stream.")
@click.option("--batch", default=32, show_default=True, type=click.IntRange(min=1), help="Sequences per batch.")
@click.option(
    "--workers",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="PyTorch DataLoader worker processes (0: read in this process, no torch needed).",
)
@click.option("--epoch", default=1, show_default=True, type=click.IntRange(min=0), help="Training epoch to draw.")
@click.option("--sequences", type=click.IntRange(min=1), help="Stop after this many sequences (default: the split).")
@click.option("--floats", is_flag=True, help="Deliver frames as float32 in [0, 1], as most training code wants.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def bench_loader(
    config: str | None,
    overrides: tuple[str, ...],
    split: str,
    batch: int,
    workers: int,
    epoch: int,
    sequences: int | None,
    floats: bool,
    as_json: bool,
) -> None:
    """Measure how fast a training loop receives CONFIG's sequences, generated on the fly.

    Streams one epoch of the split (movmnist.procedural(CONFIG)[split].epoch(E).stream(batch)),
    in this process or through a PyTorch DataLoader with --workers processes, and prints
    sequences per second, worker start-up included. Writes nothing.

    \b
    Example:
        movmnist bench-loader configs/default.yaml --split train --batch 32 --workers 2
        movmnist bench-loader configs/demo.yaml --sequences 2000 --floats --json
    """
    from movmnist.tools.loader import bench_loader as run

    rate = run(load(config, overrides), split, batch, workers, epoch, sequences, floats)
    click.echo(json.dumps(rate.to_data()) if as_json else rate.format_text())
