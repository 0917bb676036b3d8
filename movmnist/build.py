"""Execute a plan: shard tasks on worker processes, then the manifest, last.

Workers receive plain data (the frozen config, a shard spec, a directory path) and
open every file themselves; each writes whole shards under a temporary name and
renames them into place. The driver owns the directory and the manifest.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from movmnist import __version__, card, manifest, shards
from movmnist.config import Config
from movmnist.errors import ConfigError, OutputError
from movmnist.generate import extras, generate
from movmnist.plan import Plan, ShardSpec, make_plan
from movmnist.sources import load_pool, open_source

Progress = Callable[[int], None]


class Reporter(Protocol):
    """Receives the build's total, then each batch of finished sequences."""

    def start(self, total: int) -> None: ...
    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class ShardResult:
    """What a worker reports for a finished shard."""

    file: str
    split: str
    first: int
    sequences: int
    sha256: str
    bytes: int


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
    source = open_source(cfg.source)
    sizes: dict[str, int] = {}
    sprite: tuple[int, ...] = ()
    active = cfg.splits.active()
    for name, split in active:
        pool = load_pool(cfg.source, split.pool, cfg.digits.size)
        sizes[name] = len(pool.labels)
        sprite = tuple(pool.images.shape[1:])
    # The config refused pools that overlap in any large split; slices counted from different
    # ends (train[:50000], train[-20000:]) are decided here, with the split's real size.
    for i, (a, sa) in enumerate(active):
        for b, sb in active[i + 1 :]:
            if sa.pool.split == sb.pool.split:
                count = len(source.load(sa.pool.split))
                if sa.pool.overlap_at(sb.pool, count):
                    raise ConfigError(
                        f"splits.{b}.pool ({sb.pool}) shares source images with splits.{a}.pool ({sa.pool})"
                        f" in the source's {sa.pool.split} split of {count} images; give the splits disjoint slices"
                    )
    h, w = sprite[:2] if sprite else (0, 0)
    if h > cfg.canvas.height or w > cfg.canvas.width:
        raise ConfigError(
            f"digits are {h}x{w} but the canvas is {cfg.canvas.height}x{cfg.canvas.width}; "
            "enlarge canvas.height/width or set digits.size"
        )
    return make_plan(cfg.resolve_counts(sizes), sprite), source.describe(), sizes


# --- worker side ---------------------------------------------------------------------

_progress_queue: Any = None


def _init_worker(queue: Any) -> None:
    global _progress_queue
    _progress_queue = queue


def run_shard(cfg: Config, shard: ShardSpec, out: str, progress: Progress | None = None) -> ShardResult:
    """Generate and write one shard. Pure in its inputs: same arguments, same bytes."""
    report = progress or (_progress_queue.put if _progress_queue is not None else None)
    split = getattr(cfg.splits, shard.split)
    pool = load_pool(cfg.source, split.pool, cfg.digits.size)
    plan = make_plan(cfg, tuple(pool.images.shape[1:]))
    step = cfg.build.chunk_size
    buffer = np.empty(step * int(np.prod(plan.sequence_shape)), dtype=np.uint8)

    def chunks() -> Any:
        for start in range(shard.first, shard.first + shard.size, step):
            stop = min(start + step, shard.first + shard.size)
            chunk = generate(cfg, pool, shard.split, np.arange(start, stop), out=buffer)
            # Not dataclasses.asdict: it deep-copies every array (~25 us a sequence).
            yield {f.name: v for f in fields(chunk) if (v := getattr(chunk, f.name)) is not None}
            if report is not None:
                report(stop - start)

    path = Path(out) / shard.filename
    attrs = {
        "format": manifest.FORMAT,
        "format_version": manifest.FORMAT_VERSION,
        "movmnist_version": __version__,
        "split": shard.split,
        "first_index": shard.first,
        "seed": cfg.seed,
        "config": cfg.to_data(),
    }
    layout = shards.Layout(sequence=plan.sequence_shape, digits=cfg.digits.count[1], extras=extras(cfg))
    digest = shards.write_shard(
        path, shard.size, layout, chunks(), attrs, cfg.output.compression, cfg.output.compression_level
    )
    return ShardResult(shard.filename, shard.split, shard.first, shard.size, digest, path.stat().st_size)


