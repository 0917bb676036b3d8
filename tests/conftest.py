"""Shared fixtures: small configs on synthetic digits, and the real MNIST when present."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from movmnist.config import Config
from movmnist.config.load import apply_overrides

# CI (which sets CI=true) runs the same examples every time, so that a submission's result
# is repeatable; a developer's runs keep drawing fresh ones.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

SMALL = {
    "canvas": {"height": 40, "width": 40},
    "sequence": {"length": 6},
    "digits": {"count": 2, "size": 14},
    "source": {"kind": "synthetic", "path": None},
    "splits": {
        "train": {"sequences": 24, "pool": "train[:1000]"},
        "val": {"sequences": 8, "pool": "train[1000:1200]"},
        "test": {"sequences": 16, "pool": "test[:500]"},
    },
    "output": {"shard_size": 10},
    "build": {"chunk_size": 4},
    "annotations": {"masks": True},  # every annotation, so tests cover them all
}


def small_config(*overrides: str, base: dict[str, Any] | None = None) -> Config:
    """A tiny, fast config on synthetic digits, with `dotted.key=value` overrides."""
    return Config.from_data(apply_overrides(base or SMALL, overrides))


@pytest.fixture
def small() -> Config:
    return small_config()


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST IDX files, from $MOVMNIST_MNIST_DIR (the Makefile points it at ../shared/data/mnist)."""
    value = os.environ.get("MOVMNIST_MNIST_DIR")
    if not value:
        pytest.skip("MOVMNIST_MNIST_DIR is not set: no real MNIST to test against")
    path = Path(value)
    if not (path / "train-images-idx3-ubyte.gz").exists() and not (path / "train-images-idx3-ubyte").exists():
        pytest.skip(f"MOVMNIST_MNIST_DIR={value} holds no MNIST IDX files")
    return path


def refused_in_one_line(args: list[str], sets: tuple[str, ...] | list[str] = ()) -> str:
    """Run `movmnist ARGS --set S ...` (on the synthetic digits), check that it is refused with
    exit 2 in one line and no traceback, and return that line."""
    from movmnist.cli import cli

    argv = [*args, *(a for s in (*sets, "source.kind=synthetic") for a in ("--set", s))]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]
