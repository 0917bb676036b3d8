"""movmnist: Moving MNIST datasets, built fast, reproducibly, as HDF5 shards.

The public Python API, in one place: `open` a built dataset, `load_config`, `build`,
`procedural` (a config's dataset generated on the fly, the same items as its build), and
`score` (predictions under OpenSTL's or PredRNN's metrics).
Each imports its layer when first called, so `import movmnist` (and the CLI's --help)
stays fast. The package's layers, bottom to top (each imports only those below it;
tests/test_layers.py checks it): errors, files, text -> config -> core -> sources ->
store -> read -> tools -> builder -> cli.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from movmnist.config import Config
    from movmnist.read.dataset import Dataset
    from movmnist.read.procedural import ProceduralDataset
    from movmnist.store.manifest import Manifest
    from movmnist.store.parts import PartRecord

__version__ = "0.1.0"

__all__ = ["__version__", "build", "build_part", "load_config", "merge", "open", "procedural", "score"]


def open(path: str | PathLike[str], *, annotations: bool = False, input_frames: int | None = None) -> Dataset:
    """Open a built dataset directory: `movmnist.open("data/mm")["test"][0:8]`.

    annotations: items are dicts of frames and every annotation (labels, positions, ...).
    input_frames: items are (input, target) pairs, the first K frames and the rest.
    """
    from movmnist.read.dataset import Dataset

    return Dataset(path, annotations=annotations, input_frames=input_frames)


def load_config(path: str | PathLike[str] | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config (None: the defaults; '-': stdin), apply `dotted.key=value` overrides, validate."""
    from movmnist.config.load import load_config as load

    return load(None if path is None else str(path), overrides)


def build(
    config: Config,
    out: str | PathLike[str],
    *,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    warn: Callable[[str], None] | None = None,
) -> Manifest:
    """Build the dataset `config` describes into `out`; return its manifest. See `movmnist build --help`."""
    from movmnist.builder.driver import build as run

    return run(config, Path(out), workers=workers, overwrite=overwrite, resume=resume, warn=warn)


def build_part(
    config: Config,
    out: str | PathLike[str],
    *,
    shard_index: int,
    num_shards: int,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    warn: Callable[[str], None] | None = None,
) -> PartRecord:
    """Build part `shard_index` of `num_shards` of the dataset into `out` (then `merge`); see README, "Scaling out"."""
    from movmnist.builder.parts import build_part as run

    return run(
        config,
        Path(out),
        shard_index=shard_index,
        num_shards=num_shards,
        workers=workers,
        overwrite=overwrite,
        resume=resume,
        warn=warn,
    )


def merge(out: str | PathLike[str], *, warn: Callable[[str], None] | None = None) -> Manifest:
    """Check the parts built in `out` and write the manifest and card of the whole dataset; return the manifest."""
    from movmnist.builder.parts import merge as run

    return run(Path(out), warn=warn)


def procedural(
    config: Config | str | PathLike[str] | None = None,
    set: Sequence[str] = (),  # the CLI's --set
    *,
    annotations: bool = False,
    input_frames: int | None = None,
) -> ProceduralDataset:
    """The dataset a config describes, generated on the fly: `movmnist.procedural("configs/default.yaml")["train"][17]`.

    The same splits, views and items as `movmnist.open` on what `movmnist build` would write
    from the config, byte for byte, with no file written. config: a `Config`, a YAML path,
    '-' (stdin) or None (the defaults); set: `dotted.key=value` overrides. `split.epoch(e)`
    draws training epoch e afresh (epoch 0 is the built dataset). See README, "Training on the fly".
    """
    from movmnist.config.load import load_config as load
    from movmnist.read.procedural import ProceduralDataset

    if isinstance(set, str):  # one override, not a list of its characters
        set = [set]
    if isinstance(config, str | PathLike) or config is None:
        config = load(None if config is None else str(config), set)
    elif set:
        from movmnist.config.load import apply_overrides

        config = type(config).from_data(apply_overrides(config.to_data(), set))
    return ProceduralDataset(config, annotations=annotations, input_frames=input_frames)


def score(
    pred: np.ndarray | str | PathLike[str],
    target: np.ndarray | str | PathLike[str],
    *,
    metrics: str = "openstl",
    file: str | None = None,
) -> dict[str, Any]:
    """MSE, MAE, PSNR, SSIM of `pred` against `target` under `metrics` ("openstl" or "predrnn"), per frame and mean.

    Arrays [N, T, (C,) H, W] of the predicted frames, uint8 or float in [0, 1]; or `target` a
    pack directory and `pred` a file in its layout, scored against the pack's test file
    `file` (None: its target; the result's "file" names it). See `movmnist score --help`
    and README, "Evaluation packs".
    """
    from movmnist.tools.score import score as run

    return run(pred, target, metrics=metrics, file=file)
