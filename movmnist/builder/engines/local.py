"""The local engine: shard tasks on worker processes of this machine (`ProcessPoolExecutor`).

Workers fork from a forkserver that has imported the builder once, so they never inherit
the driver's state (open files, threads). This module is the only one that imports
`multiprocessing`.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from movmnist.builder.engines import Progress, Task, _report_to, _windowed
from movmnist.builder.plan import ShardSpec

# --- in the worker ---------------------------------------------------------------------


def _init_local_worker(queue: Any, driver: int, setup: Callable[..., None] | None, setup_args: tuple[Any, ...]) -> None:
    _report_to(queue.put)
    if setup is not None:
        setup(*setup_args)
    # Ctrl-C is the driver's to handle: it stops the workers itself, and cleans up after them.
    # (SIGTERM stays deadly: the executor stops the others with it once one has died.)
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


def _context() -> Any:
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # Workers fork from a server that has imported the builder once (no effect if it already runs).
        ctx.set_forkserver_preload(["movmnist.builder.driver"])
        return ctx
    return mp.get_context("spawn")


def start_server() -> None:
    """Start the forkserver now, if this platform has one (see `engines.start_early`)."""
    if _context().get_start_method() == "forkserver":
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
