"""`movmnist stats --plot`: the statistics as one PNG figure of titled, labelled panels.

The only owner of matplotlib, imported here lazily with the headless Agg backend, so
that other commands never pay for it.
"""

from __future__ import annotations

import io
from functools import reduce
from typing import Any

import numpy as np

from movmnist.tools.stats import SplitStats


def _grey(image: np.ndarray) -> np.ndarray:
    return image.mean(axis=-1) if image.ndim == 3 else image


def plot_stats(stats: dict[str, SplitStats], title: str = "") -> bytes:
    """A PNG of the statistics of one or more splits (the image panels pool the splits)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = list(stats)
    pooled = reduce(lambda a, b: a.merge(b), stats.values())
    which = names[0] if len(names) == 1 else " + ".join(names)
    fig, axes = plt.subplots(3, 3, figsize=(15, 13.5), layout="constrained")
    fig.suptitle(title or "movmnist stats", fontsize=14)

    ax = axes[0, 0]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        counts = stats[name].labels
        ax.bar(np.arange(len(counts)) + i * width - 0.4 + width / 2, counts, width, label=name)
    ax.set(title="Digit labels per split", xlabel="label", ylabel="digits")
    ax.set_xticks(np.arange(len(pooled.labels)))
    ax.legend()

    _image(fig, axes[0, 1], pooled.heat, f"Digit-centre positions ({which})", "digit-frames")

    ax = axes[0, 2]
    edges = pooled.speed_edges
    last = int(np.flatnonzero(pooled.speed_counts).max()) + 2 if pooled.speed_counts.any() else 2
    ax.bar(edges[:last], pooled.speed_counts[:last], width=edges[1] - edges[0], align="edge")
    ax.set(title=f"Speed ({which})", xlabel="pixels per frame", ylabel="digit-steps")

    mean = pooled.mean_frame()
    _image(fig, axes[1, 0], mean, f"Per-pixel mean frame ({which})", "mean intensity", rgb=mean.ndim == 3)
    diff_mean, diff_std = pooled.diff_images()
    _image(fig, axes[1, 1], _grey(diff_mean), "Mean |frame t+1 - frame t|", "intensity")
    _image(fig, axes[1, 2], _grey(diff_std), "Std of |frame t+1 - frame t|", "intensity")

    ax = axes[2, 0]
    points, labels, ratio = pooled.pca()
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=6)
    fig.colorbar(scatter, ax=ax, ticks=range(10), label="first digit's label")
    ax.set(
        title=f"Frames on 2 principal components ({len(points)} frames)",
        xlabel=f"PC 1 ({ratio[0]:.1%} of variance)",
        ylabel=f"PC 2 ({ratio[1]:.1%} of variance)",
    )

    ax = axes[2, 1]
    data = [s.to_data() for s in stats.values()]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [d["overlap_rate"] for d in data], 0.4, label="frames with overlapping digits")
    ax.bar(x + 0.2, [d["wall_rate"] for d in data], 0.4, label="digit-frames touching a wall")
    ax.set_xticks(x, names)
    ax.set(title="Overlap and wall contact", xlabel="split", ylabel="fraction", ylim=(0, 1))
    ax.legend()

    ax = axes[2, 2]
    ax.axis("off")
    ax.set_title("Counts")
    text = "\n".join(
        f"{name}: {d['sequences']} sequences, {d['frames']} frames, speed {d['speed']['mean']:.2f} px/frame"
        for name, d in zip(names, data, strict=True)
    )
    ax.text(0, 1, text, va="top", family="monospace", fontsize=9)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _image(fig: Any, ax: Any, image: np.ndarray, title: str, label: str, rgb: bool = False) -> None:
    if rgb:
        ax.imshow(np.clip(image / 255.0, 0, 1))
    else:
        fig.colorbar(ax.imshow(image, cmap="magma"), ax=ax, label=label)
    ax.set(title=title, xlabel="column (px)", ylabel="row (px)")
