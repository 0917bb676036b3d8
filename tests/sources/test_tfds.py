"""TFDS sources, offline: downloads for real from an HTTP server on 127.0.0.1, data sources mocked.

The IDX sets go through tensorflow-datasets' download manager with only the URL base
redirected (`mirror`) to a server this module starts; the checksums come from a file written
in TFDS's own format, keyed by TFDS's original URLs, exactly as its registry is.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import re
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import movmnist
from movmnist.cli import cli
from movmnist.errors import DownloadError, SourceError
from movmnist.sources import tfds as tfds_source
from movmnist.sources.tfds import cache as tfds_cache
from tests.sources.test_sources import digits, idx_bytes

MNIST_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
N_TRAIN, N_TEST = 60, 20


class _Server:
    """A static file server on 127.0.0.1 that records the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                server.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def small_idx_files(folder: Path) -> dict[str, bytes]:
    """Write the four MNIST files, gzipped, as a mirror serves them; return name -> raw IDX bytes."""
    (train_x, train_y), (test_x, test_y) = digits(N_TRAIN), digits(N_TEST, offset=100)
    raw = dict(zip(FILES, (idx_bytes(train_x), idx_bytes(train_y), idx_bytes(test_x), idx_bytes(test_y)), strict=True))
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in raw.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(data, mtime=0))
    return raw


def register_checksums(folder: Path, path: Path, base: str = MNIST_URL) -> Path:
    """A TFDS checksums file (url, size, sha256, filename, tab-separated) for the files in `folder`."""
    lines = []
    for file in sorted(folder.glob("*.gz")):
        data = file.read_bytes()
        lines.append(f"{base}{file.name}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\t{file.name}\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[_Server, dict[str, bytes], Path]]:
    served = tmp_path / "served"
    raw = small_idx_files(served)
    checksums = register_checksums(served, tmp_path / "mnist.txt")
    server = _Server(served)
    yield server, raw, checksums
    server.stop()


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the IDX sets through TFDS's download manager ------------------------------------------


def test_download_through_the_tfds_download_manager(tmp_path: Path, mirror: Any) -> None:
    server, raw, checksums = mirror
    data_dir = tmp_path / "tfds"
    meta = tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)
    assert "tensorflow" not in sys.modules
    assert sorted(server.requests) == sorted(f"/{name}.gz" for name in FILES)
    assert meta["splits"] == {
        "train": {"count": N_TRAIN, "image_shape": [28, 28], "dtype": "uint8"},
        "test": {"count": N_TEST, "image_shape": [28, 28], "dtype": "uint8"},
    }
    assert meta["sha256"] == {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    # The files went through the download manager: TFDS's layout, named by URL and checksum.
    downloaded = sorted(p.name for p in (data_dir / "downloads" / "mnist").glob("*.gz"))
    assert len(downloaded) == 4 and all(name.startswith("127.0.0.1_") for name in downloaded)
    assert tfds_source.status("mnist", data_dir)["cached"] is True

    # Later opens read the cache: no request, even with the server gone.
    server.stop()
    source = tfds_source.open_tfds("mnist", data_dir, mirror=f"http://127.0.0.1:{closed_port()}/")
    train = source.load("train")
    np.testing.assert_array_equal(train.images, digits(N_TRAIN)[0])
    np.testing.assert_array_equal(source.load("test").labels, np.arange(N_TEST) % 10)
    assert train.labels.dtype == np.int64 and not train.images.flags.writeable
    assert source.describe()["kind"] == "tfds" and source.describe()["synthetic"] is False
    assert len(server.requests) == 4


def test_a_wrong_checksum_is_rejected_and_nothing_cached(tmp_path: Path, mirror: Any) -> None:
    server, _, checksums = mirror
    damaged = server.root / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(bytes(data))  # same size, different bytes
    data_dir = tmp_path / "tfds"
    with pytest.raises(DownloadError) as info:
        tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)
    message = str(info.value)
    assert message.startswith(f"mnist: {server.url}t10k-labels-idx1-ubyte.gz does not match the checksum")
    assert "nothing was cached" in message and "\n" not in message
    assert tfds_source.read_cache(tfds_source.cache_path("mnist", data_dir)) is None
    assert not list((data_dir / "downloads" / "mnist").glob("*.tmp.*"))
    assert "tensorflow" not in sys.modules


def test_the_registered_tfds_checksums_are_the_default(tmp_path: Path, mirror: Any) -> None:
    # Without our checksums file, TFDS's registry applies: the small files are not MNIST.
    server, _, _ = mirror
    with pytest.raises(DownloadError, match="does not match the checksum tensorflow-datasets registers"):
        tfds_source.fetch("mnist", tmp_path / "tfds", mirror=server.url)


