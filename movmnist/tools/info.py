"""`movmnist info`: a dataset's summary, derived from its manifest alone.

Reads only manifest.json (no numpy, no HDF5), so it answers instantly even for a dataset
of millions of sequences.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

from movmnist import __version__
from movmnist.config.codecs import CODECS
from movmnist.store.manifest import read_manifest
from movmnist.store.schema import BASIC
from movmnist.text import human_bytes


def summarize(dataset: str | PathLike[str]) -> dict[str, Any]:
    """The summary of the dataset at `dataset`, as JSON-able data.

    Keys: path, sequences, frames, bytes (shard bytes on disk), sequence_shape ([T, H, W]
    or [T, H, W, C]), frames_per_sequence, canvas ([H, W]), channels, digits and motion
    (their config sections), source (kind, path, synthetic; name for tfds sources),
    source_image_shape (the source's image shape, the sprite size when digits.size is null),
    annotations (the datasets each shard holds besides frames), compression (codec, level),
    seed, created, build_seconds, workers, built_with (movmnist version that built it),
    package_version (this movmnist), and splits: {name: {sequences, frames, shards, bytes,
    pool, pool_size}}.
    """
    root = Path(dataset)
    m = read_manifest(root)
    shape = list(m.sequence_shape)
    t = shape[0]
    cfg = m.config
    splits = {
        name: {
            "sequences": info.sequences,
            "frames": info.sequences * t,
            "shards": len(info.shards),
            "bytes": sum(s.bytes for s in info.shards),
            "pool": info.pool,
            "pool_size": info.pool_size,
        }
        for name, info in m.splits.items()
    }
    source = m.source
    output = cfg.get("output", {})
    return {
        "path": str(root),
        "sequences": sum(s["sequences"] for s in splits.values()),
        "frames": sum(s["frames"] for s in splits.values()),
        "bytes": sum(s["bytes"] for s in splits.values()),
        "sequence_shape": shape,
        "frames_per_sequence": t,
        "canvas": shape[1:3],
        "channels": shape[3] if len(shape) > 3 else 1,
        "digits": cfg.get("digits", {}),
        "motion": cfg.get("motion", {}),
        "source_image_shape": next(
            (v.get("image_shape") for v in source.get("splits", {}).values() if isinstance(v, dict)), None
        ),
        "source": {
            **{k: source.get(k) for k in ("kind", "path", "synthetic")},
            **({"name": source["name"]} if source.get("name") else {}),  # tfds sources
        },
        "annotations": list(BASIC)
        + [name for name, on in cfg.get("annotations", {}).items() if on is True]
        + (["flow_valid"] if cfg.get("annotations", {}).get("flow") is True else [])  # stored with flow
        + (["tracks", "occluded"] if cfg.get("annotations", {}).get("tracks", 0) > 0 else [])  # a point count
        + (["event_frames"] if cfg.get("annotations", {}).get("event_captions") is True else [])
        + (["z_order"] if cfg.get("render", {}).get("combine") == "over" else [])
        + _background_arrays(cfg.get("render", {}).get("background", {})),
        "compression": {"codec": output.get("compression"), "level": output.get("compression_level")},
        "seed": cfg.get("seed"),
        "created": m.created,
        "build_seconds": m.build_seconds,
        "workers": m.workers,
        "built_with": m.movmnist_version,
        "package_version": __version__,
        "splits": splits,
    }


def _range(value: Any) -> str:
    return f"{value[0]} to {value[1]}" if isinstance(value, list) else str(value)


def _sprite(s: dict[str, Any]) -> str:
    size = s["digits"].get("size")
    if size:
        return f"size {size}"
    shape = s.get("source_image_shape")
    return f"size {'x'.join(map(str, shape[:2]))} (the source's)" if shape else "the source's size"


def format_text(s: dict[str, Any]) -> str:
    """The summary as the lines `movmnist info` prints."""
    h, w = s["canvas"]
    colour = "grey" if s["channels"] == 1 else f"{s['channels']} channels"
    src = s["source"]
    source = f"{src['kind']}" + (f" {src['name']}" if src.get("name") else "")
    source += " (synthetic digits)" if src.get("synthetic") else ""
    if src.get("path"):
        source += f" from {src['path']}"
    motion = {k: v for k, v in s["motion"].items() if k != "preset"}
    extras = ", ".join(f"{k} {_range(v)}" for k, v in motion.items())
    comp = s["compression"]
    known = CODECS.get(comp["codec"])
    codec = f"{comp['codec']} level {comp['level']}" if known and known.levels else str(comp["codec"])
    lines = [
        f"dataset:     {s['path']}",
        f"sequences:   {s['sequences']} ({s['frames']} frames), {s['frames_per_sequence']} frames each",
        f"canvas:      {h}x{w} {colour}, uint8",
        f"digits:      {_range(s['digits'].get('count'))} per sequence, {_sprite(s)}",
        f"motion:      {s['motion'].get('preset')}" + (f" ({extras})" if extras else ""),
        f"source:      {source}",
        f"annotations: {', '.join(s['annotations'])}",
        f"seed:        {s['seed']}",
        f"on disk:     {human_bytes(s['bytes'])}, {codec}",
        f"built:       {s['created']} in {s['build_seconds']} s on {s['workers']} workers, "
        f"movmnist {s['built_with']} (this is {s['package_version']})",
        "splits:",
    ]
    for name, sp in s["splits"].items():
        shards = f"{sp['shards']} shard{'s' * (sp['shards'] != 1)}"
        lines.append(
            f"  {name + ':':<6} {sp['sequences']} sequences, {shards}, {human_bytes(sp['bytes'])},"
            f" pool {sp['pool']} ({sp['pool_size']} images)"
        )
    return "\n".join(lines)


def _background_arrays(background: Any) -> list[str]:
    """The datasets render.background adds (none before it existed, or with kind: none)."""
    if not isinstance(background, dict) or background.get("kind", "none") == "none":
        return []
    return ["background_index"] + (["background_shift"] if background.get("drift") else [])
