"""Engines: where shard tasks run. One small interface, three implementations.

An engine takes shard tasks (`ShardSpec`s and a function that builds one) and yields the
results as tasks finish; it never decides what to build. `local` runs them on worker
processes (`concurrent.futures.ProcessPoolExecutor`), `dask` on a Dask distributed cluster
through its `concurrent.futures` executor (`Client.get_executor`).
Both pools get at most two tasks per worker at a time, so the driver's memory does not
grow with the number of shards. Leaving the `with` block on an exception stops running
tasks promptly (local workers are terminated; Dask futures cancelled).

This module is the only one that imports `multiprocessing` and `distributed`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from movmnist.builder.plan import ShardSpec
from movmnist.config import Engine as EngineCfg
from movmnist.errors import BuildError, ConfigError

Progress = Callable[[int], None]
Task = Callable[[ShardSpec], Any]  # ShardSpec -> ShardResult, picklable (a module-level function or a partial)

DASK_HINT = "pip install 'movmnist[dask]'"
CONNECT_TIMEOUT = "10s"  # how long to try to reach a Dask scheduler


class ShardTaskError(Exception):
    """A shard task raised; carries the shard's file name and the original exception."""

    def __init__(self, shard: str, error: BaseException) -> None:
        super().__init__(shard, error)
        self.shard, self.error = shard, error


class WorkerLost(Exception):
    """The process running a task died (killed, or out of memory) without raising."""


def _lost(error: BaseException) -> bool:
    # Dask raises KilledWorker once a task has killed too many workers; no import needed to see it.
    return isinstance(error, BrokenProcessPool) or type(error).__name__ == "KilledWorker"


# --- in the worker ---------------------------------------------------------------------

_worker_progress: Progress | None = None


def worker_progress() -> Progress | None:
    """Where a task running under an engine reports finished sequences (None: nowhere)."""
    return _worker_progress


def _init_local_worker(queue: Any, driver: int, setup: Callable[..., None] | None, setup_args: tuple[Any, ...]) -> None:
    global _worker_progress
    _worker_progress = queue.put
    if setup is not None:
        setup(*setup_args)
    # Ctrl-C is the driver's to handle: it stops the workers itself, and cleans up after them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()


def _exit_with(driver: int) -> None:
    """Exit as soon as the driver process does (kill -9, power cut): no orphan keeps writing shards.

    Workers are children of the forkserver, which itself waits for them, so they must watch
    the driver themselves: a pidfd becomes readable when its process exits.
    """
    try:
        fd = os.pidfd_open(driver)
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd (not Linux, or an old kernel): poll
        while True:
            time.sleep(0.5)
            try:
                os.kill(driver, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
    select.select([fd], [], [])
    os._exit(1)


# --- in the driver ---------------------------------------------------------------------


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the block ends: a submit may start a worker, which must be in the
    executor's process table (and so stoppable) before KeyboardInterrupt can be raised.

    Python runs signal handlers in the main thread whichever thread the kernel picked, so a
    signal mask cannot do this; a handler that only takes note, then re-raises, can."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            signal.raise_signal(signal.SIGINT)


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
                pending[executor.submit(fn, task)] = task

    fill()
    while pending:
        done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        for future in done:
            task = pending.pop(future)
            error = future.exception()
            if error is not None:
                raise ShardTaskError(task.filename, WorkerLost() if _lost(error) else error) from error
            yield task, future.result()
        fill()


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # Workers fork from a server that has imported the builder once (no effect if it already runs).
        ctx.set_forkserver_preload(["movmnist.builder.driver"])
        return ctx
    return mp.get_context("spawn")


def start_early(cfg: EngineCfg) -> None:
    """Start the local engine's forkserver now, if it has one: it imports the builder (~0.3 s)
    while the driver reads the source and plans, instead of after."""
    if cfg.kind == "local" and _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class LocalEngine:
    """Worker processes on this machine (forkserver: workers never inherit the driver's state)."""

    name = "local"

    def __init__(
        self, workers: int, setup: Callable[..., None] | None = None, setup_args: tuple[Any, ...] = ()
    ) -> None:
        """`setup(*setup_args)` runs once in each worker before its first task (pickled once per worker)."""
        self.workers = workers
        self._setup = setup, setup_args
        self._pool: cf.ProcessPoolExecutor | None = None
        self._queue: Any = None
        self._drainer: threading.Thread | None = None
        self._stop = threading.Event()
        self._progress: Progress | None = None

    def __enter__(self) -> LocalEngine:
        ctx = _context()
        self._queue = ctx.Queue()
        self._pool = cf.ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_local_worker,
            initargs=(self._queue, os.getpid(), *self._setup),
        )
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        return self

    def _drain(self) -> None:
        """Forward the workers' progress (sequence counts) to the driver's callback."""
        while not self._stop.is_set() or not self._queue.empty():
            try:
                n = self._queue.get(timeout=0.1)
            except Exception:  # queue.Empty, or the queue closed under us
                continue
            if self._progress is not None:
                self._progress(n)

    def run(self, fn: Task, tasks: Iterable[ShardSpec], progress: Progress | None) -> Iterator[Any]:
        assert self._pool is not None, "use the engine in a with block"
        self._progress = progress
        for _, result in _windowed(self._pool, fn, tasks, 2 * self.workers):
            yield result

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        pool = self._pool
        if pool is None:
            return
        if exc_type is not None:
            self._terminate(pool)
        pool.shutdown(wait=True, cancel_futures=True)
        self._stop.set()
        if self._drainer is not None:
            self._drainer.join()
        self._queue.close()
        self._pool = None

    @staticmethod
    def _terminate(pool: cf.ProcessPoolExecutor) -> None:
        """Stop every worker now, mid-shard: the driver then removes their temporary files."""
        # The executor has no public way to stop running calls; its process table is the only
        # handle, and shutdown() drops it, so take it first.
        procs = [p for p in list((getattr(pool, "_processes", None) or {}).values()) if p is not None]
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


