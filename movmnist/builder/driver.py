"""Execute a plan: shard tasks on an engine, then the manifest, last.

Workers (`worker.run_shard`) receive plain data (the frozen config, a shard spec, a
directory path) and open every file themselves; each writes whole shards under a temporary name. Local
workers hand the closed file back, and the driver, otherwise idle, seals it (fsync,
sha256, rename, record: `records.seal`) on a thread while the worker writes the next one;
Dask workers, maybe on other machines, seal their own. The driver owns the directory (its
lock, `outdir`), the manifest, and turns failures into one-line errors; where tasks run
is the engine's business (`engines`). One module just past ~300 lines: build and resume
share one locked section, from the marker to the manifest.
"""

from __future__ import annotations

import concurrent.futures as cf
import errno
import functools
import os
import shutil
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from movmnist import __version__, files
from movmnist.builder import card, engines
from movmnist.builder.plan import Plan, ShardSpec, make_plan
from movmnist.builder.worker import ShardResult, run_shard
from movmnist.config import Config
from movmnist.errors import (
    BuildError,
    ConfigError,
    EngineUnavailable,
    Interrupted,
    MovmnistError,
    OutputError,
    WriteFailed,
)
from movmnist.sources import open_source, recorded_description
from movmnist.sources.pools import check_pools, pool_for, pool_key, take_pools
from movmnist.store import manifest, outdir, records
from movmnist.text import cut, human_bytes


class Reporter(Protocol):
    """Receives the build's total, then each batch of finished sequences."""

    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def prepare(cfg: Config) -> tuple[Plan, dict[str, Any], dict[str, int]]:
    """Open the source, check every pool, and plan. Returns (plan, source description, pool sizes).

    The plan's config is `cfg` with `sequences: all` resolved to the pool sizes: use it,
    not `cfg`, from here on.
    """
    sizes, sprite = check_pools(cfg)
    described = recorded_description(open_source(cfg.source))  # a path by its name, like the config's
    return make_plan(cfg.resolve_counts(sizes), sprite, sum(sizes.values())), described, sizes


class _Sealer:
    """Seals the shards local workers leave under temporary names, on threads of the driver.

    At most `limit` shards wait to be sealed: past that, `add` waits, the driver stops taking
    results, and the engine submits no more tasks. Leaving the `with` block waits for every
    seal already asked for, so that no thread writes when the driver cleans up.
    """

    def __init__(self, out: Path, limit: int) -> None:
        self._out, self._limit = out, limit
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="seal")
        self._pending: deque[cf.Future[ShardResult]] = deque()

    def __enter__(self) -> _Sealer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def _seal(self, result: ShardResult) -> ShardResult:
        assert result.temporary is not None
        digest = records.seal(Path(result.temporary), self._out / result.file)
        return replace(result, sha256=digest, temporary=None)

    def add(self, result: ShardResult) -> Iterator[ShardResult]:
        """Take a worker's result; yield the results sealed by now (in the order they came)."""
        if result.temporary is None:
            yield result
            return
        self._pending.append(self._pool.submit(self._seal, result))
        while self._pending and (len(self._pending) > self._limit or self._pending[0].done()):
            yield self._pending.popleft().result()

    def drain(self) -> Iterator[ShardResult]:
        while self._pending:
            yield self._pending.popleft().result()


# --- driver side ---------------------------------------------------------------------


def _make_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a directory; choose another --out")
    out.mkdir(parents=True, exist_ok=True)


