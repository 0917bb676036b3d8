"""The dataset card: README.md (and the preview GIF it shows) written into every built dataset.

Like a Hugging Face dataset card: YAML front matter, then what the data is, how many,
how the digits move, the files and their datasets, how to load it (plain h5py and
movmnist), the full config and the provenance. Written by `build` from the manifest it is
about to write, before it writes it, so the manifest is still the last file of a build.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from pathlib import Path

from movmnist import files
from movmnist.config.codecs import CODECS
from movmnist.config.presets import PRESETS
from movmnist.sources.licences import license_lines
from movmnist.store.manifest import CARD_FILES, Manifest
from movmnist.store.schema import SCHEMA, TABLES
from movmnist.text import human_bytes, markdown_text

README, PREVIEW = CARD_FILES  # every name the card writes; `build --overwrite` may delete them


def shown_split(splits: Mapping[str, object]) -> str:
    """The split the card previews and uses in its examples: test when there is one."""
    return "test" if "test" in splits else next(iter(splits), "test")


def card_text(
    manifest: Manifest, name: str, datasets: dict[str, tuple[tuple[int, ...], str]], preview: bool = True
) -> str:
    """The README.md of the dataset a manifest describes.

    name: the directory's name; datasets: what a shard holds, {name: (shape without N, dtype)}.
    """
    from movmnist.config import Config
    from movmnist.config.load import to_yaml

    cfg = manifest.config
    source = manifest.source
    shape = manifest.sequence_shape
    t, h, w = shape[:3]
    colour = f"{shape[3]} channels" if len(shape) > 3 else "grey"
    splits = manifest.splits
    total = manifest.sequences
    size = sum(shard.bytes for shard in manifest.shards)
    synthetic = bool(source.get("synthetic"))
    digits = cfg["digits"]
    count = digits["count"]
    count_text = f"{count[0]} to {count[1]}" if isinstance(count, list) else str(count)
    motion = cfg["motion"]
    speed = motion.get("speed")
    speed_text = f"{speed[0]} to {speed[1]}" if isinstance(speed, list) else str(speed)
    known = PRESETS.get(motion.get("preset", ""))
    rule = known.description if known else f"the `{motion.get('preset')}` preset (see the movmnist README)"
    free = {k: v for k, v in motion.items() if k in ("acceleration", "boundary") and v not in (0, 0.0, "bounce")}
    if free:
        rule += "; " + ", ".join(f"{k} {v}" for k, v in free.items())
    first_split = shown_split(splits)
    first_file = splits[first_split].shards[0].file if splits else ""
    tags = ["moving-mnist", "video-prediction", "video", "synthetic-digits" if synthetic else "mnist"]
    size_category = (
        "n<1K" if total < 1000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "n>100K"
    )

    codec = CODECS.get(str(cfg.get("output", {}).get("compression")))
    plugin_lines = []
    if codec is not None and codec.plugin:
        plugin_lines = [
            f"import hdf5plugin                # registers the {codec.name} filter these shards need",
            f"The shards are {codec.name}-compressed, an HDF5 filter plugin: without `import hdf5plugin`"
            " (a dependency of movmnist; `pip install hdf5plugin`) h5py cannot read the datasets. For"
            " h5dump and other HDF5 tools, point HDF5_PLUGIN_PATH at hdf5plugin's filters first:"
            ' `export HDF5_PLUGIN_PATH=$(python -c "import hdf5plugin; print(hdf5plugin.PLUGIN_PATH)")`.',
            "",
        ]
    lines = [
        "---",
        f"pretty_name: {name if re.fullmatch(r'[A-Za-z0-9][A-Za-z0-9_.-]*', name) else json.dumps(name)}",
        "task_categories:",
        "- other",
        "tags:",
        *[f"- {tag}" for tag in tags],
        "size_categories:",
        f"- {size_category}",
        "---",
        "",
        f"# {markdown_text(name)}",
        "",
    ]
    if preview:
        lines += [f"![The first sequences of the {first_split} split]({PREVIEW})", ""]
    lines += [
        f"A Moving MNIST dataset: {total} videos of {t} frames of {h}x{w} pixels ({colour}, uint8), each"
        f" showing {count_text} {'synthetic' if synthetic else 'handwritten'} digit{'s' if count != 1 else ''}"
        " bouncing inside the frame. Built by"
        f" movmnist {manifest.movmnist_version} on {manifest.created} from seed {cfg.get('seed')}:"
        " the same config gives the same bytes on any machine and any number of workers.",
        "",
    ]
    if synthetic:
        lines += [
            "**The digits are synthetic**: drawn by movmnist's built-in generator (a font with random size,"
            " stroke, rotation, shear and elastic distortion), not taken from MNIST. Do not report results on"
            " this data as Moving MNIST results.",
            "",
        ]
    elif source.get("kind") == "sample":
        lines += [
            "Digits come from the small sample of real MNIST shipped with movmnist (the first"
            f" {source_text(source)} images of MNIST's own splits). Too few digits for a benchmark:"
            " do not report results on this data as Moving MNIST results.",
            "",
        ]
    else:
        where = f"`{source.get('name')}`" if source.get("kind") == "tfds" else f"at `{source.get('path')}`"
        lines += [f"Digits come from the `{source.get('kind')}` source {where}.", ""]
    lines += [NOT_THE_PUBLISHED_TEST_SET, ""]
    lines += [
        "## Splits",
        "",
        "| split | sequences | frames | shards | size | digit pool |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for split, info in splits.items():
        n = info.sequences
        split_bytes = sum(shard.bytes for shard in info.shards)
        lines.append(
            f"| {split} | {n} | {n * t} | {len(info.shards)} | {human_bytes(split_bytes)} |"
            f" `{info.pool}` ({info.pool_size} images) |"
        )
    lines += [
        "",
        f"Total {human_bytes(size)} on disk. The digit pools of the splits do not overlap, so no digit image is"
        " shared between splits; `source_index` records which image each digit is.",
        "",
        "## Motion",
        "",
        f"{count_text} digit{'s' if count != 1 else ''} of {digits.get('size') or 'the source'}"
        f" pixels per sequence, drawn uniformly from the split's pool; speed {speed_text} of the free range per"
        f" frame; motion rule: {rule}.",
        "",
        "## Files",
        "",
        "`manifest.json` (written last: if it exists, the build finished) lists the shards"
        " `{split}-{i:05d}-of-{n:05d}.h5` with their sizes and sha256; each shard holds:",
        "",
        "| dataset | shape | dtype | meaning |",
        "| --- | --- | --- | --- |",
        *[
            f"| `{ds}` | [{'E' if ds in TABLES else 'N'}, {', '.join(map(str, dshape))}] | {dtype} |"
            f" {SCHEMA[ds].meaning if ds in SCHEMA else 'annotation'} |"
            for ds, (dshape, dtype) in datasets.items()
        ],
        "",
        "## Loading",
        "",
        "With h5py alone:",
        "",
        "```python",
        "import h5py, json",
        *plugin_lines[:1],
        f'm = json.load(open("{name}/manifest.json"))',
        f'with h5py.File("{name}/" + m["splits"]["{first_split}"]["shards"][0]["file"]) as f:  # {first_file}',
        f'    frames = f["frames"][:8]      # [8, {", ".join(map(str, shape))}] uint8',
        "```",
        "",
        *plugin_lines[1:],
        "With movmnist:",
        "",
        "```python",
        "import movmnist",
        f'split = movmnist.open("{name}")["{first_split}"]',
        f"x = split[0]                                  # [{', '.join(map(str, shape))}] uint8",
        f"inputs, targets = split.with_input_frames({max(1, t // 2)})[0:8]",
        "```",
        "",
        f"`movmnist verify {name}` checks every shard against the manifest;"
        f" `movmnist export {name} --split {first_split} -o seq.npy` writes the time-major layout of"
        " `mnist_test_seq.npy`.",
        "",
        *license_lines(source),
        "## Config",
        "",
        "```yaml",
        to_yaml(Config.from_data(cfg)).rstrip(),
        "```",
        "",
        "## Provenance",
        "",
        f"- built {manifest.created} in {manifest.build_seconds} s on {manifest.workers} workers",
        f"- source: `{source.get('kind')}`" + (" (synthetic)" if synthetic else ""),
    ]
    for key, value in (source.get("sha256") or {}).items():
        lines.append(f"  - `{key}` sha256 `{value}`")
    return "\n".join(lines) + "\n"


NOT_THE_PUBLISHED_TEST_SET = (
    "This is not the `mnist_test_seq.npy` of Srivastava et al. that papers report on: it is made by the"
    " same kind of rules from other random draws. To evaluate on the published file, download it with"
    " `movmnist fetch mnist_test_seq` (`movmnist stats` reads both)."
)


def source_text(source: Mapping[str, object]) -> str:
    """'1000 train + 500 test': the image counts of a source's splits, from its manifest description."""
    splits = source.get("splits")
    if not isinstance(splits, Mapping):
        return "?"
    return " + ".join(f"{info.get('count')} {name}" for name, info in splits.items() if isinstance(info, Mapping))


