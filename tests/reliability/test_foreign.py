"""A dataset from elsewhere: `verify --regenerate` never acts on its manifest's paths or URLs.

The manifest's source.path, data_dir and mirror were chosen on another machine (or by an
attacker): regenerating reads the digits only where --source-path says, never creates a
folder, never downloads; without the flag it stops with one line naming it.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.sources.sample import SAMPLE_DIR
from tests.datasets import tiny
from tests.reliability.conftest import Case

SETS = ["source.kind=idx", f"source.path={SAMPLE_DIR}", "splits.train.pool=train[:800]"]
SETS += ["splits.val.pool=train[800:]", "splits.test.pool=test"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny(tmp_path_factory.mktemp("foreign") / "d", *SETS)


def _foreign(built: Path, into: Path, **source: object) -> Path:
    copy = into / "foreign"
    shutil.copytree(built, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["source"].update(source)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def _listening() -> tuple[socket.socket, str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    return server, f"http://127.0.0.1:{server.getsockname()[1]}/"


def _contacted(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize(
    "source",
    [
        {"kind": "tfds", "data_dir": "made-by-the-manifest"},
        {"kind": "tfds", "data_dir": None},
        {"kind": "idx", "path": "made-by-the-manifest"},
        {"kind": "npz", "path": "made-by-the-manifest/x.npz"},
    ],
    ids=["tfds data_dir and mirror", "tfds default data dir and mirror", "idx path", "npz path"],
)
def test_regenerate_never_follows_a_foreign_manifest(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case, source: dict[str, object]
) -> None:
    server, url = _listening()
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds-home"))
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.chdir(run)
    copy = _foreign(built, tmp_path, mirror=url if source["kind"] == "tfds" else None, **source)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = CliRunner().invoke(cli, ["verify", str(copy), "--regenerate", "3"])
    contacted = _contacted(server)
    server.close()
    lines = result.output.strip().splitlines()
    outside = contacted or list(run.iterdir()) != [] or sorted(p.name for p in tmp_path.iterdir()) != before
    ok = result.exit_code == 2 and len(lines) == 1 and "--source-path" in lines[0]
    case(
        "manifests", ok, traceback=result.exc_info is not None and result.exc_info[0] is not SystemExit, outside=outside
    )
    assert ok and not outside, result.output


def test_regenerate_reads_the_source_the_user_names(built: Path, tmp_path: Path, case: Case) -> None:
    copy = _foreign(built, tmp_path, path="made-by-the-manifest")
    result = CliRunner().invoke(cli, ["verify", str(copy), "--regenerate", "3", "--source-path", str(SAMPLE_DIR)])
    ok = result.exit_code == 0 and "regenerated 3 sequences from the config: 3 identical" in result.output
    case("manifests", ok)
    assert ok, result.output
