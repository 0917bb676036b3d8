"""render.colour's cost: in-process generation of the default config against the same with
`render.colour` (the default palette, label_correlation 0.9), for combine max and over.

One core, no files: `generate` on chunks of 256 sequences (build.chunk_size's default), the
default annotations, 64x64, 2 digits, 20 frames, real MNIST from $MOVMNIST_MNIST_DIR (else the
synthetic digits). Sides alternate, each keeps its best (the machine is shared): read the
ratios. `python bench/bench_colour.py`.
"""

from __future__ import annotations

from common import best_of, default_config, generation_rate, machine, mnist_dir, record

from movmnist.config import Config

COLOUR = {"label_correlation": 0.9}


def config(combine: str, colour: dict[str, float] | None) -> Config:
    return default_config(render={"combine": combine, "colour": colour})


SIDES = {
    "max, grey (default)": config("max", None),
    "max, render.colour": config("max", COLOUR),
    "over, grey": config("over", None),
    "over, render.colour": config("over", COLOUR),
}


def main() -> None:
    best = best_of({name: (lambda c=cfg: generation_rate(c)) for name, cfg in SIDES.items()})
    print(f"{'MNIST' if mnist_dir() else 'synthetic digits'}, load {machine()['load_average']}")
    for name, seqs in best.items():
        grey = best["max, grey (default)" if name.startswith("max") else "over, grey"]
        print(f"{name:24s} {seqs:8,.0f} seq/s  {seqs / grey:.2f}x")
    record("colour", {"sequences_per_second": best})


if __name__ == "__main__":
    main()
