"""Failing fast offline: whether the hosts a download needs take a TCP connection.

TFDS's downloader retries for minutes. Before calling it we try one TCP connection to each
host (or to its proxy) for a few seconds; if that fails, the caller raises one error that
names the dataset and the ways out.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterable


def unreachable(urls: Iterable[str], seconds: float) -> str | None:
    """Why some URL's host (or its proxy) cannot be reached, or None if every one takes a connection.

    All hosts are tried at once, each for at most `seconds` (name lookup included: it runs in
    a daemon thread, since getaddrinfo has no timeout of its own).
    """
    targets: list[tuple[str, int]] = []
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            continue
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
        proxy = proxies.get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(host):
            via = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if via.hostname:
                host, port = via.hostname, via.port or (443 if via.scheme == "https" else 80)
        if (host, port) not in targets:
            targets.append((host, port))
    results: dict[tuple[str, int], str | None] = {}

    def attempt(target: tuple[str, int]) -> None:
        try:
            socket.create_connection(target, timeout=seconds).close()
            results[target] = None
        except OSError as exc:
            results[target] = exc.strerror or str(exc) or type(exc).__name__

    threads = [threading.Thread(target=attempt, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for host, port in targets:
        if (host, port) not in results:
            return f"{host}:{port} did not answer within {seconds:g} s"
        error = results[(host, port)]
        if error is not None:
            return f"{host}:{port} is unreachable ({error})"
    return None
