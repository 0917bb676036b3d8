"""Commands about the digit sources: which ones there are and what is cached (sources), and fetching one (fetch)."""

from __future__ import annotations

import json

import click

from movmnist.cli.common import ProgressBar, cli, config_options, load
from movmnist.config import source_kinds

_KINDS = {kind.name: kind.description for kind in source_kinds.CATALOGUE}


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
    "--mirror",
    metavar="URL",
    help="Download mnist/fashion_mnist/kmnist (or mnist_test_seq) from this URL base; checksums still verified.",
)
@click.option("--force", is_flag=True, help="Download and decode again even if cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the cache description as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar (mnist_test_seq).")
def fetch(name: str, data_dir: str | None, mirror: str | None, force: bool, as_json: bool, quiet: bool) -> None:
    """Download the TFDS set NAME and cache its decoded images, for machines without network.

    Run it where there is network, on the data dir the workers share; builds then read the
    cache (source.data_dir) without downloading or importing tensorflow-datasets.

    NAME mnist_test_seq downloads the published Moving MNIST test set of Srivastava et al.
    (mnist_test_seq.npy, 819 MB, md5 checked) into DATA_DIR/movmnist/, for evaluating on
    the file papers report on; `movmnist info` and `movmnist stats` read it.

    \b
    Example:
        movmnist fetch mnist --data-dir /shared/tensorflow_datasets
        movmnist fetch mnist_test_seq
    """
    from movmnist.sources.tfds import cache_path, data_root
    from movmnist.sources.tfds import fetch as run_fetch
    from movmnist.tools import published

    if name == published.NAME:
        bar = ProgressBar(disable=quiet, terminal_only=True)
        bar.start(published.SIZE)
        try:
            path = published.fetch(
                data_root(data_dir) / "movmnist" / published.FILE, mirror=mirror, force=force, progress=bar.advance
            )
        finally:
            bar.close()
        if as_json:
            click.echo(json.dumps(published.summarize(path, check=False)))
        else:
            click.echo(f"{published.NAME}: the published {published.FILE} (md5 {published.MD5}) -> {path}")
        return
    meta = run_fetch(name, data_dir, mirror=mirror, force=force)
    if as_json:
        click.echo(json.dumps({"path": str(cache_path(name, data_dir)), **meta}))
        return
    sizes = ", ".join(f"{k} {v['count']}" for k, v in meta["splits"].items())
    shape = "x".join(map(str, next(iter(meta["splits"].values()))["image_shape"]))
    click.echo(f"{name}: {sizes} images of {shape} uint8, cached in {cache_path(name, data_dir)}")