def test_offline_fails_fast_naming_both_ways_out(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    sets = [f"source.data_dir={tmp_path / 'tfds'}", f"source.mirror=http://127.0.0.1:{port}/"]
    result = CliRunner().invoke(cli, ["build", "-o", str(tmp_path / "out"), "-q", *[f"--set={s}" for s in sets]])
    assert time.monotonic() - started < 10
    assert result.exit_code == 1, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert message.startswith("Error: could not download mnist: 127.0.0.1:")
    assert "--set source.kind=idx --set source.path=DIR" in message
    assert "--set source.kind=sample" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_unreachable_gives_up_after_its_timeout() -> None:
    # A listening socket with a full backlog stands in for a silent host.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(0)
        port = silent.getsockname()[1]
        fillers = []
        for _ in range(8):  # fill the accept queue so that further connects hang
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        started = time.monotonic()
        problem = tfds_source.unreachable([f"http://127.0.0.1:{port}/x"], 0.5)
        elapsed = time.monotonic() - started
        for s in fillers:
            s.close()
    assert elapsed < 3
    # Whichever of the two 0.5 s limits (the socket's, the join's) fires first.
    assert problem in (f"127.0.0.1:{port} did not answer within 0.5 s", f"127.0.0.1:{port} is unreachable (timed out)")


def test_build_downloads_with_the_registered_urls_redirected(
    tmp_path: Path, mirror: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default config end to end: only source.mirror and source.data_dir set."""
    from tensorflow_datasets.core.download import checksums as tfds_checksums

    server, _, checksums = mirror
    registry = {**tfds_checksums.get_all_url_infos(), **tfds_checksums.load_url_infos(checksums)}
    monkeypatch.setattr(tfds_checksums, "get_all_url_infos", lambda: dict(registry))
    data_dir, out = tmp_path / "tfds", tmp_path / "mm"
    sets = ["splits.train.sequences=6", "splits.val.sequences=4", "splits.test.sequences=5"]
    sets += ["splits.train.pool=train[:-20]", "splits.val.pool=train[-20:]", "output.shard_size=4"]
    sets += [f"source.data_dir={data_dir}", f"source.mirror={server.url}", "sequence.length=5"]
    result = CliRunner().invoke(cli, ["build", "-o", str(out), "-q", "-j", "1", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "tfds" and manifest["source"]["name"] == "mnist"
    assert manifest["splits"]["val"]["pool_size"] == 20 and manifest["splits"]["train"]["pool_size"] == 40
    with movmnist.open(out) as ds:
        assert ds["train"][:].shape == (6, 5, 64, 64)
        assert ds["val"].read("source_index", slice(None)).min() >= 40
    assert "tensorflow" not in sys.modules

    info = CliRunner().invoke(cli, ["info", str(out)])
    assert "source:      tfds mnist from mnist\n" in info.output  # the folder's name only: no path of the builder's
    assert "digits:      2 per sequence, size 28x28 (the source's)" in info.output

    shown = CliRunner().invoke(cli, ["sources", "--set", f"source.data_dir={data_dir}", "--json"])
    assert shown.exit_code == 0, shown.output
    report = {item["name"]: item for item in json.loads(shown.output)["tfds"]}
    assert report["mnist"]["cached"] and report["mnist"]["splits"] == {"train": N_TRAIN, "test": N_TEST}
    assert not report["kmnist"]["cached"]


def test_real_mnist_served_and_decoded(tmp_path: Path, mnist_dir: Path) -> None:
    checksums = register_checksums(mnist_dir, tmp_path / "mnist.txt")
    server = _Server(mnist_dir)
    try:
        meta = tfds_source.fetch("mnist", tmp_path / "tfds", mirror=server.url, checksums=checksums)
    finally:
        server.stop()
    sums = (mnist_dir / "SHA256SUMS.uncompressed").read_text().split()
    assert meta["sha256"] == dict(zip(sums[1::2], sums[0::2], strict=True))
    source = tfds_source.open_tfds("mnist", tmp_path / "tfds")
    assert source.load("train").images.shape == (60000, 28, 28)
    assert source.load("train").images.mean() == pytest.approx(33.3184, abs=0.001)


def test_cli_fetch_and_its_errors(tmp_path: Path, mirror: Any) -> None:
    server, _, _ = mirror
    runner = CliRunner()
    bad = runner.invoke(cli, ["fetch", "mnist", "--data-dir", str(tmp_path), "--mirror", server.url])
    assert bad.exit_code == 1 and "does not match the checksum" in bad.output
    offline = runner.invoke(cli, ["fetch", "kmnist", "--data-dir", str(tmp_path), "--mirror", "http://127.0.0.1:9/"])
    assert offline.exit_code == 1 and "could not download kmnist: 127.0.0.1:9 is unreachable" in offline.output


# --- other sets through tfds.data_source ---------------------------------------------


def write_mock_metadata(data_dir: Path, name: str, splits: dict[str, int]) -> None:
    """TFDS metadata (dataset_info.json, features.json) for `name`, as a prepared set has it."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=str(data_dir))
    infos = [
        tfds.core.SplitInfo(name=k, shard_lengths=[n], num_bytes=0, filename_template=None) for k, n in splits.items()
    ]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    Path(builder.data_dir).mkdir(parents=True, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)


def test_data_source_path_with_mock_data(tmp_path: Path) -> None:
    import tensorflow_datasets as tfds

    data_dir = tmp_path / "tfds"
    write_mock_metadata(data_dir, "cifar10", {"train": 50000, "test": 10000})
    assert tfds_source.status("cifar10", data_dir)["prepared"] is True
    with tfds.testing.mock_data(num_examples=30, policy=tfds.testing.MockPolicy.USE_FILES, data_dir=str(data_dir)):
        meta = tfds_source.fetch("cifar10", data_dir)
    assert meta["via"] == "tfds.data_source" and meta["version"] == "3.0.2"
    assert meta["splits"]["train"] == {"count": 30, "image_shape": [32, 32, 3], "dtype": "uint8"}
    assert "tensorflow" not in sys.modules

    # Now cached: a colour build needs neither TFDS's mock nor the network. The sprites keep
    # the source's 32x32 (digits.size null); frames are RGB.
    out = tmp_path / "cifar"
    sets = [
        "source.name=cifar10",
        f"source.data_dir={data_dir}",
        "splits.train.pool=train[:20]",
        "splits.val.pool=train[20:]",
        "splits.train.sequences=3",
        "splits.val.sequences=2",
        "splits.test.sequences=2",
        "sequence.length=4",
    ]
    result = CliRunner().invoke(cli, ["build", "-o", str(out), "-q", "-j", "1", *[f"--set={s}" for s in sets]])
    assert result.exit_code == 0, result.output
    source = tfds_source.open_tfds("cifar10", data_dir)
    with movmnist.open(out) as ds:
        frames = ds["train"][:]
        assert frames.shape == (3, 4, 64, 64, 3)
        index, pos = ds["train"].read("source_index", slice(None)), ds["train"].read("positions", slice(None))
    # Composited by max per channel.
    sprites = source.load("train").images
    expect = np.zeros((64, 64, 3), np.uint8)
    for k in range(2):
        r, c = pos[0, 1, k]
        np.maximum(expect[r : r + 32, c : c + 32], sprites[index[0, k]], out=expect[r : r + 32, c : c + 32])
    np.testing.assert_array_equal(frames[0, 1], expect)


def test_data_source_needs_tensorflow_to_prepare(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here")
    with pytest.raises(SourceError) as info:
        tfds_source.fetch("cifar10", tmp_path)
    message = str(info.value)
    assert "cifar10 is not prepared" in message and "pip install 'movmnist[tensorflow]'" in message


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="tensorflow-datasets has no dataset 'no_such_set'"):
        tfds_source.fetch("no_such_set", tmp_path)
    with pytest.raises(SourceError, match="the mirror must be an http"):
        tfds_source.fetch("mnist", tmp_path, mirror="file:///data/mnist/")
    with pytest.raises(SourceError, match="mirror works for mnist, fashion_mnist, kmnist only"):
        tfds_source.fetch("cifar10", tmp_path, mirror="http://127.0.0.1:9/")


def test_quick_commands_do_not_import_tensorflow_datasets(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys; from movmnist.cli import cli; from click.testing import CliRunner;"
        f"r = CliRunner().invoke(cli, ['sources', '--set', 'source.data_dir={tmp_path}']);"
        "assert r.exit_code == 0, r.output;"
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0;"
        "print(sorted(m for m in sys.modules if m.startswith('tensorflow')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_unwritable_data_dir_is_named(tmp_path: Path, mirror: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, _, checksums = mirror
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SourceError, match=re.escape("; set source.data_dir to a writable folder")):
        tfds_source.fetch("mnist", blocker / "tfds", mirror=server.url, checksums=checksums)

    # Downloads succeed but the cache cannot be put in place (simulated: root ignores
    # permission bits): the error names the cache, and no temporary folder is left behind.
    def deny(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    data_dir = tmp_path / "tfds"
    directory = tfds_source.cache_path("mnist", data_dir)
    tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)
    shutil.rmtree(directory)  # TFDS keeps the downloads: the next fetch only decodes and caches
    monkeypatch.setattr(tfds_cache.os, "replace", deny)
    with pytest.raises(SourceError, match=re.escape(f"cannot write the cache {directory} (Permission denied)")):
        tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)
    assert not directory.exists() and not list(directory.parent.glob(".*"))


def test_fetch_force_replaces_the_cache_and_a_finished_cache_is_kept(tmp_path: Path, mirror: Any) -> None:
    server, _, checksums = mirror
    data_dir = tmp_path / "tfds"
    tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)
    directory = tfds_source.cache_path("mnist", data_dir)
    (directory / "marker").write_text("old")
    assert tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums)  # cached: untouched
    assert (directory / "marker").exists()
    tfds_source.fetch("mnist", data_dir, mirror=server.url, checksums=checksums, force=True)
    assert not (directory / "marker").exists() and tfds_source.read_cache(directory) is not None
    assert not list(directory.parent.glob(".*tmp*"))


def test_without_tensorflow_datasets_a_download_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import raises ImportError
    result = CliRunner().invoke(cli, ["fetch", "mnist", "--data-dir", str(tmp_path / "tfds")])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1
    assert "downloading it needs tensorflow-datasets: pip install 'movmnist[tfds]'" in message
