"""Engines: where shard tasks run. One small interface, three implementations.

An engine takes shard tasks (`ShardSpec`s and a function that builds one) and yields the
results as tasks finish; it never decides what to build. `Engine` is the interface;
`local.LocalEngine` runs tasks on worker processes (`concurrent.futures.ProcessPoolExecutor`),
`dask.DaskEngine` on a Dask distributed cluster through its `concurrent.futures` executor
(`Client.get_executor`), `ray.RayEngine` on a Ray cluster (a task per shard, its ObjectRef's
`concurrent.futures` future). All submit through `_windowed`: at most two tasks per worker at a
time, so the driver's memory does not grow with the number of shards; the two cluster engines
share `RemoteEngine.run` (whole shards counted as progress). Leaving the `with` block on an
exception stops running tasks promptly (local workers are terminated; Dask futures cancelled;
Ray tasks cancelled with force).

`local` is the only module that imports `multiprocessing`, `dask` the only one that
imports `distributed`, `ray` the only one that imports `ray`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, Self

from movmnist.builder.plan import ShardSpec
from movmnist.config import Engine as EngineCfg

Progress = Callable[[int], None]
Task = Callable[[ShardSpec], Any]  # ShardSpec -> ShardResult, picklable (a module-level function or a partial)


class Engine(Protocol):
    """Where shard tasks run: entered as a context manager, then `run`."""

    name: str  # as the manifest records it: "local", "dask", "ray"
    workers: int  # how many tasks run at once (Dask: the cluster's threads, Ray: its CPUs, once entered)

    def __enter__(self) -> Self: ...

    def run(self, fn: Task, tasks: Iterable[ShardSpec], progress: Progress | None) -> Iterator[Any]:
        """`fn(task)` for every task, yielded as each finishes (not in task order); a task that
        raises stops the run with `ShardTaskError`. `progress(n)`: n more sequences are done."""
        ...

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        """Shut the workers down; on an exception, stop running tasks first."""
        ...


class ShardTaskError(Exception):
    """A shard task raised; carries the shard's file name and the original exception."""

    def __init__(self, shard: str, error: BaseException) -> None:
        super().__init__(shard, error)
        self.shard, self.error = shard, error


class WorkerLost(Exception):
    """The process running a task died (killed, or out of memory) without raising."""


# Dask raises KilledWorker once a task has killed too many workers, Ray WorkerCrashedError once
# its retries are spent: no import needed to see them.
_LOST = ("KilledWorker", "WorkerCrashedError")


def _failure(error: BaseException) -> BaseException:
    """What a task's future raised, as the driver reports it: the task's own exception (Ray
    wraps it in a RayTaskError, its `cause`), or WorkerLost."""
    if isinstance(error, BrokenProcessPool) or type(error).__name__ in _LOST:
        return WorkerLost()
    cause = getattr(error, "cause", None) if type(error).__name__.startswith("RayTaskError") else None
    return cause if isinstance(cause, BaseException) else error


# --- in the worker ---------------------------------------------------------------------

_worker_progress: Progress | None = None


def worker_progress() -> Progress | None:
    """Where a task running under an engine reports finished sequences (None: nowhere)."""
    return _worker_progress


def _report_to(progress: Progress | None) -> None:
    """Set, in a worker process, where its tasks report progress (an engine's worker initialiser)."""
    global _worker_progress
    _worker_progress = progress


# --- in the driver ---------------------------------------------------------------------


_HELD = (signal.SIGINT, signal.SIGTERM)  # the signals that raise KeyboardInterrupt in the CLI


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends: a submit may start a worker, which must be
    in the executor's process table (and so stoppable) before KeyboardInterrupt can be raised.

    Python runs signal handlers in the main thread whichever thread the kernel picked, so a
    signal mask cannot do this; a handler that only takes note, then re-raises, can."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in _HELD}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if held:
            signal.raise_signal(held[0])


def _windowed(
    executor: cf.Executor, fn: Task, tasks: Iterable[ShardSpec], window: int
) -> Iterator[tuple[ShardSpec, Any]]:
    """Submit tasks keeping at most `window` in flight; yield (task, result) as each finishes."""
    pending: dict[cf.Future[Any], ShardSpec] = {}
    todo = iter(tasks)

    def fill() -> None:
        while len(pending) < window:
            task = next(todo, None)
            if task is None:
                return
            with _no_interrupt():
                try:
                    pending[executor.submit(fn, task)] = task
                except BrokenProcessPool as exc:  # a worker died since the last wait: its own task says which
                    if not pending:
                        raise ShardTaskError(task.filename, WorkerLost()) from exc
                    return

    fill()
    while pending:
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for future in done:
            task = pending.pop(future)
            error = future.exception()
            if error is not None:
                raise ShardTaskError(task.filename, _failure(error)) from error
            yield task, future.result()
        fill()


class RemoteEngine:
    """What the two cluster engines (Dask, Ray) share: `run` on their `concurrent.futures`
    executor, set once entered. Their workers have no channel back for per-chunk progress, so
    whole shards are counted as they finish."""

    workers: int
    _executor: cf.Executor | None

    def run(self, fn: Task, tasks: Iterable[ShardSpec], progress: Progress | None) -> Iterator[Any]:
        assert self._executor is not None, "use the engine in a with block"
        for task, result in _windowed(self._executor, fn, tasks, 2 * self.workers):
            if progress is not None:
                progress(task.size)
            yield result


# The implementations import the interface above, so they come after it.
from movmnist.builder.engines.dask import DaskEngine as DaskEngine  # noqa: E402
from movmnist.builder.engines.local import LocalEngine as LocalEngine  # noqa: E402
from movmnist.builder.engines.local import start_server  # noqa: E402
from movmnist.builder.engines.ray import RayEngine as RayEngine  # noqa: E402

_IMPLEMENTATIONS: tuple[type[Engine], ...] = (LocalEngine, DaskEngine, RayEngine)  # mypy checks each satisfies Engine


def start_early(cfg: EngineCfg) -> None:
    """Start the local engine's forkserver now, if it has one: it imports the builder (~0.3 s)
    while the driver reads the source and plans, instead of after."""
    if cfg.kind == "local":
        start_server()


def make_engine(
    cfg: EngineCfg, workers: int, tasks: int, setup: Callable[..., None] | None = None, setup_args: tuple[Any, ...] = ()
) -> Engine:
    """The engine a config asks for, with `workers` processes (never more than there are tasks).

    `setup(*setup_args)` runs once in each local worker (Dask and Ray workers, on other machines, load
    what they need themselves).

        Shards are always written in worker processes, even with one worker: HDF5 can crash its
        process at exit after a failed write (a full disk), and the driver must survive to clean up.
    """
    n = max(1, min(workers, tasks))
    if cfg.kind == "dask":
        return DaskEngine(cfg.address, n)
    if cfg.kind == "ray":
        return RayEngine(cfg.address, n)
    return LocalEngine(n, setup, setup_args)
