"""Config: defaults, overrides, round trips, and one-line errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from movmnist.cli import cli
from movmnist.config import Config
from movmnist.config.load import load_config, to_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_default_yaml_is_the_built_in_default() -> None:
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


def test_standard_moving_mnist_defaults() -> None:
    c = Config()
    assert (c.canvas.height, c.canvas.width, c.sequence.length) == (64, 64, 20)
    assert c.digits.count == (2, 2) and c.digits.size is None  # the source's size: MNIST's 28
    assert c.motion.preset == "srivastava" and c.motion.speed == (0.1, 0.1)
    assert c.render.combine == "max"
    assert (c.source.kind, c.source.name, c.source.data_dir, c.source.mirror) == ("tfds", "mnist", None, None)
    # MNIST has no validation split: val is its last 10,000 train images (train[50000:]).
    assert str(c.splits.train.pool) == "train[:-10000]"
    assert str(c.splits.val.pool) == "train[-10000:]"
    assert str(c.splits.test.pool) == "test"
    assert c.splits.train.pool.bounds(60000) == (0, 50000) and c.splits.val.pool.bounds(60000) == (50000, 60000)


def test_overrides_are_yaml_typed_and_round_trip() -> None:
    c = load_config(None, ["sequence.length=30", "digits.count=[1, 3]", "motion.speed=0.2", "splits.val.sequences=0"])
    assert c.sequence.length == 30 and c.digits.count == (1, 3) and c.motion.speed == (0.2, 0.2)
    assert Config.from_data(yaml.safe_load(to_yaml(c))) == c


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sequence.length=0", "sequence.length must be >= 2 (got 0)"),
        ("digits.cont=3", "digits.cont is not a known field; did you mean digits.count?"),
        ("canvas.height=abc", "canvas.height must be an integer (got 'abc')"),
        ("canvas.width=1.5", "canvas.width must be an integer (got 1.5)"),
        ("motion.preset=warp", "motion.preset must be 'srivastava'"),
        ("motion.speed=[0.3, 0.1]", "motion.speed must have min <= max (got [0.3, 0.1])"),
        ("motion.speed=0", "motion.speed must be within [0, 1] with max > 0 (got [0.0, 0.0])"),
        ("digits.count=0", "digits.count must be within [1, 64] (got [0, 0])"),
        ("digits.size=80", "digits.size must fit the canvas (64x64) (got 80)"),
        (
            "splits.test.pool=train[40000:]",
            "splits.test.pool (train[40000:]) shares source images with splits.train.pool",
        ),
        ("splits.test.pool=test[a:b]", "splits.test.pool must look like 'train', 'train[:50000]'"),
        ("source.kind=idx", "source.path is required for kind 'idx'; set source.path=DIR"),
        ("source.path=null", None),
        ("source.name=Not A Set", "source.name must be a TFDS dataset name like 'mnist'"),
        ("source.name=emnist/letters", None),
        ("source.mirror=ftp://x", "source.mirror must be an http(s):// URL base"),
        ("splits.val.pool=train[-20000:]", "splits.val.pool (train[-20000:]) shares source images with splits.train"),
        ("splits.test.pool=train[-", "splits.test.pool must look like"),
        ("output.compression=bz2", "output.compression must be 'gzip', 'lzf', 'zstd', 'lz4' or 'none' (got 'bz2')"),
        ("output.compression_level=12", "output.compression_level must be within [0, 9] for gzip (got 12)"),
        ("canvas=3", "canvas must be a mapping (got 3)"),
        ("seed=-1", "seed must be >= 0 (got -1)"),
        ("sequence.length", "--set expects dotted.key=value"),
        ("sequence.length.x=3", "sequence.length must be an integer (got {'x': 3})"),
    ],
)
def test_bad_values_exit_2_with_the_field_named(override: str, message: str | None) -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--set", override])
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "the config must be a mapping of sections (got list)"),
        ("canvas: [1, 2\n", "is not valid YAML at line"),
        ("bogus: 1\n", "bogus is not a known field"),
        ("\xff\xfe", "is not UTF-8"),
    ],
)
def test_bad_files_exit_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(text.encode("latin-1"))
    result = CliRunner().invoke(cli, ["config", "show", str(path)])
    assert result.exit_code == 2
    assert message in result.output


def test_missing_file_and_stdin(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "show", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = CliRunner().invoke(cli, ["config", "show", "-"], input="sequence: {length: 7}\n")
    assert result.exit_code == 0
    assert yaml.safe_load(result.output)["sequence"]["length"] == 7
    for empty in ("", "\n  \n"):  # nothing piped in: never the default 21,000-sequence build
        result = CliRunner().invoke(cli, ["build", "-", "-o", str(tmp_path / "out")], input=empty)
        assert result.exit_code == 2 and result.output.startswith("Error: stdin is empty; pipe a YAML config")
    assert not (tmp_path / "out").exists()


def test_config_show_prints_the_resolved_config() -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--set", "digits.count=3"])
    assert result.exit_code == 0
    data = yaml.safe_load(result.output)
    assert data["digits"]["count"] == 3 and data["canvas"] == {"height": 64, "width": 64}
    assert data["splits"]["train"]["pool"] == "train[:-10000]"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_reads_no_folder_that_nothing_creates(path: Path) -> None:
    from movmnist.config import source_kinds

    cfg = load_config(path)
    assert not source_kinds.KINDS[cfg.source.kind].needs_path, f"{path.name} reads source.path {cfg.source.path}"
