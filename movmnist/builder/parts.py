"""A build in parts: `build_part` builds part K of N of a plan (a job array's task K), `merge`
writes the manifest once every part is built.

Sequences are a pure function of (config, split, index), so parts need no coordination:
each builds its contiguous range of shards (`Plan.part`) with the same workers and sealing
as a whole build (`driver.run_tasks`), on any host that sees the directory, in any order,
concurrently, and is resumed as a whole build is. Its files on disk are `store.parts`'.
`merge` checks that every part is there, finished and of one build (config, source and
movmnist version; their digests), then writes the card and the manifest exactly as a whole
build does (the same shards and sha256s; `created`, `build_seconds`, `workers` and `engine`
say how this one ran), and removes the parts' files.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from movmnist import __version__, files
from movmnist.builder import card, engines
from movmnist.builder.driver import (
    Job,
    Reporter,
    _interrupted,
    _make_dir,
    _storage_error,
    _task_error,
    _warn_if_short,
    manifest_data,
    prepare,
    run_tasks,
)
from movmnist.builder.plan import ShardSpec, make_plan
from movmnist.builder.worker import ShardResult
from movmnist.config import Config
from movmnist.errors import ConfigError, EngineUnavailable, MovmnistError, OutputError, WriteFailed
from movmnist.store import manifest, outdir, parts
from movmnist.store.parts import PartRecord, label
from movmnist.text import cut


def build_part(
    cfg: Config,
    out: Path,
    *,
    shard_index: int,
    num_shards: int,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Reporter | None = None,
    warn: Callable[[str], None] | None = None,
) -> PartRecord:
    """Build part `shard_index` of `num_shards` of `cfg`'s plan into `out`; return its record.

    `resume` and `overwrite` apply to this part's own files only, with a whole build's rules;
    the other parts' files are never touched. Errors as `driver.build`'s.
    """
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume contradict each other; pass one of them")
    wall, started = time.time(), time.perf_counter()
    engines.start_early(cfg.engine)
    plan, source, pool_sizes = prepare(cfg)
    shards = plan.part(shard_index, num_shards)
    out = Path(out)
    note = warn or (lambda message: None)
    job = Job(plan.config, out, plan, source, pool_sizes, started)
    owned = parts.own_names(shard_index, num_shards, [s.filename for s in shards])
    try:
        _make_dir(out)
        what = f"{label(shard_index, num_shards)} of {out}"
        with outdir.shared(out, note), outdir.locked(out, note, parts.lock_name(shard_index, num_shards), what):
            try:
                return _build_locked(
                    job, shards, shard_index, num_shards, workers, overwrite, resume, progress, note, wall
                )
            except KeyboardInterrupt:
                outdir.remove_temporaries(out, owned)
                raise _interrupted(job, None, 0) from None
    except OSError as exc:
        path = exc.filename if isinstance(exc.filename, str) else out
        raise _storage_error(WriteFailed.from_os_error(path, exc), plan, job=job) from None


def _build_locked(
    job: Job,
    shards: tuple[ShardSpec, ...],
    index: int,
    count: int,
    workers: int | None,
    overwrite: bool,
    resume: bool,
    progress: Reporter | None,
    warn: Callable[[str], None],
    wall: float,
) -> PartRecord:
    cfg, out, plan = job.cfg, job.out, job.plan
    config = cfg.dataset_data()
    names = [s.filename for s in shards]
    parts.check_directory(out, index, count, config)
    if resume:
        finished, done = parts.check_finished(
            out, index, count, names, config, warn, source=job.source, version=__version__
        )
        if done is not None:
            return done
    else:
        parts.claim(out, index, count, names, overwrite)
        finished = outdir.Finished()
    tasks = [t for t in shards if t.filename not in finished.shards]
    remaining = sum(t.size for t in tasks) * plan.estimated_bytes // max(plan.sequences, 1)
    results = {
        t.filename: ShardResult(t.filename, t.split, t.first, t.size, *finished.shards[t.filename])
        for t in shards
        if t.filename in finished.shards
    }
    owned = parts.own_names(index, count, names)
    try:
        files.write_json_atomic(
            out / parts.marker_name(index, count),
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": outdir.now(),
                "part": index,
                "parts": count,
                "movmnist_version": __version__,
                "source": job.source,
                "config": config,
            },
        )
        _warn_if_short(out, remaining, warn)
        if progress is not None:
            progress.start(sum(s.size for s in shards))
            progress.advance(sum(r.sequences for r in results.values()))
        engine_name: str = cfg.engine.kind
        engine_workers = 1
        if tasks:
            engine = run_tasks(job, tasks, workers, progress, results)
            engine_name, engine_workers = engine.name, engine.workers
        record = PartRecord(
            format="movmnist-part",
            part=index,
            parts=count,
            movmnist_version=__version__,
            config=config,
            config_digest=parts.digest(config),
            source=job.source,
            source_digest=parts.digest(job.source),
            sprite_shape=plan.sprite_shape,
            pool_sizes=job.pool_sizes,
            started=wall,
            seconds=round(time.perf_counter() - job.started, 3),
            workers=engine_workers,
            engine=engine_name,
            shards=tuple(
                manifest.ShardEntry(file=r.file, first=r.first, sequences=r.sequences, sha256=r.sha256, bytes=r.bytes)
                for r in (results[name] for name in names)
            ),
        )
        parts.write_record(out, record)
    except KeyboardInterrupt:
        outdir.remove_temporaries(out, owned)
        raise _interrupted(job, len(results), len(shards)) from None
    except EngineUnavailable:
        if not results:
            files.remove_quietly(out / parts.marker_name(index, count))
        raise
    except engines.ShardTaskError as exc:
        outdir.remove_temporaries(out, owned)
        raise _task_error(exc, job, remaining) from None
    except WriteFailed as exc:
        outdir.remove_temporaries(out, owned)
        raise _storage_error(exc, plan, remaining, job) from None
    return record


# --- merge ------------------------------------------------------------------------------


def merge(out: Path, *, warn: Callable[[str], None] | None = None) -> manifest.Manifest:
    """Check the parts built in `out` and write the manifest (and card) of the whole build; return it.

    OutputError (exit 2) naming the part when one is missing, unfinished, from another build
    (config, digit source, movmnist version) or built twice (two --num-shards). Holds the
    directory's lock whole: it waits for no part, and refuses while one runs. A directory
    already merged is left as it is (its manifest returned, `warn` told).
    """
    out = Path(out)
    note = warn or (lambda message: None)
    if not out.is_dir():
        raise OutputError(f"{out} is not a directory; give the --out directory of the parts")
    try:
        with outdir.locked(out, note):
            return _merge_locked(out, note)
    except OSError as exc:
        path = exc.filename if isinstance(exc.filename, str) else out
        raise WriteFailed.from_os_error(path, exc) from None


def _merge_locked(out: Path, warn: Callable[[str], None]) -> manifest.Manifest:
    outdir.refuse_links(out)
    if (out / manifest.MANIFEST).exists():
        done = manifest.read_manifest(out)
        outdir.finish(out, [s.file for s in done.shards])  # a merge stopped after its manifest: tidy up
        parts.remove_all(out)
        warn(f"{out} is already a finished dataset: nothing to merge")
        return done
    records = _records(out)
    ref = records[0]
    try:
        cfg = Config.from_data(ref.config)
        plan = make_plan(cfg, ref.sprite_shape)
    except (MovmnistError, ValueError) as exc:
        raise OutputError(f"{out}: {ref.label} records a config this movmnist cannot plan ({cut(str(exc))})") from None
    count = ref.parts
    results: dict[str, ShardResult] = {}
    for record in records:
        try:
            planned = plan.part(record.part, count)
        except ConfigError:
            raise OutputError(f"{out}: {record.label} does not fit the plan of {ref.label}; build it again") from None
        got = [(s.file, s.first, s.sequences) for s in record.shards]
        if got != [(s.filename, s.first, s.size) for s in planned]:
            raise OutputError(
                f"{out}: {record.label} holds other shards than the plan gives it; build it again with --overwrite"
            )
        for entry in record.shards:
            _check_shard(out, record, entry)
            split = entry.file.split("-", 1)[0]
            results[entry.file] = ShardResult(
                entry.file, split, entry.first, entry.sequences, entry.sha256, entry.bytes
            )
    if set(ref.pool_sizes) != {s.name for s in plan.splits}:
        raise OutputError(f"{out}: {ref.label} records no pool size for every split; build it again with --overwrite")
    stray = sorted(set(_shard_files(out)) - set(plan.filenames))
    if stray:
        raise OutputError(f"{out} holds {stray[0]}, a shard no part of this build planned; remove it and merge again")
    job = Job(cfg, out, plan, ref.source, ref.pool_sizes, 0.0)
    engine = "+".join(sorted({r.engine for r in records}))
    seconds = max(time.time() - min(r.started for r in records), 0.0)
    data = manifest_data(job, sum(r.workers for r in records), engine, results, seconds)
    card.write_card(out, data, out.resolve().name)  # before the manifest, the last file a build writes
    files.write_json_atomic(out / manifest.MANIFEST, data.to_data())
    outdir.finish(out, plan.filenames)
    parts.remove_all(out)
    return data


def _shard_files(out: Path) -> list[str]:
    return [e.name for e in out.iterdir() if manifest.SHARD_NAME.match(e.name)]


def _records(out: Path) -> list[PartRecord]:
    """Every part's record, in order; OutputError naming the first part missing, unfinished, foreign or twice."""
    seen = parts.found(out)
    if not seen:
        raise OutputError(
            f"{out} holds no parts of a build; build them first: movmnist build CONFIG --out {out}"
            " --shard-index K --num-shards N"
        )
    counts = sorted({n for _, n in seen})
    if len(counts) > 1:
        a, b = (min(k for k, n in seen if n == c) for c in counts[:2])
        raise OutputError(
            f"{out} holds {label(a, counts[0])} and {label(b, counts[1])}: the same shards built twice, by two"
            f" --num-shards; keep the parts of one: remove .movmnist-part-*-of-{counts[1]:05d}.* and merge again"
        )
    count = counts[0]
    extra = sorted(k for k, _ in seen if k >= count)
    if extra:
        raise OutputError(f"{out} holds {label(extra[0], count)}, which no build has; remove its files and merge again")
    again = f"movmnist build CONFIG --out {out} --num-shards {count} --shard-index"
    records = []
    for k in range(count):
        kinds = seen.get((k, count), set())
        if "json" not in kinds:
            if "building.json" not in kinds:
                raise OutputError(f"{label(k, count)} is missing from {out}; build it: {again} {k}")
            raise OutputError(
                f"{label(k, count)} in {out} is not finished (interrupted, or running on another host);"
                f" finish it: {again} {k} --resume"
            )
        record = parts.read_record(out / parts.record_name(k, count))
        if (record.part, record.parts) != (k, count):
            raise OutputError(
                f"{out}: the record of {label(k, count)} says it is {record.label};"
                f" build it again: {again} {k} --overwrite"
            )
        records.append(record)
    _check_one_build(out, records, again)
    return records


