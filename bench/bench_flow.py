"""annotations.flow's cost: in-process generation with and without it, for translated digits
(srivastava) and for mmnist++'s turning, scaling digits; and its bytes after gzip level 1.

One core, no files: `generate` on chunks of 256 sequences (build.chunk_size's default), the
default annotations, 64x64, 2 digits, 20 frames, real MNIST from $MOVMNIST_MNIST_DIR (else the
synthetic digits). Sides alternate, each keeps its best (the machine is shared): read the
ratios. Bytes: `flow` and `flow_valid` of 256 test sequences, each sequence compressed alone
by zlib level 1 (shards chunk them a sequence at a time, gzip level 1 by default).
`python bench/bench_flow.py`.
"""

from __future__ import annotations

import zlib

import numpy as np
from common import GENERATION_CHUNK, best_of, default_config, generation_rate, machine, mnist_dir, record

from movmnist.config import Config
from movmnist.core.generate import generate
from movmnist.sources.pools import pool_for


def config(preset: str, flow: bool) -> Config:
    return default_config(motion={"preset": preset}, annotations={"flow": flow})


SIDES = {
    f"{preset}{', flow' if on else ''}": config(preset, on)
    for preset in ("srivastava", "mmnist++")
    for on in (False, True)
}


def flow_bytes(cfg: Config) -> float:
    """Mean bytes a sequence of flow and flow_valid, each sequence deflated alone at level 1."""
    chunk = generate(cfg, pool_for(cfg, "test"), "test", np.arange(GENERATION_CHUNK))
    assert chunk.flow is not None and chunk.flow_valid is not None
    total = sum(len(zlib.compress(a[i].tobytes(), 1)) for a in (chunk.flow, chunk.flow_valid) for i in range(len(a)))
    return total / GENERATION_CHUNK


def main() -> None:
    best = best_of({name: (lambda c=cfg: generation_rate(c)) for name, cfg in SIDES.items()})
    print(f"{'MNIST' if mnist_dir() else 'synthetic digits'}, load {machine()['load_average']}")
    sizes = {}
    for name, seqs in best.items():
        base = best[name.removesuffix(", flow")]
        line = f"{name:20s} {seqs:8,.0f} seq/s  {seqs / base:.2f}x  {1e6 / seqs - 1e6 / base:+8.1f} us/seq"
        if name.endswith(", flow"):
            sizes[name] = flow_bytes(SIDES[name])
            line += f"  flow + flow_valid {sizes[name]:,.0f} bytes/seq (zlib 1)"
        print(line)
    record("flow", {"sequences_per_second": best, "flow_bytes_per_sequence": sizes})


if __name__ == "__main__":
    main()