class DaskEngine:
    """A Dask distributed cluster: at `address`, or a LocalCluster of `workers` processes."""

    name = "dask"

    def __init__(self, address: str | None, workers: int) -> None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ConfigError(f"the dask engine needs Dask's distributed scheduler; install it: {DASK_HINT}") from None
        self.address = address
        self.workers = workers
        self._client: Any = None
        self._cluster: Any = None
        self._executor: cf.Executor | None = None

    def __enter__(self) -> DaskEngine:
        from distributed import Client, LocalCluster

        try:
            if self.address is None:
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self._close()
            raise BuildError(
                f"cannot reach the Dask scheduler at {self.address} ({exc}); check engine.address / --scheduler,"
                " or leave it out to start a local cluster"
            ) from None
        self.workers = max(1, sum(self._client.nthreads().values()))
        self._executor = self._client.get_executor(pure=False)
        return self

    def run(self, fn: Task, tasks: Iterable[ShardSpec], progress: Progress | None) -> Iterator[Any]:
        assert self._executor is not None, "use the engine in a with block"
        for task, result in _windowed(self._executor, fn, tasks, 2 * self.workers):
            # Dask workers have no channel back for per-chunk progress: count whole shards.
            if progress is not None:
                progress(task.size)
            yield result

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if self._executor is not None:
            # On an error, cancel what is queued; a task already running finishes its shard
            # (Dask cannot stop it), which is then complete and recorded, or fails on its own.
            self._executor.shutdown(wait=exc_type is None)
        self._close()

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = self._executor = None


def make_engine(
    cfg: EngineCfg, workers: int, tasks: int, setup: Callable[..., None] | None = None, setup_args: tuple[Any, ...] = ()
) -> LocalEngine | DaskEngine:
    """The engine a config asks for, with `workers` processes (never more than there are tasks).

    `setup(*setup_args)` runs once in each local worker (Dask workers, on other machines, load
    what they need themselves).

        Shards are always written in worker processes, even with one worker: HDF5 can crash its
        process at exit after a failed write (a full disk), and the driver must survive to clean up.
    """
    n = max(1, min(workers, tasks))
    if cfg.kind == "dask":
        return DaskEngine(cfg.address, n)
    return LocalEngine(n, setup, setup_args)