# --- driver side ---------------------------------------------------------------------


def _claim(out: Path, overwrite: bool) -> None:
    """Make `out` ready for a build, refusing to touch anything that is not ours."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a directory; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        entries = sorted(out.iterdir())
    except PermissionError:
        raise OutputError(f"no permission to write {out}; choose another --out") from None
    others = [e.name for e in entries if not manifest.is_ours(e.name)]
    if not others and entries and all(e.name in manifest.CARD_FILES for e in entries):
        others = [entries[0].name]  # a README.md or preview.gif alone is nobody's dataset card: maybe the user's
    if others:
        raise OutputError(
            f"{out} is not empty and is not a movmnist dataset (it holds {others[0]!r}); choose an empty or new --out"
        )
    if entries and not overwrite:
        raise OutputError(
            f"{out} already holds a movmnist dataset; pass --overwrite to replace it, or choose another --out"
        )
    # The manifest goes first, so that a half-deleted dataset never looks complete.
    for entry in sorted(entries, key=lambda e: e.name != manifest.MANIFEST):
        entry.unlink()


def _run_local(
    tasks: list[ShardSpec], cfg: Config, out: Path, workers: int, progress: Progress | None
) -> list[ShardResult]:
    if workers <= 1:
        return [run_shard(cfg, task, str(out), progress) for task in tasks]
    ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set() or not queue.empty():
            try:
                n = queue.get(timeout=0.1)
            except Exception:  # queue.Empty, or the queue closed under us
                continue
            if progress is not None:
                progress(n)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(queue,)) as pool:
            futures = [pool.submit(run_shard, cfg, task, str(out)) for task in tasks]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                for f in futures:
                    f.cancel()
                raise failed[0].exception()  # type: ignore[misc]
            return [f.result() for f in futures]
    finally:
        stop.set()
        drainer.join()


def build(
    cfg: Config,
    out: Path,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Reporter | None = None,
) -> dict[str, Any]:
    """Build the dataset described by `cfg` into `out`; return the manifest it wrote."""
    started = time.perf_counter()
    plan, source, pool_sizes = prepare(cfg)
    cfg = plan.config
    _claim(out, overwrite)
    manifest.write_json_atomic(
        out / manifest.BUILDING,
        {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "config": cfg.to_data()},
    )
    tasks = list(plan.shards)
    n_workers = max(1, min(workers or default_workers(), len(tasks)))
    if progress is not None:
        progress.start(plan.sequences)
    results = _run_local(tasks, cfg, out, n_workers, progress.advance if progress is not None else None)

    by_split: dict[str, list[ShardResult]] = {}
    for r in results:
        by_split.setdefault(r.split, []).append(r)
    data = {
        "format": manifest.FORMAT,
        "format_version": manifest.FORMAT_VERSION,
        "movmnist_version": __version__,
        "created": _now(),
        "build_seconds": round(time.perf_counter() - started, 3),
        "workers": n_workers,
        "config": cfg.to_data(),
        "source": source,
        "sequence_shape": list(plan.sequence_shape),
        "splits": {
            s.name: {
                "sequences": s.sequences,
                "pool": str(s.pool),
                "pool_size": pool_sizes[s.name],
                "shards": [
                    {
                        "file": r.file,
                        "first": r.first,
                        "sequences": r.sequences,
                        "sha256": r.sha256,
                        "bytes": r.bytes,
                    }
                    for r in by_split[s.name]
                ],
            }
            for s in plan.splits
        },
    }
    card.write_card(out, data)  # before the manifest, which stays the last file a build writes
    manifest.write_json_atomic(out / manifest.MANIFEST, data)
    (out / manifest.BUILDING).unlink()
    return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
