"""The Dask engine: shard tasks on a Dask distributed cluster, through its `concurrent.futures`
executor (`Client.get_executor`). This module is the only one that imports `distributed`,
an optional extra, and only once an engine is made.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

from movmnist.builder.engines import RemoteEngine, _no_interrupt
from movmnist.errors import ConfigError, EngineUnavailable

DASK_HINT = "pip install 'movmnist[dask]'"
CONNECT_TIMEOUT = "10s"  # how long to try to reach a Dask scheduler


class DaskEngine(RemoteEngine):
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
                try:
                    with _no_interrupt():  # a cluster cut half-way through its start fails at exit
                        self._cluster = LocalCluster(
                            n_workers=self.workers,
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address="127.0.0.1:0",  # a free port: None means 8787, and a second build warned
                            silence_logs=logging.ERROR,
                            preload=[__name__],  # dask_setup below: the workers leave Ctrl-C to the driver
                        )
                        self._client = Client(self._cluster)
                except KeyboardInterrupt:
                    self._close()
                    raise
            else:
                self._client = Client(self.address, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self._close()
            raise EngineUnavailable(
                f"cannot reach the Dask scheduler at {self.address} ({exc}); check engine.address / --scheduler,"
                " or leave it out to start a local cluster"
            ) from None
        self.workers = max(1, sum(self._client.nthreads().values()))
        self._executor = self._client.get_executor(pure=False)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        with _quiet(_CANCEL_LOGGERS) if exc_type is not None else contextlib.nullcontext():
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


# What Dask and tornado log in the driver as the queued tasks are cancelled on an error or a
# Ctrl-C: "Couldn't gather keys ... forgotten", and a FutureCancelledError traceback under the
# build's own one-line error (seen under load, in about 1 of 4 Ctrl-C trials).
_CANCEL_LOGGERS = ("distributed", "tornado.application")


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """The loggers `names` silenced for the block, their levels restored after."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def dask_setup(worker: Any) -> None:
    """Run by each worker process of our LocalCluster as it starts (Dask's preload protocol).

    A Ctrl-C in a terminal reaches the whole process group: left to themselves, the worker
    processes each printed a KeyboardInterrupt traceback (67 lines in all) under the driver's
    one line. The driver handles Ctrl-C (it cancels the queued shards and closes the cluster),
    as with the local engine, whose workers ignore SIGINT too. Not covered: a worker still
    importing in the cluster's first second or two (its start, before this runs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
