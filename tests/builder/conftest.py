"""The packs at their small sizes, built once for test_packs and test_ood."""

from __future__ import annotations

from typing import Any

import pytest

from movmnist.builder.pack import make_pack
from movmnist.config.packs import CATALOGUE


@pytest.fixture(scope="session")
def small_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every pack at its small size (synthetic digits), one worker: name -> its manifest, with "dir" its folder."""
    out = tmp_path_factory.mktemp("packs")
    return {p.name: make_pack(p.name, out, p.small, workers=1) | {"dir": out / p.name} for p in CATALOGUE}
