"""The elastic preset's cost: in-process generation of the default config against the same with
`motion.preset: elastic` (patch boxes, equal masses) and with ink boxes and ink masses.

One core, no files: `generate` on chunks of 256 sequences (build.chunk_size's default), the
default annotations, 64x64, 2 digits, 20 frames, real MNIST from $MOVMNIST_MNIST_DIR (else the
synthetic digits). Sides alternate, each keeps its best (the machine is shared): read the
ratios. `python bench/bench_elastic.py [--digits K]`.
"""

from __future__ import annotations

import sys

from common import best_of, generation_rate, machine, mnist_dir, record

from movmnist.config import Config

DIGITS = int(sys.argv[sys.argv.index("--digits") + 1]) if "--digits" in sys.argv else 2


def config(*motion: tuple[str, str, str]) -> Config:
    data = Config().to_data()
    where = mnist_dir()
    data["source"] = {"kind": "idx", "path": str(where)} if where else {"kind": "synthetic"}
    data["digits"]["count"] = DIGITS
    for section, key, value in motion:
        data[section][key] = value
    return Config.from_data(data)


SIDES = {
    "srivastava (default)": config(),
    "elastic, patch boxes, equal masses": config(("motion", "preset", "elastic")),
    "elastic, ink boxes, ink masses": config(
        ("motion", "preset", "elastic"), ("render", "bounce_on", "ink"), ("motion", "mass", "ink")
    ),
}


def main() -> None:
    best = best_of({name: (lambda c=cfg: generation_rate(c)) for name, cfg in SIDES.items()})
    base = best["srivastava (default)"]
    print(f"{DIGITS} digits, {'MNIST' if mnist_dir() else 'synthetic digits'}, load {machine()['load_average']}")
    for name, seqs in best.items():
        print(f"{name:40s} {seqs:8,.0f} seq/s  {seqs / base:.2f}x")
    record(f"elastic_{DIGITS}", {"sequences_per_second": best})


if __name__ == "__main__":
    main()
