"""Commands that build a dataset, or show what a build would do: build, plan, config show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from movmnist.cli.common import ProgressBar, cli, config_options, load
from movmnist.cli.signals import leave


@cli.command()
@config_options
@click.option("--out", "-o", type=click.Path(path_type=Path), help="Dataset directory to write.")
@click.option("--workers", "-j", type=click.IntRange(min=1), help="Worker processes (default: all cores).")
@click.option("--overwrite", is_flag=True, help="Replace a movmnist dataset (or an interrupted build) in --out.")
@click.option(
    "--resume", is_flag=True, help="Finish an interrupted build: keep the shards it finished, build the rest."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask", "ray"]),
    help="Where shard tasks run (default: the config's engine.kind, local).",
)
@click.option(
    "--scheduler",
    metavar="tcp://HOST:PORT",
    help="Dask scheduler address (implies --engine dask); without it, dask starts a local cluster.",
)
@click.option(
    "--address",
    metavar="HOST:PORT|auto",
    help="Ray cluster address (implies --engine ray); without it, ray starts a local instance.",
)
@click.option(
    "--shard-index",
    type=click.IntRange(min=0),
    metavar="K",
    help="Build only part K (0-based) of --num-shards N: a job array's task index. Then: movmnist merge.",
)
@click.option(
    "--num-shards",
    type=click.IntRange(min=1),
    metavar="N",
    help="How many parts the build is split into (contiguous ranges of the plan's shards).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def build(
    config: str | None,
    overrides: tuple[str, ...],
    out: Path | None,
    workers: int | None,
    overwrite: bool,
    resume: bool,
    engine: str | None,
    scheduler: str | None,
    address: str | None,
    shard_index: int | None,
    num_shards: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Generate the dataset described by CONFIG (default: the standard Moving MNIST).

    CONFIG is a YAML file, or - for stdin. Shards are written in parallel, the
    manifest last: if manifest.json exists, the build finished. An interrupted
    build (Ctrl-C, a crash, a full disk) is finished with --resume. With
    --shard-index K --num-shards N, only part K is built (parts run anywhere
    that sees --out, in any order, at once); `movmnist merge` then writes the manifest.

    \b
    Example:
        movmnist build configs/default.yaml --set sequence.length=30 --out data/mm30
        movmnist build configs/default.yaml --out data/mm --resume
        movmnist build configs/default.yaml --out /shared/mm --scheduler tcp://10.0.0.5:8786
        movmnist build configs/default.yaml --out /shared/mm --engine ray --address auto
        movmnist build big.yaml --out /shared/mm --shard-index $SLURM_ARRAY_TASK_ID --num-shards 64
    """
    import shlex
    import time

    from movmnist.builder import build as run_build
    from movmnist.errors import Interrupted

    for flag, value, kind in (("--scheduler", scheduler, "dask"), ("--address", address, "ray")):
        if value is not None:
            engine = engine or kind
            if engine != kind:
                raise click.UsageError(f"{flag} is for --engine {kind}; drop one of them")
    where = scheduler or address
    engine_overrides: tuple[str, ...] = (f"engine.kind={engine}",) if engine else ()
    engine_overrides += (f"engine.address={json.dumps(where)}",) if where else ()
    if (shard_index is None) != (num_shards is None):
        raise click.UsageError("--shard-index and --num-shards go together; pass both, or neither")
    cfg = load(config, overrides + engine_overrides)
    if out is None:
        if config == "-":
            raise click.UsageError("--out is required when the config comes from stdin")
        out = Path("data") / (Path(config).stem if config else "moving-mnist")
    bar = ProgressBar(disable=quiet)
    started = time.perf_counter()

    def warn(message: str) -> None:
        bar.write(f"warning: {message}")

    try:
        if shard_index is not None and num_shards is not None:
            from movmnist.builder.parts import build_part

            record = build_part(
                cfg,
                out,
                shard_index=shard_index,
                num_shards=num_shards,
                workers=workers,
                overwrite=overwrite,
                resume=resume,
                progress=bar,
                warn=warn,
            )
            bar.close()
            _part_summary(record, out, time.perf_counter() - started, as_json)
            return
        data = run_build(cfg, out, workers=workers, overwrite=overwrite, resume=resume, progress=bar, warn=warn)
    except Interrupted as exc:
        bar.close()
        again = ["movmnist", "build", *([config] if config else []), "--out", str(out)]
        again += [word for item in overrides for word in ("--set", item)]
        again += ["--engine", engine] if engine else []
        again += ["--scheduler", scheduler] if scheduler else []
        again += ["--address", address] if address else []
        again += ["--shard-index", str(shard_index), "--num-shards", str(num_shards)] if num_shards else []
        if exc.resumable:
            hint = "" if config == "-" else f"; to finish it, run: {shlex.join([*again, '--resume'])}"
        else:
            hint = "" if config == "-" else f"; to rebuild it, run: {shlex.join([*again, '--overwrite'])}"
        leave(f"{exc}{hint}")
    finally:
        bar.close()
    from movmnist.text import human_bytes

    seconds = time.perf_counter() - started
    summary: dict[str, Any] = {
        "out": str(out),
        "sequences": data.sequences,
        "splits": {k: v.sequences for k, v in data.splits.items()},
        "shards": len(data.shards),
        "bytes": sum(s.bytes for s in data.shards),
        "seconds": round(seconds, 3),
        "workers": data.workers,
        "synthetic": bool(data.source.get("synthetic")),
    }
    summary["sequences_per_second"] = round(summary["sequences"] / max(seconds, 1e-9), 1)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"Built {summary['sequences']} sequences ({', '.join(f'{k} {v}' for k, v in summary['splits'].items())}) "
            f"in {summary['shards']} shards, {human_bytes(summary['bytes'])}, "
            f"in {seconds:.1f} s ({summary['sequences_per_second']:.0f} seq/s) -> {out}"
        )


