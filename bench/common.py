"""Shared by the bench_*.py scripts: where real MNIST is, and one results file for all."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def mnist_dir() -> Path | None:
    """The real MNIST IDX folder from $MOVMNIST_MNIST_DIR, or None (then benches use synthetic digits)."""
    value = os.environ.get("MOVMNIST_MNIST_DIR")
    if value and Path(value).is_dir() and any(Path(value).glob("train-images*")):
        return Path(value)
    return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }


def record(section: str, figures: dict[str, Any]) -> None:
    """Merge one script's figures into bench/results.json under `section`."""
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[section] = {"machine": machine(), **figures}
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
