"""Check a built dataset against its manifest, and optionally against a fresh generation.

Per shard: the file exists, has the recorded size and sha256 (so any changed byte is
caught), opens as HDF5, holds the recorded number of sequences with the expected dataset
shapes and dtypes, carries the right split and first index, and, where the HDF5 fletcher32
checksum filter is enabled, every chunk passes it. With `regenerate=K`, K sequences
sampled across the splits are generated again from the manifest's config and compared
byte for byte with the stored ones: determinism, checked on the user's machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.config import Source
from movmnist.errors import ConfigError, DatasetError, SourceError
from movmnist.files import sha256_file
from movmnist.read.dataset import Dataset
from movmnist.sources import open_source
from movmnist.store import guard
from movmnist.store.manifest import Manifest, ShardEntry, read_manifest
from movmnist.store.reader import ShardReader
from movmnist.store.schema import Layout
from movmnist.text import cut


@dataclass
class ShardCheck:
    """One shard's verdict: no problems means it holds."""

    split: str
    file: str
    sequences: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Report:
    """Everything `verify` found. `ok` when every shard and every regenerated sequence holds."""

    path: str
    shards: list[ShardCheck]
    problems: list[str] = field(default_factory=list)  # about the dataset as a whole
    regenerated: int = 0
    mismatched: list[str] = field(default_factory=list)  # 'test[17]: frames differ', ...

    @property
    def ok(self) -> bool:
        return not self.problems and not self.mismatched and all(s.ok for s in self.shards)

    def to_data(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        for shard, check in zip(data["shards"], self.shards, strict=True):
            shard["ok"] = check.ok
        return data


def _check_shard(root: Path, split: str, entry: ShardEntry, layout: Layout) -> ShardCheck:
    n = entry.sequences
    check = ShardCheck(split, entry.file, n)
    path = root / entry.file
    if not path.exists():
        check.problems.append("missing")
        return check
    try:
        guard.check_path(path)
    except DatasetError as exc:
        check.problems.append(_plain(exc, path))
        return check
    size = path.stat().st_size
    if size != entry.bytes:
        check.problems.append(f"size is {size} bytes, the manifest says {entry.bytes}")
    try:
        if sha256_file(path) != entry.sha256:
            check.problems.append("sha256 differs from the manifest (the file changed after the build)")
    except OSError as exc:  # not a regular file (a FIFO), unreadable
        check.problems.append(f"cannot be read ({exc.strerror or exc})")
    if check.problems:
        # Known damaged: HDF5 is not asked to parse it, as some damage (a zeroed heap) makes it loop forever.
        return check
    reader = ShardReader(path)
    try:
        found = reader.datasets()
        attrs = reader.attrs()
    except Exception as exc:  # DatasetError, or whatever h5py raises for a damaged file
        check.problems.append(_plain(exc, path))
        reader.close()
        return check
    try:
        for name, (shape, dtype) in layout.shapes().items():
            if name not in found:
                check.problems.append(f"has no {name!r} dataset")
            elif found[name] != ((n, *shape), dtype):
                got_shape, got_dtype = found[name]
                check.problems.append(f"{name} is {list(got_shape)} {got_dtype}, expected {[n, *shape]} {dtype}")
        for name, (shape, _) in found.items():
            if name not in layout.shapes() and name not in layout.tables() and (not shape or shape[0] != n):
                check.problems.append(f"{name} has {shape[0] if shape else 0} rows, expected {n} (one per sequence)")
        if attrs.get("split") != split or int(attrs.get("first_index", -1)) != entry.first:
            check.problems.append(
                f"says it is {attrs.get('split')!r} from sequence {attrs.get('first_index')}, "
                f"the manifest says {split!r} from {entry.first}"
            )
        for name in found:
            if reader.filters(name)["fletcher32"]:
                _read_all(reader, name, n)  # each chunk's checksum is checked as it is read
    except Exception as exc:  # a damaged file can make h5py raise almost anything: report it, never crash
        check.problems.append(_plain(exc, path))
    finally:
        reader.close()
    return check


def _plain(exc: Exception, path: Path) -> str:
    """A read error as a report line: without the shard's path (the line names it) or advice to verify."""
    if isinstance(exc, DatasetError):
        return (
            str(exc).replace(f"shard {path}: ", "").replace(f"shard {path} ", "").replace("; run movmnist verify", "")
        )
    return f"cannot be read as HDF5 ({type(exc).__name__}: {exc})"


def _read_all(reader: ShardReader, name: str, n: int, step: int = 256) -> None:
    for start in range(0, max(n, 1), step):
        reader.read(name, slice(start, start + step))


def _layout(manifest: Manifest) -> Layout:
    from movmnist.core.generate import extras

    cfg = manifest.build_config()
    # Datasets built before the `annotations` section hold only the three basic ones.
    optional = extras(cfg) if "annotations" in manifest.config else ()
    return Layout.of(cfg, manifest.sequence_shape, optional)


def sample(sizes: dict[str, int], k: int) -> dict[str, np.ndarray]:
    """k (split, index) pairs spread evenly over all the dataset's sequences, as sorted indices per split."""
    total = sum(sizes.values())
    k = min(k, total)
    picks = np.unique(np.linspace(0, total - 1, k).round().astype(np.int64)) if k else np.empty(0, np.int64)
    out, offset = {}, 0
    for name, size in sizes.items():
        mine = picks[(picks >= offset) & (picks < offset + size)] - offset
        if len(mine):
            out[name] = mine
        offset += size
    return out


_WHERE = {
    "idx": "the folder of its IDX files",
    "npz": "its npz file",
    "images": "its folder of images",
    "tfds": "the TFDS data dir that caches it",
}


def local_source(recorded: Source, source_path: str | None) -> Source:
    """The source a manifest records, found where the user says: its paths and URLs are never used.

    A manifest may come from anywhere: its source.path, data_dir and mirror name folders and URLs
    of another machine (or an attacker's choice), so regenerating never reads, creates or
    contacts them. `source_path` (verify --source-path) is the idx folder, the npz file or the
    TFDS data dir (None: TFDS's default) here; a tfds set must be cached (nothing is downloaded).
    """
    kind = recorded.kind
    if kind not in _WHERE:
        if source_path is not None:
            raise ConfigError(
                f"--source-path is for idx, npz, images and tfds sources; this dataset's {kind} source needs none"
            )
        return recorded
    if kind == "tfds":
        local = recorded.model_copy(update={"data_dir": source_path, "mirror": None})
        try:
            open_source(local, download=False)
        except SourceError as exc:
            raise SourceError(
                f"{exc}, or give {_WHERE[kind]} with --source-path DIR; verify downloads nothing"
            ) from None
        return local
    if source_path is None:
        raise ConfigError(
            f"--regenerate needs the {kind} source the dataset was built from ({cut(recorded.path or '', 60)!r} on the"
            f" machine that built it): give {_WHERE[kind]} here with --source-path PATH"
        )
    return recorded.model_copy(update={"path": source_path})


def _regenerate(dataset: Dataset, k: int, report: Report, source_path: str | None) -> None:
    from movmnist.config import Config
    from movmnist.read.procedural import ProceduralDataset
    from movmnist.sources import recorded_description

    built = Config.from_data(dataset.manifest.config)
    cfg = built.model_copy(update={"source": local_source(built.source, source_path)})
    described = recorded_description(open_source(cfg.source, download=False))
    recorded = dataset.manifest.source
    differ = sorted(key for key in set(described) | set(recorded) if described.get(key) != recorded.get(key))
    if differ:
        report.problems.append(
            f"the digit source differs from the one the dataset was built from ({', '.join(differ)}); "
            "regenerated sequences cannot match"
        )
        return
    generated = ProceduralDataset(cfg)  # the code path of movmnist.procedural
    for name, indices in sample({s: len(dataset[s]) for s in dataset}, k).items():
        fresh_split, stored = generated[name], dataset[name]
        if fresh_split.has_events:
            rows, fresh_rows = stored.events(indices), fresh_split.events(indices)
            if rows.shape != fresh_rows.shape or rows.tobytes() != fresh_rows.tobytes():
                report.mismatched.append(
                    f"{name}: events of sequences {indices.tolist()} differ from a fresh generation"
                )
        fresh = fresh_split.with_annotations()[indices]
        kept = stored.with_annotations()[indices]
        for field_name, value in fresh.items():
            if field_name not in kept:  # built before that annotation existed
                continue
            for j, i in enumerate(indices):
                if kept[field_name][j].shape != value[j].shape or kept[field_name][j].tobytes() != value[j].tobytes():
                    report.mismatched.append(f"{name}[{i}]: {field_name} differs from a fresh generation")
        report.regenerated += len(indices)


def verify(
    dataset: str | PathLike[str],
    regenerate: int = 0,
    progress: Callable[[ShardCheck], None] | None = None,
    source_path: str | None = None,
) -> Report:
    """Check every shard of the dataset at `dataset` against its manifest; regenerate and compare
    `regenerate` sampled sequences from the digit source at `source_path` (`local_source`).
    Returns the report (never raises for a damaged shard)."""
    root = Path(dataset)
    manifest = read_manifest(root)
    if regenerate > 0:  # refused before any shard is read: where the digits are is the user's to say
        local_source(manifest.build_config().source, source_path)
    layout = _layout(manifest)
    report = Report(str(root), [])
    for split, info in manifest.splits.items():
        counted = 0
        for entry in info.shards:
            if entry.first != counted:
                report.problems.append(f"{entry.file} starts at sequence {entry.first}, expected {counted}")
            counted += entry.sequences
            check = _check_shard(root, split, entry, layout)
            report.shards.append(check)
            if progress is not None:
                progress(check)
        if counted != info.sequences:
            report.problems.append(
                f"split {split!r}: shards hold {counted} sequences, the manifest says {info.sequences}"
            )
    if regenerate > 0:
        if not report.ok:
            report.problems.append("sequences not regenerated: fix the shards above first")
        else:
            with Dataset(root, manifest=manifest) as ds:
                _regenerate(ds, regenerate, report, source_path)
    return report


def format_text(report: Report) -> str:
    """The report as `movmnist verify` prints it: one line per shard, then the verdict."""
    lines = []
    for s in report.shards:
        status = "ok  " if s.ok else "FAIL"
        detail = f"{s.sequences} sequence{'s' * (s.sequences != 1)}" if s.ok else "; ".join(s.problems)
        lines.append(f"{status} {s.file}: {detail}")
    lines += [f"FAIL {p}" for p in report.problems]
    lines += [f"FAIL {m}" for m in report.mismatched]
    if report.regenerated:
        same = report.regenerated - len({m.split(":")[0] for m in report.mismatched})
        lines.append(f"regenerated {report.regenerated} sequences from the config: {same} identical")
    bad = sum(not s.ok for s in report.shards)
    other = len(report.problems) + len(report.mismatched)
    if report.ok:
        lines.append(f"OK: {len(report.shards)} shards match the manifest")
    else:
        lines.append(f"FAILED: {bad} of {len(report.shards)} shards" + (f", {other} other problems" if other else ""))
    return "\n".join(lines)
