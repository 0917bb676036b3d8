"""The Ray engine: shard tasks on a Ray cluster, one Ray task per shard, each ObjectRef's
`concurrent.futures` future submitted through the engines' window. This module is the only
one that imports `ray`, an optional extra, and only once an engine is made.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from movmnist.builder.engines import RemoteEngine
from movmnist.builder.plan import ShardSpec
from movmnist.errors import ConfigError, EngineUnavailable

RAY_HINT = "pip install 'movmnist[ray]'"
CONNECT_TIMEOUT = 10.0  # seconds to reach a Ray head at HOST:PORT before ray.init (which retries for minutes)


def _unreachable(address: str) -> str | None:
    """Why a Ray head at `address` ("HOST:PORT" or "ray://HOST:PORT") cannot be reached, or None
    if it answers or the address is not of that form ("auto", "local": Ray resolves those itself).
    ray.init retries an address that nothing answers at for minutes, printing a warning every
    few seconds; a TCP connect first turns that into one clear error."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def _apply(fn: Callable[[ShardSpec], Any], task: ShardSpec) -> Any:
    """In a Ray worker: one shard task (Ray takes functions, not partials, as remote functions)."""
    return fn(task)


class _RayExecutor(cf.Executor):
    """`submit` as a Ray task; `shutdown(cancel_futures=True)` cancels (and kills) what still runs."""

    def __init__(self, ray: Any) -> None:
        self._ray = ray
        self._remote = ray.remote(_apply)
        self._refs: dict[cf.Future[Any], Any] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        ref = self._remote.remote(fn, *args, **kwargs)
        future: cf.Future[Any] = ref.future()
        self._refs[future] = ref
        future.add_done_callback(lambda done: self._refs.pop(done, None))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        refs = list(self._refs.values())
        if cancel_futures:
            for ref in refs:
                self._ray.cancel(ref, force=True)
        if refs and (wait or cancel_futures):
            # Cancelled tasks' workers are gone once their refs resolve: only then may the
            # driver remove the temporary files they were writing.
            self._ray.wait(refs, num_returns=len(refs), timeout=None if wait and not cancel_futures else 10)


class RayEngine(RemoteEngine):
    """A Ray cluster: at `address` ("auto", or the head's HOST:PORT), or a local instance of
    `workers` CPUs; the connection a program already made with `ray.init` is used as it is."""

    name = "ray"

    def __init__(self, address: str | None, workers: int) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError(f"the ray engine needs Ray; install it: {RAY_HINT}") from None
        self.address = address
        self.workers = workers
        self._started = False  # this engine called ray.init, so it shuts Ray down
        self._executor: _RayExecutor | None = None

    def __enter__(self) -> RayEngine:
        import ray

        if not ray.is_initialized():
            local = self.address is None and not os.environ.get("RAY_ADDRESS")
            if local:
                # A local instance this build starts and stops reports no usage statistics
                # unless the user asked for them (Ray sends them by default).
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            why = _unreachable(self.address) if self.address else None
            if why is not None:
                raise EngineUnavailable(
                    f"cannot reach the Ray cluster at {self.address} ({why}); check engine.address / --address,"
                    " or leave it out to start a local instance"
                )
            try:
                ray.init(
                    address=self.address,
                    num_cpus=self.workers if local else None,
                    include_dashboard=False,
                    logging_level=logging.ERROR,
                    log_to_driver=False,
                )
            except (ConnectionError, OSError, TimeoutError) as exc:
                raise EngineUnavailable(
                    f"cannot reach the Ray cluster at {self.address or os.environ.get('RAY_ADDRESS')}"
                    f" ({str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__});"
                    " check engine.address / --address, or leave it out to start a local instance"
                ) from None
            self._started = True
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._executor = _RayExecutor(ray)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        import ray

        if self._executor is not None:
            # On an error, stop the tasks still running: Ray kills their workers.
            self._executor.shutdown(wait=exc_type is None, cancel_futures=exc_type is not None)
            self._executor = None
        if self._started:
            ray.shutdown()
            self._started = False
