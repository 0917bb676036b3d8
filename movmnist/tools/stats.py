"""Dataset statistics, computed by streaming over the shards with bounded memory.

`compute_stats(dataset)` reads each split one chunk of sequences at a time and folds it
into a `SplitStats` accumulator (sums, counts and fixed-bin histograms, plus a bounded
sample of frames for the PCA view), so memory is one chunk plus a few images whatever
the dataset's size. The numpy core (`SplitStats.add`) does no I/O.
One module: streaming (`split_stats`, `compute_stats`) and `format_text` are 45 lines around `SplitStats`.

What is measured (per split):
- labels: how many digits of each class;
- digit-centre heat map: [H, W] counts of each digit's box centre, per frame;
- speed: per digit and step, the distance in pixels between consecutive top-left positions;
- mean frame and frame-difference images: per-pixel mean of the frames, and mean and
  std of |frame[t+1] - frame[t]| (where the movement is);
- overlap rate: the fraction of frames in which two digits' boxes intersect;
- wall rate: the fraction of digit-frames in which a digit's sprite square touches the
  canvas edge (the square is what the motion rules bounce, so this counts contacts);
- PCA: the frames of a sample projected on their first two principal components
  (numpy SVD), with the first digit's label for colour.

"Boxes" are the digits' ink boxes when the shards store them (`amodal_boxes`), else
their sprite squares (`Split.digit_boxes`); sprite squares of large digits overlap
whenever the ink does not, so the ink boxes measure overlap better. `boxes` in the
summary says which were used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from movmnist.read.dataset import Dataset, Split

SPEED_BIN = 0.5  # pixels per frame, the width of a speed-histogram bin
PCA_SAMPLES = 1000  # frames kept for the PCA view (one per sequence, the first ones)
PCA_SIDE = 64  # frames are subsampled to at most this many pixels a side for PCA


@dataclass
class SplitStats:
    """Running sums for one split; `add` folds in a chunk, `to_data` summarises."""

    height: int
    width: int
    channels: int
    classes: int = 10
    boxes: str = "sprite"  # which boxes overlap and the heat map use: "ink" or "sprite" (see the module docstring)
    annotated: bool = True  # False for frames alone (the published mnist_test_seq.npy): no labels, speeds, boxes
    sequences: int = 0
    frames: int = 0
    labels: np.ndarray = field(default_factory=lambda: np.zeros(10, np.int64))
    heat: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    speed_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    speed_sum: float = 0.0
    speed_sq: float = 0.0
    speed_steps: int = 0
    speed_max: float = 0.0
    frame_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diff_sum: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diff_sq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diffs: int = 0
    overlap_frames: int = 0
    wall_hits: int = 0
    digit_frames: int = 0
    pca_frames: list[np.ndarray] = field(default_factory=list)
    pca_labels: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        pixel = (self.height, self.width, *((self.channels,) if self.channels > 1 else ()))
        self.heat = np.zeros((self.height, self.width), np.int64)
        self.speed_counts = np.zeros(int(np.hypot(self.height, self.width) / SPEED_BIN) + 2, np.int64)
        self.frame_sum = np.zeros(pixel)
        self.diff_sum = np.zeros(pixel)
        self.diff_sq = np.zeros(pixel)

    @property
    def speed_edges(self) -> np.ndarray:
        return np.arange(len(self.speed_counts) + 1) * SPEED_BIN

    def add(
        self,
        frames: np.ndarray,
        labels: np.ndarray,
        positions: np.ndarray,
        squares: np.ndarray,
        boxes: np.ndarray | None = None,
    ) -> None:
        """Fold in a chunk of n sequences.

        frames [n, T, H, W(, C)] uint8; labels [n, K] (-1 absent); positions [n, T, K, 2]
        top-left (row, col), -1 absent; squares [n, T, K, 4] the sprite squares and boxes
        the digit boxes for overlap and heat map (default: the squares), both (x0, y0,
        x1, y1) clipped to the canvas, -1 where the digit is absent or off the canvas.
        """
        n, t = frames.shape[:2]
        self.sequences += n
        self.frames += n * t
        present_labels = labels[labels >= 0].astype(np.int64)
        if len(present_labels) and present_labels.max() >= len(self.labels):
            self.labels = np.pad(self.labels, (0, int(present_labels.max()) + 1 - len(self.labels)))
        self.labels += np.bincount(present_labels, minlength=len(self.labels))

        boxes = squares if boxes is None else boxes
        shown = boxes[..., 0] >= 0  # [n, T, K]
        left, top, right, bottom = (boxes[..., i] for i in range(4))
        np.add.at(self.heat, (((top + bottom - 1) // 2)[shown], ((left + right - 1) // 2)[shown]), 1)
        self.overlap_frames += int(_overlapping(boxes, shown).sum())

        present = squares[..., 0] >= 0  # [n, T, K]
        left, top, right, bottom = (squares[..., i] for i in range(4))
        self.digit_frames += int(present.sum())
        touch = (top == 0) | (left == 0) | (bottom == self.height) | (right == self.width)
        self.wall_hits += int((touch & present).sum())

        moved = present[:, 1:] & present[:, :-1]
        step = np.diff(positions.astype(np.float64), axis=1)  # [n, T-1, K, 2]
        speed = np.hypot(step[..., 0], step[..., 1])[moved]
        if len(speed):
            bins = np.minimum((speed / SPEED_BIN).astype(np.int64), len(self.speed_counts) - 1)
            self.speed_counts += np.bincount(bins, minlength=len(self.speed_counts))
            self.speed_sum += float(speed.sum())
            self.speed_sq += float((speed**2).sum())
            self.speed_steps += len(speed)
            self.speed_max = max(self.speed_max, float(speed.max()))

        self.frame_sum += frames.sum(axis=(0, 1), dtype=np.float64)
        # One pair of frames at a time, in integers: a whole chunk of float differences is 16x its frames.
        prev = frames[:, 0].astype(np.int32)
        for frame in range(1, t):
            cur = frames[:, frame].astype(np.int32)
            diff = np.abs(cur - prev)
            self.diff_sum += diff.sum(axis=0, dtype=np.int64)
            self.diff_sq += (diff * diff).sum(axis=0, dtype=np.int64)
            prev = cur
        self.diffs += n * (t - 1)

        kept = sum(len(f) for f in self.pca_frames)
        take = min(n, PCA_SAMPLES - kept)
        if take > 0:
            first = self.sequences - n
            which = (first + np.arange(take)) % t  # a different frame of each sequence
            chosen = frames[np.arange(take), which]
            self.pca_frames.append(_pca_pixels(chosen))
            self.pca_labels.append(labels[:take, 0].astype(np.int64))

    def merge(self, other: SplitStats) -> SplitStats:
        """The sums of two accumulators of the same canvas (for views over several splits)."""
        out = SplitStats(self.height, self.width, self.channels)
        out.boxes = self.boxes if self.boxes == other.boxes else "mixed"
        out.annotated = self.annotated and other.annotated
        size = max(len(self.labels), len(other.labels))
        out.labels = np.pad(self.labels, (0, size - len(self.labels))) + np.pad(
            other.labels, (0, size - len(other.labels))
        )
        for name in (
            "sequences", "frames", "heat", "speed_counts", "speed_sum", "speed_sq", "speed_steps",
            "frame_sum", "diff_sum", "diff_sq", "diffs", "overlap_frames", "wall_hits", "digit_frames",
        ):  # fmt: skip
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.speed_max = max(self.speed_max, other.speed_max)
        frames, labels = self.pca_frames + other.pca_frames, self.pca_labels + other.pca_labels
        out.pca_frames, out.pca_labels = _cap(frames), _cap(labels)
        return out

    # --- results -------------------------------------------------------------------

    def mean_frame(self) -> np.ndarray:
        """[H, W(, C)] float64: the per-pixel mean."""
        return self.frame_sum / max(self.frames, 1)

    def diff_images(self) -> tuple[np.ndarray, np.ndarray]:
        """([H, W(, C)], [H, W(, C)]) float64: per-pixel mean and std of |frame[t+1] - frame[t]|."""
        mean = self.diff_sum / max(self.diffs, 1)
        return mean, np.sqrt(np.maximum(self.diff_sq / max(self.diffs, 1) - mean**2, 0))

    def pca(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(points [m, 2], labels [m], explained variance ratio [2]) of the frame sample.

        The SVD of the centred sample X [m, d] through its Gram matrix X X^T [m, m]
        (m <= PCA_SAMPLES is far below d): its eigenvectors scaled by the singular values
        are the projections on the principal components.
        """
        if not self.pca_frames:
            return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(2)
        x = np.concatenate(self.pca_frames).astype(np.float64)
        x -= x.mean(axis=0)
        values, vectors = np.linalg.eigh(x @ x.T)  # ascending
        values = np.maximum(values[::-1], 0.0)
        vectors = vectors[:, ::-1]
        k = min(2, len(values))
        points = np.zeros((len(x), 2))
        points[:, :k] = vectors[:, :k] * np.sqrt(values[:k])
        total = float(values.sum())
        ratio = np.zeros(2)
        ratio[:k] = values[:k] / total if total > 0 else 0.0
        return points, np.concatenate(self.pca_labels), ratio

    def to_data(self) -> dict[str, Any]:
        """JSON-able summary (the images are in the plot, and here as arrays)."""
        steps = max(self.speed_steps, 1)
        mean_speed = self.speed_sum / steps
        diff_mean, diff_std = self.diff_images()
        last = int(np.flatnonzero(self.speed_counts).max()) + 1 if self.speed_counts.any() else 0
        _, _, ratio = self.pca()
        data = {
            "sequences": self.sequences,
            "frames": self.frames,
            "label_histogram": self.labels.tolist(),
            "speed": {
                "mean": round(mean_speed, 4),
                "std": round(float(np.sqrt(max(self.speed_sq / steps - mean_speed**2, 0.0))), 4),
                "max": round(self.speed_max, 4),
                "steps": self.speed_steps,
                "bin_width": SPEED_BIN,
                "histogram": self.speed_counts[:last].tolist(),
            },
            "boxes": self.boxes,
            "overlap_rate": round(self.overlap_frames / max(self.frames, 1), 6),
            "wall_rate": round(self.wall_hits / max(self.digit_frames, 1), 6),
            "pixel_mean": round(float(self.mean_frame().mean()), 4),
            "frame_diff_mean": round(float(diff_mean.mean()), 4),
            "frame_diff_std": round(float(diff_std.mean()), 4),
            "heat_peak": [int(v) for v in np.unravel_index(int(self.heat.argmax()), self.heat.shape)],
            "pca_samples": int(sum(len(f) for f in self.pca_frames)),
            "pca_explained": [round(float(r), 4) for r in ratio],
        }
        if not self.annotated:  # frames alone: what needs labels or positions is unknown, not zero
            data.update(dict.fromkeys(("label_histogram", "speed", "boxes", "overlap_rate", "wall_rate", "heat_peak")))
        return data


