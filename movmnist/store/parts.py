"""Parts of a build on disk: a build split into `--num-shards N` parts built apart, then merged.

Part K of N (`Plan.part`) writes its shards and their sha256 records as a whole build
does, and three files of its own (`manifest.PART_NAME`):

- `.movmnist-part-0000K-of-0000N.lock`: its lock (`outdir.locked`), so that one part never
  runs twice at once; every part also holds `.movmnist-lock` shared (`outdir.shared`), so that
  parts run side by side while a whole build or `merge` waits for none of them;
- `.movmnist-part-0000K-of-0000N.building.json`: its marker while it runs (the config, the
  source's description and the movmnist version, which `--resume` checks, as for a whole build);
- `.movmnist-part-0000K-of-0000N.json`: its record, written atomically once all its shards are
  sealed (`PartRecord`), then the marker removed. A part is finished when its record exists.

Nothing here touches another part's files: each part claims, checks and cleans its own.
`merge` (builder.merge) reads every record and writes the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from movmnist import files
from movmnist.config.messages import format_errors
from movmnist.errors import OutputError
from movmnist.store import manifest, outdir, records
from movmnist.store.manifest import ShardEntry
from movmnist.text import cut

FORMAT = "movmnist-part"
RECORD_LIMIT = 64 << 20  # bytes, as for a manifest


def stem(index: int, count: int) -> str:
    return f".movmnist-part-{index:05d}-of-{count:05d}"


def record_name(index: int, count: int) -> str:
    return stem(index, count) + ".json"


def marker_name(index: int, count: int) -> str:
    return stem(index, count) + ".building.json"


def lock_name(index: int, count: int) -> str:
    return stem(index, count) + ".lock"


def label(index: int, count: int) -> str:
    return f"part {index} of {count}"


def digest(data: dict[str, Any]) -> str:
    """sha256 of a config or source description as canonical JSON, where its files lie left out
    (`source.path`, `path`): parts on hosts that mount the digits elsewhere still agree."""
    data = {k: v for k, v in data.items() if k != "path"}
    if isinstance(data.get("source"), dict):
        data["source"] = {k: v for k, v in data["source"].items() if k != "path"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class PartRecord(BaseModel):
    """A finished part's record: what it built, from what, and the digests merge compares."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)
    format: Literal["movmnist-part"]
    part: int = Field(ge=0)
    parts: int = Field(ge=1)
    movmnist_version: str
    config: dict[str, Any]  # Config.dataset_data() of the resolved config
    config_digest: str
    source: dict[str, Any]
    source_digest: str
    sprite_shape: tuple[int, ...] = Field(strict=False, min_length=2, max_length=3)
    pool_sizes: dict[str, int]
    started: float  # time.time() when the part started: merge's build_seconds spans every part
    seconds: float = Field(ge=0)
    workers: int = Field(ge=1)
    engine: str
    shards: tuple[ShardEntry, ...] = Field(strict=False)

    @property
    def label(self) -> str:
        return label(self.part, self.parts)