def build(
    cfg: Config,
    out: Path,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: Reporter | None = None,
    warn: Callable[[str], None] | None = None,
) -> manifest.Manifest:
    """Build the dataset described by `cfg` into `out`; return the manifest it wrote.

    With `resume`, keep every shard an interrupted build of the same config finished (each
    checked against its sha256 record) and build only the rest; the result is byte-identical
    to an uninterrupted build. Storage errors raise BuildError, Ctrl-C raises Interrupted;
    either way temporary files are removed, finished shards kept, and nothing looks complete.
    """
    if overwrite and resume:
        raise ConfigError("--overwrite and --resume contradict each other; pass one of them")
    started = time.perf_counter()
    engines.start_early(cfg.engine)
    plan, source, pool_sizes = prepare(cfg)
    cfg = plan.config  # with `sequences: all` resolved
    out = Path(out)
    note = warn or (lambda message: None)
    job: Job | None = None
    try:
        _make_dir(out)
        with outdir.locked(out, note):
            # A finished dataset is replaced whole: built beside it, then swapped in, so that its
            # readers see the old one or the new one, and a failed rebuild leaves the old one.
            stage = outdir.beside(out) if overwrite and manifest.MANIFEST in outdir.claimable(out, True) else None
            job = Job(cfg, stage or out, plan, source, pool_sizes, started, out if stage else None)
            try:
                data = _build_locked(job, workers, overwrite, resume, progress, note)
                if stage is not None:
                    outdir.replace_with(out, stage)
                return data
            except KeyboardInterrupt:  # before or after the shards (during them, _build_locked says more)
                outdir.remove_temporaries(job.out)
                raise _interrupted(job, None, 0) from None
            finally:
                if stage is not None and stage.exists():
                    shutil.rmtree(stage, ignore_errors=True)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # the user's --out: the CLI says so, as for any path
            raise
        path = exc.filename if isinstance(exc.filename, str) else out
        raise _storage_error(WriteFailed.from_os_error(path, exc), plan, job=job) from None


def _storage_error(exc: WriteFailed, plan: Plan, remaining: int | None = None, job: Job | None = None) -> BuildError:
    todo = "" if remaining is None else f", {human_bytes(remaining)} of it still to write"
    again = job.again if job is not None else "rerun with --resume"
    return BuildError(
        f"{exc}; the build needs about {human_bytes(plan.estimated_bytes)} in total (plan estimate){todo}; "
        f"free some space or fix the permissions, then {again}"
    )


@dataclass(frozen=True)
class Job:
    """What `build` has prepared before it takes the directory."""

    cfg: Config
    out: Path
    plan: Plan
    source: dict[str, Any]
    pool_sizes: dict[str, int]
    started: float
    replacing: Path | None = None  # the finished dataset that `out`, built beside it, replaces at the end

    @property
    def name(self) -> Path:
        """Where the dataset will be once built."""
        return self.replacing or self.out

    @property
    def again(self) -> str:
        """What to do after a failure, once the cause is fixed."""
        if self.replacing is not None:
            return f"rerun with --overwrite (nothing was replaced: {self.replacing} still holds the old dataset)"
        return "rerun with --resume"


def _build_locked(
    job: Job,
    workers: int | None,
    overwrite: bool,
    resume: bool,
    progress: Reporter | None,
    warn: Callable[[str], None],
) -> manifest.Manifest:
    cfg, out, plan = job.cfg, job.out, job.plan
    config = cfg.dataset_data()
    if resume:
        finished = outdir.check_finished(out, plan.filenames, config, warn, source=job.source, version=__version__)
        if finished.complete is not None:
            outdir.finish(out, plan.filenames)
            return finished.complete
    else:
        outdir.claim(out, overwrite)
        finished = outdir.Finished()
    tasks = [t for t in plan.shards if t.filename not in finished.shards]
    remaining = sum(t.size for t in tasks) * plan.estimated_bytes // max(plan.sequences, 1)
    results = {
        t.filename: ShardResult(t.filename, t.split, t.first, t.size, *finished.shards[t.filename])
        for t in plan.shards
        if t.filename in finished.shards
    }
    try:  # from the marker to the manifest, Ctrl-C gets the count of shards and how to resume
        files.write_json_atomic(
            out / manifest.BUILDING,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": outdir.now(),
                "movmnist_version": __version__,  # a resume must be by the same movmnist,
                "source": job.source,  # from the same digit images (their digests)
                "config": config,
            },
        )
        _warn_if_short(out, remaining, warn)
        if progress is not None:
            progress.start(plan.sequences)
            progress.advance(sum(r.sequences for r in results.values()))
        threading.Thread(target=card.warm_up, name="card-warm-up", daemon=True).start()
        engine = run_tasks(job, tasks, workers, progress, results)
        data = manifest_data(job, engine.workers, engine.name, results, time.perf_counter() - job.started)
        card.write_card(out, data, job.name.resolve().name)  # before the manifest, the last file a build writes
        files.write_json_atomic(out / manifest.MANIFEST, data.to_data())
    except KeyboardInterrupt:
        outdir.remove_temporaries(out)
        raise _interrupted(job, len(results), len(plan.shards)) from None
    except EngineUnavailable:
        if not results:  # nothing built: not an interrupted build that --resume could finish
            files.remove_quietly(out / manifest.BUILDING)
        raise
    except engines.ShardTaskError as exc:
        outdir.remove_temporaries(out)
        raise _task_error(exc, job, remaining) from None
    except WriteFailed as exc:  # sealing, in this process
        outdir.remove_temporaries(out)
        raise _storage_error(exc, plan, remaining, job) from None
    outdir.finish(out, plan.filenames)
    return data


