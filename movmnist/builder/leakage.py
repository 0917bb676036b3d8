"""The leakage report of an out-of-distribution suite, computed from the built data, not from its config.

For each protocol of a pack (`config.packs.Protocol`) and each pair of one of its training
files and one of its test files:
- pools: the source images both use, which must be none: their `source_index` (an index
  into the source's own split) compared when both files draw from the same split of the
  same images (`images_id`);
- the property the protocol varies (`config.packs.VARIES`), as observed: the digit counts
  (labels != -1) must have no count in common; the frame counts must differ; the speeds
  (|velocity| of each present digit at every frame, in free ranges per frame, the units of
  `motion.speed`) must lie in ranges that do not overlap; the sources must hold other
  images (`images_id`: MNIST and Fashion-MNIST read as two folders of IDX files are two
  sources, MNIST read through tfds and as IDX files one).
A pair that shares either is a leak; `make_pack` refuses a pack that has one (LeakageError).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from movmnist.config.packs import Pack, Protocol
from movmnist.errors import ConfigError
from movmnist.read.dataset import Split

CHUNK = 1024  # sequences read at a time


class LeakageError(ConfigError):
    """A suite whose training and test files share source images or the property their protocol varies."""


@dataclass(frozen=True)
class Observed:
    """What one built file holds, as its arrays show it.

    digits: the digit counts of its sequences; speed: (min, max) |velocity| of the present
    digits, None without the velocities annotation; source: kind[/name]; source_id: the
    source's `images_id` (the same images iff equal); pool: the source's
    split its pool is cut from; images: the sorted distinct source_index values its digits
    use (indices into that split).
    """

    sequences: int
    frames: int
    digits: tuple[int, ...]
    speed: tuple[float, float] | None
    source: str
    source_id: str
    pool: str
    images: np.ndarray

    def summary(self) -> dict[str, Any]:
        """The JSON-able part that pack.json holds."""
        return {
            "sequences": self.sequences,
            "frames": self.frames,
            "digits": list(self.digits),
            "speed": None if self.speed is None else [round(v, 6) for v in self.speed],
            "source": self.source,
            "pool": self.pool,
            "images": int(self.images.size),
        }


def images_id(source: Mapping[str, Any]) -> str:
    """Which images a recorded source description holds: the sha256 of the digests of its files when it
    records them (idx, the sample, npz, tfds's IDX sets: the same files give the same id whichever kind
    read them), else of the whole description (synthetic, a tfds data source)."""
    what = source["sha256"] if isinstance(source.get("sha256"), Mapping) else source
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def observe(split: Split, source: Mapping[str, Any], pool: str) -> Observed:
    """What `split` holds, its pool cut from the source's split `pool`: its labels, source_index
    and (when stored) velocities, read in chunks of CHUNK sequences."""
    n = len(split)
    has_speed = "velocities" in split.annotation_names
    counts: set[int] = set()
    images: list[np.ndarray] = []
    lo, hi = np.inf, -np.inf
    for a in range(0, n, CHUNK):
        key = slice(a, min(n, a + CHUNK))
        present = split.read("labels", key) != -1  # [n, K]
        counts.update(np.unique(present.sum(axis=1)).tolist())
        images.append(np.unique(split.read("source_index", key)[present]))
        if has_speed:
            speed = np.linalg.norm(split.read("velocities", key), axis=-1)  # [n, T, K]
            speed = speed[np.broadcast_to(present[:, None, :], speed.shape)]
            if speed.size:
                lo, hi = min(lo, float(speed.min())), max(hi, float(speed.max()))
    name = source.get("name")
    return Observed(
        sequences=n,
        frames=split.shape[1],
        digits=tuple(sorted(counts)),
        speed=(lo, hi) if has_speed and n else None,
        source=f"{source['kind']}/{name}" if name else str(source["kind"]),
        source_id=images_id(source),
        pool=pool,
        images=np.unique(np.concatenate(images)) if images else np.zeros(0, np.int64),
    )


def shared(varies: str, a: Observed, b: Observed) -> list[Any]:
    """What `a` and `b` have in common of property `varies`: [] when they are disjoint."""
    if varies == "digits":
        return sorted(set(a.digits) & set(b.digits))
    if varies == "length":
        return [a.frames] if a.frames == b.frames else []
    if varies == "source":
        return [a.source] if a.source_id == b.source_id else []
    if a.speed is None or b.speed is None:
        raise ConfigError("a protocol that varies speed needs annotations.velocities: true in the pack's config")
    low, high = max(a.speed[0], b.speed[0]), min(a.speed[1], b.speed[1])
    return [round(low, 6), round(high, 6)] if low <= high else []


def protocol_report(protocol: Protocol, observed: Mapping[str, Observed]) -> dict[str, Any]:
    """The report of one protocol, from the observations of its files (by path)."""
    pairs = []
    for a in protocol.train:
        for b in protocol.test:
            oa, ob = observed[a], observed[b]
            same_source = oa.source_id == ob.source_id
            comparable = same_source and oa.pool == ob.pool  # indices into the same split of the same images
            images = int(np.intersect1d(oa.images, ob.images, assume_unique=True).size) if comparable else 0
            common = shared(protocol.varies, oa, ob)
            pairs.append(
                {
                    "train": a,
                    "test": b,
                    "same_source": same_source,
                    "shared_images": images,
                    f"shared_{protocol.varies}": common,
                    "leak": bool(images or common),
                }
            )
    return {
        "name": protocol.name,
        "varies": protocol.varies,
        "train": list(protocol.train),
        "test": list(protocol.test),
        "observed": {path: observed[path].summary() for path in (*protocol.train, *protocol.test)},
        "pairs": pairs,
        "leak": any(p["leak"] for p in pairs),
    }


def check(pack: Pack, reports: list[dict[str, Any]]) -> None:
    """LeakageError naming the first leaking pair of `reports`, if any."""
    for report in reports:
        for pair in report["pairs"]:
            if not pair["leak"]:
                continue
            varies = report["varies"]
            what = []
            if pair["shared_images"]:
                what.append(f"{pair['shared_images']} source images")
            if pair[f"shared_{varies}"]:
                what.append(f"{varies} {pair[f'shared_{varies}']}")
            raise LeakageError(
                f"pack {pack.name} leaks: protocol {report['name']} trains on {pair['train']} and tests on"
                f" {pair['test']}, which share {' and '.join(what)}; drop the --set overrides that make them meet"
            )
