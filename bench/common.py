"""Shared by the bench_*.py scripts: where real MNIST is, alternating timed sides, and one results file for all."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.json")


def mnist_dir() -> Path | None:
    """The real MNIST IDX folder from $MOVMNIST_MNIST_DIR, or None (then benches use synthetic digits)."""
    value = os.environ.get("MOVMNIST_MNIST_DIR")
    if value and Path(value).is_dir() and any(Path(value).glob("train-images*")):
        return Path(value)
    return None


def default_config(**sections: dict[str, Any]) -> Any:
    """The default Config on the real MNIST files where $MOVMNIST_MNIST_DIR names them (else the
    synthetic digits), with each section's fields replaced: default_config(motion={"preset": "elastic"})."""
    from movmnist.config import Config

    data = Config().to_data()
    where = mnist_dir()
    data["source"] = {"kind": "idx", "path": str(where)} if where else {"kind": "synthetic"}
    for section, fields in sections.items():
        data[section].update(fields)
    return Config.from_data(data)


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


def best_of(sides: dict[str, Callable[[], float]], repeats: int = 3) -> dict[str, float]:
    """Alternate the sides `repeats` times; each returns a rate (higher is better); keep each one's best."""
    best = dict.fromkeys(sides, 0.0)
    for _ in range(repeats):
        for name, run in sides.items():
            best[name] = max(best[name], run())
    return best


def rate(count: int, body: Callable[[], object]) -> float:
    """count / the seconds `body()` takes."""
    started = time.perf_counter()
    body()
    return count / (time.perf_counter() - started)


def build_demo_test(out: Path, sequences: int) -> None:
    """Build configs/demo.yaml (the package's MNIST sample, no download) with `sequences` test sequences only."""
    subprocess.run(
        [
            sys.executable, "-c", "from movmnist.cli import main; main()",
            "build", "configs/demo.yaml", "-o", str(out), "-q",
            "--set", f"splits.test.sequences={sequences}",
            "--set", "splits.train.sequences=0", "--set", "splits.val.sequences=0",
        ],
        check=True,
    )  # fmt: skip


GENERATION_CHUNK, GENERATION_CHUNKS = 256, 8  # build.chunk_size's default; 2,048 sequences a timing


def generation_rate(cfg: Any) -> float:
    """Sequences/s of `generate` on one core, no files: chunks of 256 test sequences, after one
    warm-up chunk (the pool, the ink windows)."""
    import numpy as np

    from movmnist.core.generate import generate
    from movmnist.sources.pools import pool_for

    pool = pool_for(cfg, "test")
    generate(cfg, pool, "test", np.arange(GENERATION_CHUNK))
    total = GENERATION_CHUNK * GENERATION_CHUNKS

    def chunks() -> None:
        for i in range(0, total, GENERATION_CHUNK):
            generate(cfg, pool, "test", np.arange(i, i + GENERATION_CHUNK))

    return rate(total, chunks)