def _part_summary(record: Any, out: Path, seconds: float, as_json: bool) -> None:
    from movmnist.text import human_bytes

    summary: dict[str, Any] = {
        "out": str(out),
        "part": record.part,
        "parts": record.parts,
        "shards": [s.file for s in record.shards],
        "sequences": sum(s.sequences for s in record.shards),
        "bytes": sum(s.bytes for s in record.shards),
        "seconds": round(seconds, 3),
        "workers": record.workers,
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    shards = summary["shards"]
    click.echo(
        f"Built part {record.part} of {record.parts}: {summary['sequences']} sequences in {len(shards)} shards"
        f" ({shards[0]} to {shards[-1]}), {human_bytes(summary['bytes'])}, in {seconds:.1f} s -> {out};"
        f" once every part is built: movmnist merge {out}"
    )


@cli.command()
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
def merge(directory: Path, as_json: bool) -> None:
    """Finish a build made in parts (build --shard-index K --num-shards N): write its manifest.

    Checks that every part is there, finished, and made from the same config, digit
    source and movmnist version, then writes manifest.json and the dataset card as a
    whole build does (the same shards and sha256s). A part missing, unfinished, from
    another build, or built twice (two --num-shards) is an error naming it.

    \b
    Example:
        movmnist merge /shared/mm
    """
    from movmnist.builder.parts import merge as run_merge
    from movmnist.text import human_bytes

    notes: list[str] = []
    data = run_merge(directory, warn=notes.append)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    summary: dict[str, Any] = {
        "out": str(directory),
        "sequences": data.sequences,
        "splits": {k: v.sequences for k, v in data.splits.items()},
        "shards": len(data.shards),
        "bytes": sum(s.bytes for s in data.shards),
    }
    if as_json:
        click.echo(json.dumps(summary))
        return
    click.echo(
        f"Merged {summary['sequences']} sequences ({', '.join(f'{k} {v}' for k, v in summary['splits'].items())})"
        f" in {summary['shards']} shards, {human_bytes(summary['bytes'])} -> {directory}"
    )


@cli.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(config: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Show what `build` would write for CONFIG, and write nothing.

    The size on disk is measured on a few sequences built in a temporary folder. A TFDS set
    not downloaded yet (mnist, fashion_mnist, kmnist) is planned from its known sizes, offline.

    \b
    Example:
        movmnist plan configs/default.yaml --set splits.train.sequences=1000000
    """
    from movmnist.builder import default_workers, estimate, prepare
    from movmnist.text import human_bytes

    cfg = load(config, overrides)
    offline = estimate.offline_plan(cfg)  # a known TFDS set not downloaded yet: planned without it
    if offline is not None:
        the_plan, source = offline
    else:
        planned, source, _ = prepare(cfg)
        the_plan = estimate.with_sampled_size(planned)
    data = the_plan.to_data()
    if as_json:
        click.echo(json.dumps(data))
        return
    label = " (synthetic digits)" if source.get("synthetic") else ""
    if offline is not None:
        label = f" {source['name']} (not downloaded: planned from its known sizes; build downloads it)"
    click.echo(f"source: {source.get('kind')}{label}")
    click.echo(f"sequence: {' x '.join(map(str, data['sequence_shape']))} uint8")
    for name, split in data["splits"].items():
        click.echo(f"{name}: {split['sequences']} sequences from {split['pool']}, {len(split['shards'])} shards")
    click.echo(
        f"total: {data['sequences']} sequences, {human_bytes(data['raw_bytes'])} raw, "
        f"~{human_bytes(data['estimated_bytes'])} compressed"
        + (" (measured on a few sequences built)" if data["estimate"] == "sampled" else " (estimate)")
    )
    workers = default_workers()
    click.echo(
        f"memory: ~{human_bytes(data['worker_memory_bytes'])} per worker + "
        f"~{human_bytes(data['driver_memory_bytes'])} for the driver "
        f"(~{human_bytes(data['driver_memory_bytes'] + workers * data['worker_memory_bytes'])} with {workers} "
        "workers; it does not grow with the number of sequences)"
    )


@cli.group("config")
def config_group() -> None:
    """Inspect configs."""


@config_group.command("show")
@config_options
def config_show(config: str | None, overrides: tuple[str, ...]) -> None:
    """Print the fully resolved CONFIG (defaults filled in, overrides applied) as YAML.

    \b
    Example:
        movmnist config show configs/default.yaml --set digits.count=3
    """
    from movmnist.config.load import to_yaml

    click.echo(to_yaml(load(config, overrides)), nl=False)
