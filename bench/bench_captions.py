"""The captions' cost: in-process generation of the default config with and without
`annotations.captions: true` (srivastava, and elastic with its collisions).

One core, no files: `generate` on chunks of 256 sequences (build.chunk_size's default), the
default annotations, 64x64, 2 digits, 20 frames, real MNIST from $MOVMNIST_MNIST_DIR (else the
synthetic digits). Sides alternate, each keeps its best (the machine is shared): read the
ratios. `python bench/bench_captions.py`.
"""

from __future__ import annotations

from common import best_of, default_config, generation_rate, machine, mnist_dir, record

from movmnist.config import Config


def config(preset: str, captions: bool) -> Config:
    return default_config(motion={"preset": preset}, annotations={"captions": captions})


SIDES = {
    f"{preset}{', captions' if on else ''}": config(preset, on)
    for preset in ("srivastava", "elastic")
    for on in (False, True)
}


def main() -> None:
    best = best_of({name: (lambda c=cfg: generation_rate(c)) for name, cfg in SIDES.items()})
    print(f"{'MNIST' if mnist_dir() else 'synthetic digits'}, load {machine()['load_average']}")
    for name, seqs in best.items():
        base = best[name.removesuffix(", captions")]
        print(f"{name:30s} {seqs:8,.0f} seq/s  {seqs / base:.2f}x  {1e6 / seqs - 1e6 / base:+6.1f} us/seq")
    record("captions", {"sequences_per_second": best})


if __name__ == "__main__":
    main()