def warm_up() -> None:
    """Load the GIF encoder (imageio and Pillow: ~0.12 s the first time) ahead of `write_card`.

    A build runs it on a thread of its otherwise idle driver while the workers write shards;
    any failure here is left for `write_card` to meet and report.
    """
    import numpy as np

    from movmnist.tools.preview import gif_bytes

    with contextlib.suppress(Exception):
        gif_bytes(np.zeros((1, 8, 8), np.uint8), fps=8)


def write_card(out: Path, manifest: Manifest, name: str | None = None) -> list[str]:
    """Write README.md and preview.gif for the dataset in `out` that `manifest` describes; return the names.

    name: the dataset's name in the card (default: the directory's; a dataset built beside
    the one it replaces gets that one's)."""
    from movmnist.read.dataset import Dataset
    from movmnist.store.reader import ShardReader
    from movmnist.tools.preview import preview_gif

    written = []
    datasets: dict[str, tuple[tuple[int, ...], str]] = {}
    for info in manifest.splits.values():
        if info.shards:
            reader = ShardReader(out / info.shards[0].file)
            datasets = {k: (shape[1:], dtype) for k, (shape, dtype) in reader.datasets().items()}
            reader.close()
            break
    order = list(SCHEMA)
    datasets = dict(sorted(datasets.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    splits = manifest.splits
    preview = manifest.sequences > 0
    if preview:
        with Dataset(out, manifest=manifest) as ds:
            gif = preview_gif(ds, split=shown_split(splits), rows=2, cols=4, scale=2, fps=8)
        files.write_atomic(out / PREVIEW, gif)
        written.append(PREVIEW)
    files.write_atomic(out / README, card_text(manifest, name or out.resolve().name, datasets, preview).encode("utf-8"))
    written.append(README)
    return written