def _check_one_build(out: Path, records: list[PartRecord], again: str) -> None:
    """OutputError naming the first part made by another movmnist, from another config or other digits."""
    ref = records[0]
    for r in records:
        fix = f"build it again with the others' config: {again} {r.part} --overwrite"
        if r.config_digest != parts.digest(r.config) or r.source_digest != parts.digest(r.source):
            raise OutputError(f"{out}: the record of {r.label} does not match its own digests; {fix}")
        if r is ref:
            continue
        if r.movmnist_version != ref.movmnist_version:
            raise OutputError(
                f"{out}: {r.label} was built by movmnist {cut(r.movmnist_version, 40)}, {ref.label} by movmnist"
                f" {cut(ref.movmnist_version, 40)}; build every part with one movmnist"
            )
        if r.config_digest != ref.config_digest:
            diffs = outdir.config_differences(ref.config, r.config) or ["source.path"]
            raise OutputError(
                f"{out}: {r.label} was built from another config than {ref.label}: {cut('; '.join(diffs), 300)}; {fix}"
            )
        if r.source_digest != ref.source_digest:
            raise OutputError(f"{out}: {r.label} was built from other digit images than {ref.label}; {fix}")


def _check_shard(out: Path, record: PartRecord, entry: manifest.ShardEntry) -> None:
    """The shard is there as the part recorded it: its size, and its sha256 record (not re-hashed: see `verify`)."""
    from movmnist.store import records

    path = out / entry.file
    again = (
        f"finish it: movmnist build CONFIG --out {out} --num-shards {record.parts} --shard-index {record.part} --resume"
    )
    if not path.is_file() or path.is_symlink():
        raise OutputError(f"{out}: shard {entry.file} of {record.label} is missing; {again}")
    if path.stat().st_size != entry.bytes or records.read_record(path) != entry.sha256:
        raise OutputError(f"{out}: shard {entry.file} of {record.label} changed since the part finished; {again}")