def _overlapping(boxes: np.ndarray, present: np.ndarray) -> np.ndarray:
    """[n, T] bool: some two present digits' boxes intersect in that frame."""
    k = boxes.shape[2]
    out = np.zeros(boxes.shape[:2], bool)
    for a in range(k):
        for b in range(a + 1, k):
            p, q = boxes[:, :, a], boxes[:, :, b]
            meet = (p[..., 0] < q[..., 2]) & (q[..., 0] < p[..., 2]) & (p[..., 1] < q[..., 3]) & (q[..., 1] < p[..., 3])
            out |= meet & present[:, :, a] & present[:, :, b]
    return out


def _pca_pixels(frames: np.ndarray) -> np.ndarray:
    """[m, H, W(, C)] uint8 -> [m, d] float32: grey, subsampled to at most PCA_SIDE a side."""
    grey = frames.mean(axis=-1) if frames.ndim == 4 else frames
    step = max(1, -(-max(grey.shape[1:]) // PCA_SIDE))
    return grey[:, ::step, ::step].reshape(len(grey), -1).astype(np.float32)


def _cap(parts: list[np.ndarray]) -> list[np.ndarray]:
    out, kept = [], 0
    for part in parts:
        if kept >= PCA_SAMPLES:
            break
        out.append(part[: PCA_SAMPLES - kept])
        kept += len(out[-1])
    return out


def split_stats(
    part: Split, limit: int | None = None, chunk: int = 256, progress: Callable[[int], None] | None = None
) -> SplitStats:
    """Stream over the first `limit` sequences (all by default) of one split; `progress` is
    called with the number of sequences of each chunk done."""
    n = len(part) if limit is None else min(limit, len(part))
    shape = part.shape
    acc = SplitStats(shape[2], shape[3], shape[4] if len(shape) > 4 else 1)
    acc.boxes = "ink" if "amodal_boxes" in part.annotation_names else "sprite"
    for start in range(0, n, chunk):
        key = slice(start, min(start + chunk, n))
        acc.add(
            part[key],
            part.read("labels", key),
            part.read("positions", key),
            part.sprite_boxes(key),
            part.digit_boxes(key),
        )
        if progress is not None:
            progress(key.stop - key.start)
    return acc


def compute_stats(
    dataset: Dataset,
    split: str | None = None,
    limit: int | None = None,
    chunk: int = 256,
    progress: Callable[[int], None] | None = None,
) -> dict[str, SplitStats]:
    """Statistics of `split` (all splits by default), over the first `limit` sequences of each;
    `progress` is called with the sequences of each chunk done (`stats_total` of them in all)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 (got {limit})")
    names = [split] if split is not None else list(dataset)
    return {name: split_stats(dataset[name], limit, chunk, progress) for name in names}


def stats_total(dataset: Dataset, split: str | None = None, limit: int | None = None) -> int:
    """The sequences `compute_stats` reads with these arguments."""
    names = [split] if split is not None else list(dataset)
    return sum(len(dataset[name]) if limit is None else min(limit, len(dataset[name])) for name in names)


def format_text(stats: dict[str, SplitStats]) -> str:
    """The lines `movmnist stats` prints: one block per split."""
    lines = []
    for name, s in stats.items():
        d = s.to_data()
        sp = d["speed"]
        lines.append(f"{name}: {d['sequences']} sequences, {d['frames']} frames")
        if sp is None:
            lines.append("  labels, speed, overlap, wall rate: not in the file (frames only)")
        else:
            lines += [
                f"  labels:        {' '.join(f'{i}:{c}' for i, c in enumerate(d['label_histogram']))}",
                f"  speed:         mean {sp['mean']:.2f} px/frame (std {sp['std']:.2f}, max {sp['max']:.2f})",
                f"  overlap rate:  {d['overlap_rate']:.3f} of frames have two digits' {d['boxes']} boxes intersecting",
                f"  wall rate:     {d['wall_rate']:.3f} of digit-frames touch the canvas edge",
            ]
        lines += [
            f"  pixels:        mean {d['pixel_mean']:.2f}; |frame difference| mean {d['frame_diff_mean']:.2f}",
            f"  PCA:           {d['pca_samples']} frames, explained {d['pca_explained'][0]:.3f}, "
            f"{d['pca_explained'][1]:.3f}",
        ]
    return "\n".join(lines)