def write_record(out: Path, record: PartRecord) -> None:
    """The record first, then the marker removed: from here the part is finished."""
    files.write_json_atomic(out / record_name(record.part, record.parts), record.model_dump(mode="json"))
    (out / marker_name(record.part, record.parts)).unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(files.read_bounded(path, RECORD_LIMIT).decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = "nested too deep" if isinstance(exc, RecursionError) else cut(str(exc) or type(exc).__name__, 120)
        raise OutputError(f"{path} is not readable ({reason}); build that part again with --overwrite") from None


def read_record(path: Path) -> PartRecord:
    """A part's record, validated; OutputError naming the file otherwise."""
    try:
        return PartRecord.model_validate(_read_json(path))
    except ValidationError as exc:
        raise OutputError(
            f"{path} is not a valid part record: {format_errors(exc, PartRecord)};"
            " build that part again with --overwrite"
        ) from None


def found(out: Path) -> dict[tuple[int, int], set[str]]:
    """The parts that left files in `out`: (index, count) -> the kinds found ('json', 'building.json', 'lock')."""
    seen: dict[tuple[int, int], set[str]] = {}
    for entry in out.iterdir():
        match = manifest.PART_NAME.match(entry.name)
        if match:
            seen.setdefault((int(match[1]), int(match[2])), set()).add(match[3])
    return seen


def check_directory(out: Path, index: int, count: int, config: dict[str, Any]) -> None:
    """Refuse to build part `index` of `count` in `out` (locked shared) unless it holds nothing
    but parts of the same build: no finished dataset, no whole build, no other --num-shards,
    no part made from another config."""
    outdir.refuse_links(out)
    names = [e.name for e in out.iterdir() if e.name != manifest.LOCK]
    others = [n for n in names if not manifest.is_ours(n)]
    if others:
        raise OutputError(
            f"{out} is not empty and is not a movmnist dataset (it holds {others[0]!r}); choose an empty or new --out"
        )
    if manifest.MANIFEST in names:
        raise OutputError(
            f"{out} already holds a finished dataset; parts are built into a directory without one:"
            " remove it, or choose another --out"
        )
    if manifest.BUILDING in names:
        raise OutputError(
            f"{out} holds an interrupted whole build (no --shard-index); finish it with --resume,"
            " or remove the directory to build it in parts"
        )
    mine = digest(config)
    for (k, n), kinds in sorted(found(out).items()):
        if n != count:
            raise OutputError(
                f"{out} holds {label(k, n)}, and this is {label(index, count)}: every part of a build uses the same"
                f" --num-shards; remove the files .movmnist-part-*-of-{n:05d}.* or choose another --out"
            )
        if k == index:
            continue
        name = record_name(k, n) if "json" in kinds else marker_name(k, n) if "building.json" in kinds else None
        if name is None:
            continue
        data = _read_json(out / name)
        theirs = data.get("config") if isinstance(data, dict) else None
        if isinstance(theirs, dict) and digest(theirs) != mine:
            diffs = outdir.config_differences(theirs, config)
            if diffs:
                raise OutputError(
                    f"{out} holds {label(k, n)} of a build with another config: {cut('; '.join(diffs), 300)};"
                    " build every part with the same config, or choose another --out"
                )


def own_names(index: int, count: int, shards: Sequence[str]) -> set[str]:
    """Every file name part `index` of `count` may write (its temporaries are named after these)."""
    return {
        record_name(index, count),
        marker_name(index, count),
        *shards,
        *(records.record_path(Path(s)).name for s in shards),
    }


def claim(out: Path, index: int, count: int, shards: Sequence[str], overwrite: bool) -> None:
    """Make `out` ready for a fresh build of the part: its own files are absent, or (overwrite) removed."""
    present = [n for n in (record_name(index, count), marker_name(index, count), *shards) if (out / n).exists()]
    if present and not overwrite:
        if present[0] == record_name(index, count):
            raise OutputError(f"{label(index, count)} is already built in {out}; pass --overwrite to build it again")
        raise OutputError(
            f"{out} holds an interrupted {label(index, count)}; pass --resume to finish it,"
            " or --overwrite to start again"
        )
    for name in sorted(own_names(index, count, shards), key=lambda n: n != record_name(index, count)):
        (out / name).unlink(missing_ok=True)
    outdir.remove_temporaries(out, own_names(index, count, shards))


def check_finished(
    out: Path,
    index: int,
    count: int,
    shards: Sequence[str],
    config: dict[str, Any],
    warn: outdir.Warn,
    *,
    source: dict[str, Any],
    version: str,
) -> tuple[outdir.Finished, PartRecord | None]:
    """`--resume` for a part: keep its shards whose sha256 matches their record (or the part's
    record), remove the rest of its own files; (what is kept, the record when nothing is left to build).
    Refuses a part started with another config, from other digit images or by another movmnist."""
    record_path, marker = out / record_name(index, count), out / marker_name(index, count)
    done = read_record(record_path) if record_path.exists() else None
    if done is not None:
        recorded = outdir.Recorded(done.config, done.source, done.movmnist_version, None)
    elif marker.exists():
        data = _read_json(marker)
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            raise OutputError(f"{marker} records no config; pass --overwrite to start the part again")
        src, ver = data.get("source"), data.get("movmnist_version")
        recorded = outdir.Recorded(
            data["config"], src if isinstance(src, dict) else None, ver if isinstance(ver, str) else None, None
        )
    else:
        if any((out / s).exists() for s in shards):
            raise OutputError(
                f"{out} holds shards of {label(index, count)} but no record of their build; pass --overwrite"
            )
        claim(out, index, count, shards, overwrite=True)
        return outdir.Finished(), None
    diffs = outdir.config_differences(recorded.config, config)
    if diffs:
        raise OutputError(
            f"refusing to resume: {label(index, count)} in {out} was built with a different config:"
            f" {cut('; '.join(diffs), 400)}; resume with the same config, or pass --overwrite to start it again"
        )
    outdir.check_same_origin(out, recorded, source, version)
    expected = {s.file: s.sha256 for s in done.shards} if done is not None else {}
    finished = outdir.Finished()
    for name in shards:
        path = out / name
        if not path.exists():
            continue
        sha = records.read_record(path) or expected.get(name)
        if sha is not None and files.sha256_file(path) == sha:
            finished.shards[name] = (sha, path.stat().st_size)
            if records.read_record(path) is None:  # merge checks each shard against its record
                records.write_record(path, sha)
            continue
        if sha is not None:
            finished.damaged.append(name)
            warn(f"shard {path} is damaged (its sha256 does not match its record); rebuilding it")
        path.unlink()
        records.record_path(path).unlink(missing_ok=True)
    if done is not None and len(finished.shards) == len(shards):
        return finished, done
    record_path.unlink(missing_ok=True)  # first: from here the part no longer looks finished
    for name in shards:
        if name not in finished.shards:
            records.record_path(out / name).unlink(missing_ok=True)
    outdir.remove_temporaries(out, own_names(index, count, shards))
    return finished, None


def remove_all(out: Path) -> None:
    """After the merge: every part's files go (the manifest now holds what they recorded)."""
    for entry in out.iterdir():
        if manifest.PART_NAME.match(entry.name):  # a lock too: merge holds the directory, so no part runs
            entry.unlink(missing_ok=True)
