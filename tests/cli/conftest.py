"""Fixtures of the CLI tests: the small synthetic config as a YAML file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import SMALL


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """tests.conftest.SMALL written to tmp_path / small.yaml: 48 sequences on synthetic digits."""
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path