def run_tasks(
    job: Job, tasks: list[ShardSpec], workers: int | None, progress: Reporter | None, results: dict[str, ShardResult]
) -> engines.Engine:
    """Build the shards of `tasks` on the config's engine, each sealed under its name; add each
    result to `results` as it is sealed (so that an interruption knows how many are done)."""
    cfg, out, plan = job.cfg, job.out, job.plan
    pools = {pool_key(cfg, s.name): pool_for(cfg, s.name) for s in plan.splits if any(t.split == s.name for t in tasks)}
    engine = engines.make_engine(cfg.engine, workers or default_workers(), len(tasks), take_pools, (pools,))
    local = isinstance(engine, engines.LocalEngine)  # the driver sees the workers' files and is idle
    task = functools.partial(run_shard, cfg, out=str(out.resolve()), seal=not local)
    with _Sealer(out, engine.workers + 1) as sealer, engine:
        for result in engine.run(task, tasks, progress.advance if progress is not None else None):
            results.update((r.file, r) for r in sealer.add(result))
        results.update((r.file, r) for r in sealer.drain())
    return engine


def manifest_data(
    job: Job, workers: int, engine: str, results: dict[str, ShardResult], seconds: float
) -> manifest.Manifest:
    """The manifest of the finished build: every shard's result, in plan order."""
    cfg, plan = job.cfg, job.plan
    data: dict[str, Any] = {
        "format": manifest.FORMAT,
        "format_version": manifest.FORMAT_VERSION,
        "movmnist_version": __version__,
        "created": outdir.now(),
        "build_seconds": round(seconds, 3),
        "workers": workers,
        "engine": engine,
        "config": cfg.dataset_data(),
        "source": job.source,
        "sequence_shape": list(plan.sequence_shape),
        "splits": {
            s.name: {
                "sequences": s.sequences,
                "pool": str(s.pool),
                "pool_size": job.pool_sizes[s.name],
                "shards": [
                    {
                        "file": r.file,
                        "first": r.first,
                        "sequences": r.sequences,
                        "sha256": r.sha256,
                        "bytes": r.bytes,
                    }
                    for r in (results[shard.filename] for shard in s.shards)
                ],
            }
            for s in plan.splits
        },
    }
    return manifest.Manifest.from_data(data)


def _interrupted(job: Job, finished: int | None, total: int) -> Interrupted:
    """Ctrl-C once the build holds the directory (`finished` None: before or after the shards)."""
    if job.replacing is not None:
        where = str(job.replacing)
        return Interrupted(f"interrupted; nothing was replaced: {where} still holds the old dataset", out=where)
    where = str(job.out)
    if finished is None:
        return Interrupted(f"interrupted; finished shards are kept in {where}", out=where, resumable=True)
    return Interrupted(
        f"interrupted: {finished} of {total} shards are finished and kept in {where}",
        out=where,
        finished=finished,
        total=total,
        resumable=True,
    )


def _task_error(exc: engines.ShardTaskError, job: Job, remaining: int) -> MovmnistError:
    error = exc.error
    if isinstance(error, WriteFailed):
        return _storage_error(error, job.plan, remaining, job)
    if isinstance(error, MovmnistError):
        return error
    kept = "finished shards are kept: rerun with --resume" if job.replacing is None else job.again
    if isinstance(error, engines.WorkerLost):
        return BuildError(f"a worker process died while building {exc.shard} (killed, or out of memory?); {kept}")
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return BuildError(
        f"building {exc.shard} failed: {type(error).__name__}{': ' + cut(message) if message else ''}; {kept}"
    )


def _warn_if_short(out: Path, needed: int, warn: Callable[[str], None]) -> None:
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return
    if free < needed:
        warn(f"{out} has {human_bytes(free)} free, but the plan estimates {human_bytes(needed)} still to write")
