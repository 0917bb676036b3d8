"""Score predictions against an evaluation pack, under OpenSTL's or PredRNN's own metric definitions.

The only home of the metrics and of reading a prediction. Frames are compared as
[N, T, C, H, W] on the [0, 1] scale (uint8 frames are divided by 255), T the predicted
frames (the pack's last T - K). Each definition is a transcription, read at the commits
named:

`openstl`: chengtan9907/OpenSTL openstl/core/metrics.py, `metric` (c74deb5), as its
`Base_method.on_test_epoch_end` calls it for Moving MNIST (mean 0, std 1, spatial_norm False):
- MSE = mean over sequences and frames of the per-frame sum over C, H, W of (pred - true)²
  (`MSE`: np.mean(..., axis=(0, 1)).sum()); MAE the same with |pred - true|. Both on the
  prediction as given (OpenSTL clips only after them).
- then pred is clipped to [0, 1];
- PSNR per frame = -10 log10(mean over C, H, W of (pred - true)²), inf when that is 0
  (`PSNR`, min_max_norm), averaged over sequences and frames;
- SSIM per frame: scikit-image's `structural_similarity(pred, true, multichannel=True)` on
  the float frames, which with the scikit-image OpenSTL pins (environment.yml:
  scikit-image<=0.19.3) takes data_range from the float dtype's range (-1, 1), i.e. 2
  (scikit-image >= 0.20 refuses float input without data_range); 7x7 uniform window,
  sample covariance, K1 0.01, K2 0.03, the mean over the window centres at least 3 px
  from the border, the mean over channels.

`predrnn`: thuml/predrnn-pytorch core/trainer.py `test` and core/utils/metrics.py
`batch_psnr` (49d3b0f):
- pred is clipped to [0, 1] first (gx = np.maximum(gx, 0), np.minimum(gx, 1));
- MSE per frame = sum over pixels of (x - gx)², averaged over sequences; the trainer also
  prints "mse per seq", the sum of the per-frame values (`mse_per_seq` here);
- both frames are turned to uint8 by truncation, np.uint8(frame * 255) in float32;
- PSNR per frame = 20 log10(255) - 10 log10(mean over pixels of the int32 difference²)
  on those uint8 frames (inf when equal); SSIM = `compare_ssim(pred_frm, real_frm,
  multichannel=True)` on them (data_range 255, the same window).
- Not transcribed: PredRNN's InputHandle drops the last batch (with batch size 8 it
  scores 2,992 of 3,000 test sequences); we score all of them.

Computed in float64 (the toolboxes compute in float32: the values agree to ~1e-5).
"""

from __future__ import annotations

import json
import math
import struct
import zipfile
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from movmnist.config.packs import PACKS
from movmnist.errors import ConfigError
from movmnist.sources.base import npy_header

MANIFEST = "pack.json"
METRICS = ("openstl", "predrnn")
WINDOW = 7  # scikit-image's default uniform window
# sequences compared at a time: SSIM's float64 windows take ~15 x CHUNK x T x H x W x 8 bytes
# (measured peak 117 MiB at 32 x 10 x 64 x 64; 481 MiB at 128)
CHUNK = 32
SCALE = (-0.5, 1.5)  # float predictions outside this are on another scale (0..255, or normalised)
SCORED = ("npy-tnhw", "predrnn-npz", "srvp-npz")  # the file kinds a prediction is scored against


class ScoreError(ConfigError):
    """A prediction that does not fit its pack (shape, dtype, range or file)."""


def read_pack(path: str | PathLike[str]) -> dict[str, Any]:
    """A built pack's manifest (pack.json in `path`); ConfigError when `path` is not a pack."""
    file = Path(path) / MANIFEST
    try:
        data = json.loads(file.read_text())
    except (FileNotFoundError, NotADirectoryError):
        raise ConfigError(f"{path} holds no {MANIFEST}; give a folder that movmnist pack wrote") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{file} is not readable JSON ({exc}); rebuild the pack") from None
    if not isinstance(data, dict) or data.get("pack") not in PACKS or not isinstance(data.get("target"), str):
        raise ConfigError(f"{file} is not a movmnist pack manifest; rebuild the pack")
    return data


# --- SSIM ------------------------------------------------------------------------------


def _window_means(x: np.ndarray) -> np.ndarray:
    """Means of every WINDOW x WINDOW window wholly inside [M, H, W] frames: [M, H - 6, W - 6]."""
    c = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    c[:, 1:, 1:] = x.cumsum(1).cumsum(2)
    w = WINDOW
    return (c[:, w:, w:] - c[:, :-w, w:] - c[:, w:, :-w] + c[:, :-w, :-w]) / (w * w)


def ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> np.ndarray:
    """scikit-image's structural_similarity (defaults) of each pair of [M, H, W] frames: [M] float64.

    uniform_filter over 7x7 windows, cropped by 3 px, is the mean of the windows wholly
    inside the frame, which is what this computes.
    """
    x, y = x.astype(np.float64), y.astype(np.float64)
    ux, uy = _window_means(x), _window_means(y)
    norm = WINDOW**2 / (WINDOW**2 - 1)  # sample covariance
    vx = norm * (_window_means(x * x) - ux * ux)
    vy = norm * (_window_means(y * y) - uy * uy)
    vxy = norm * (_window_means(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return np.asarray(s.mean(axis=(1, 2)))


def _ssim_frames(pred: np.ndarray, true: np.ndarray, data_range: float) -> np.ndarray:
    """[N, T, C, H, W] pairs -> [N, T] SSIM, the mean over channels."""
    n, t, c, h, w = pred.shape
    s = ssim(pred.reshape(-1, h, w), true.reshape(-1, h, w), data_range)
    return np.asarray(s.reshape(n, t, c).mean(axis=2))


def _psnr(mse: np.ndarray, peak: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.asarray(20 * math.log10(peak) - 10 * np.log10(mse))


# --- the two definitions: [N, T, C, H, W] in [0, 1] -> per (sequence, frame) values ------


def openstl_frames(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """OpenSTL's metrics of each (sequence, frame): mse, mae, psnr, ssim as [N, T] (see the module docstring)."""
    pred, true = pred.astype(np.float64), true.astype(np.float64)
    diff = pred - true
    out = {"mse": (diff**2).sum(axis=(2, 3, 4)), "mae": np.abs(diff).sum(axis=(2, 3, 4))}
    pred = np.clip(pred, 0, 1)
    out["psnr"] = _psnr(((pred - true) ** 2).mean(axis=(2, 3, 4)), 1.0)
    out["ssim"] = _ssim_frames(pred, true, data_range=2.0)  # scikit-image <= 0.19's float range, (-1, 1)
    return out


def predrnn_frames(pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """PredRNN's metrics of each (sequence, frame): mse, psnr, ssim as [N, T] (see the module docstring)."""
    x = true.astype(np.float32)
    gx = np.minimum(np.maximum(pred.astype(np.float32), 0), 1)
    out = {"mse": ((x.astype(np.float64) - gx) ** 2).sum(axis=(2, 3, 4))}
    real, fake = (x * 255).astype(np.uint8), (gx * 255).astype(np.uint8)  # np.uint8(...): truncation
    d = fake.astype(np.int32) - real.astype(np.int32)
    out["psnr"] = _psnr((d * d).sum(axis=(2, 3, 4)) / float(np.prod(d.shape[2:])), 255.0)
    out["ssim"] = _ssim_frames(fake, real, data_range=255.0)
    return out


DEFINITIONS: dict[str, Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]] = {
    "openstl": openstl_frames,
    "predrnn": predrnn_frames,
}


# --- arrays -----------------------------------------------------------------------------


def _unit(a: np.ndarray, name: str) -> np.ndarray:
    """Frames on the [0, 1] scale as float32 (the toolboxes' tensors): uint8 / 255; floats checked first."""
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255)
    if not np.issubdtype(a.dtype, np.floating):
        raise ScoreError(f"{name} must be uint8 (0..255) or float ([0, 1]); got dtype {a.dtype}")
    if a.size:
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ScoreError(f"{name} holds NaN or infinite values; expected floats in [0, 1]")
        if lo < SCALE[0] or hi > SCALE[1]:
            raise ScoreError(
                f"{name} values must be on the [0, 1] scale (float) or uint8; got [{lo:g}, {hi:g}]"
                + (" (divide by 255?)" if hi > 2 else "")
            )
    return a.astype(np.float32, copy=False)


def _five(a: np.ndarray) -> np.ndarray:
    return a[:, :, None] if a.ndim == 4 else a


def _score_chunks(chunks: Iterator[tuple[np.ndarray, np.ndarray]], metrics: str) -> dict[str, Any]:
    """Average each definition's per-(sequence, frame) values: per frame over sequences, and overall."""
    if metrics not in DEFINITIONS:
        raise ScoreError(f"--metrics must be one of: {', '.join(METRICS)} (got {metrics!r})")
    parts: dict[str, list[np.ndarray]] = {}
    for pred, true in chunks:
        for key, value in DEFINITIONS[metrics](pred, true).items():
            parts.setdefault(key, []).append(value)
    values = {k: np.concatenate(v) for k, v in parts.items()}
    n, t = values["mse"].shape
    result: dict[str, Any] = {"metrics": metrics, "sequences": n, "frames": t}
    with np.errstate(invalid="ignore"):
        for key, v in values.items():
            result[key] = float(v.mean())
        if metrics == "predrnn":
            result["mse_per_seq"] = float(values["mse"].sum(axis=1).mean())
        result["per_frame"] = {k: [float(x) for x in v.mean(axis=0)] for k, v in values.items()}
    return result


def score(
    pred: np.ndarray | str | PathLike[str],
    target: np.ndarray | str | PathLike[str],
    *,
    metrics: str = "openstl",
    file: str | None = None,
) -> dict[str, Any]:
    """MSE, MAE (openstl), PSNR and SSIM of `pred` against `target`, per predicted frame and averaged.

    pred, target: arrays [N, T, H, W] or [N, T, C, H, W], uint8 (0..255) or float ([0, 1]),
    the predicted frames only; or target a pack directory (`movmnist pack`) and pred a
    file (npy, npz, HDF5) in that pack's layout (see `_pack_chunks`).
    metrics: "openstl" or "predrnn", whose definitions (module docstring) are used.
    file: with a pack, which of its evaluation files to score against (`evaluation_files`);
        None: the pack's target. The result's "file" names the one scored.
    """
    if isinstance(target, str | PathLike):
        manifest = read_pack(target)
        entry = pack_file(manifest, file)
        return {"file": entry["path"]} | _score_chunks(_pack_chunks(pred, Path(target), manifest, entry), metrics)
    if file is not None:
        raise ScoreError("file names one of a pack's files; pass target=PACK_DIR")
    if isinstance(pred, str | PathLike):
        raise ScoreError("a prediction file is scored against a pack directory; pass target=PACK_DIR")
    p, t = np.asarray(pred), np.asarray(target)
    if p.shape != t.shape or p.ndim not in (4, 5):
        raise ScoreError(f"prediction shape {p.shape} must equal the target's {t.shape}, [N, T, (C,) H, W]")
    return _score_chunks(iter([(_five(_unit(p, "prediction")), _five(_unit(t, "target")))]), metrics)


# --- files ------------------------------------------------------------------------------


def npz_member(path: Path, name: str) -> np.ndarray:
    """Member `name` (without .npy) of the .npz at `path`: mapped read-only when the zip stores it
    uncompressed, else read whole.

    np.load cannot map an npz member (mmap_mode is ignored for zips), but a stored member's
    .npy bytes lie contiguous in the zip file, after the member's local header (30 bytes, its
    name and its extra field); movmnist writes PredRNN's npz stored, as np.savez does, so
    scoring reads its ~1 GB of input_raw_data chunk by chunk. A deflated member
    (np.savez_compressed, SRVP's npz) can only be decompressed front to back: it is read whole.
    """
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(f"{name}.npy")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:  # compressed or encrypted
            with z.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            raise ValueError(f"member {name}.npy has no local header where the zip's directory says")
        start = info.header_offset + 30 + sum(struct.unpack("<HH", local[26:30]))
        f.seek(start)
        shape, fortran, dtype = npy_header(f)
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"member {name}.npy holds Python objects (pickled), not numbers")
    if offset - start + math.prod(shape) * dtype.itemsize > info.file_size:
        raise ValueError(f"member {name}.npy is shorter than its header's {list(shape)} {dtype}")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def _load_array(path: Path, prefer: str | None) -> Any:
    """The prediction file's array: a .npy; an .npz's `prefer` member or its only one; an HDF5's only dataset."""
    if not path.is_file():
        raise ScoreError(f"prediction file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return np.load(path, mmap_mode="r")
        if suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                names = [m.removesuffix(".npy") for m in z.namelist()]
            name = prefer if prefer in names else names[0] if len(names) == 1 else None
            if name is None:
                raise ScoreError(f"{path} holds arrays {', '.join(names)}; keep one (or name it {prefer})")
            return npz_member(path, name)
        if suffix in (".h5", ".hdf5"):
            import h5py

            f = h5py.File(path, "r")
            found: list[str] = []
            f.visititems(lambda k, v: found.append(k) if isinstance(v, h5py.Dataset) else None)
            if len(found) != 1:
                raise ScoreError(f"{path} holds {len(found)} datasets; write the prediction as its only one")
            return f[found[0]]
    except ScoreError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ScoreError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    raise ScoreError(f"prediction {path} must be .npy, .npz or .h5/.hdf5 (got {suffix or 'no suffix'})")


def evaluation_files(manifest: dict[str, Any]) -> list[str]:
    """The files of a built pack that a prediction can be scored against: its test (and validation) files,
    not its training files nor its digit images (an ood suite's test-*.npy, predrnn-mnist's valid and test)."""
    return [e["path"] for e in manifest["files"] if e["kind"] in SCORED and e["split"] != "train"]


def pack_file(manifest: dict[str, Any], file: str | None = None) -> dict[str, Any]:
    """The manifest's entry of evaluation file `file` (None: the pack's target); ScoreError naming the valid ones."""
    name = manifest["target"] if file is None else file
    valid = evaluation_files(manifest)
    if file is not None and file not in valid:
        raise ScoreError(
            f"pack {manifest['pack']} has no test file {file!r}; --file must be one of: {', '.join(valid)}"
            f" (default {manifest['target']})"
        )
    entry: dict[str, Any] | None = next((e for e in manifest["files"] if e["path"] == name), None)
    if entry is None:
        raise ConfigError(f"{MANIFEST} of pack {manifest['pack']} names target {name} but lists no such file")
    return entry


def _pack_chunks(
    pred_path: Any, pack_dir: Path, manifest: dict[str, Any], entry: dict[str, Any]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(prediction, target) chunks [n, T_out, C, H, W] from a pack's file `entry` and a prediction file in its layout.

    Layouts accepted, for a target of T frames, K input, N sequences:
    - npy-tnhw target [T, N, H, W(, C)] uint8 (or srvp-npz's `sequences`): pred [T - K or T, N, H, W(, C)] (the whole
      sequences' input frames are ignored);
    - predrnn-npz target (input_raw_data [N * T, C, H, W] float32, `clips`): pred the same
      array, [N * (T - K) or N * T, C, H, W] (an npz's `input_raw_data`);
    - either: [N, T - K, C, H, W], the layout OpenSTL's test saves as saved/preds.npy.
    """
    if not isinstance(pred_path, str | PathLike):
        raise ScoreError("against a pack directory, pred must be a file path (npy, npz, HDF5)")
    k = int(manifest["input_frames"])
    path, kind = pack_dir / entry["path"], entry["kind"]
    pred_path = Path(pred_path)
    if kind in ("npy-tnhw", "srvp-npz"):
        # SRVP's npz is deflated: its sequences are read whole (~2 GB at full size; see npz_member)
        true = np.load(path, mmap_mode="r") if kind == "npy-tnhw" else npz_member(path, "sequences")
        t, n, h, w = true.shape[:4]
        c = true.shape[4] if true.ndim == 5 else 1

        def target(a: int, b: int) -> np.ndarray:
            x = np.moveaxis(true[k:, a:b], 0, 1)
            return x[:, :, None] if x.ndim == 4 else np.moveaxis(x, -1, 2)

        native = {(t - k, *true.shape[1:]): 0, tuple(true.shape): k}
        layout = f"[{t - k} or {t}, {', '.join(map(str, true.shape[1:]))}] (the target's layout)"
    elif kind == "predrnn-npz":
        raw, clips = npz_member(path, "input_raw_data"), npz_member(path, "clips")  # raw mapped: ~1 GB full size
        n, (c, h, w) = clips.shape[1], raw.shape[1:]
        t = int(clips[0, 0, 1] + clips[1, 0, 1])
        if np.any(clips[0, :, 1] != k) or np.any(clips[1, :, 1] != t - k):
            raise ConfigError(f"{path}'s clips are not one {k} -> {t - k} split; rebuild the pack")
        starts = clips[1, :, 0]

        def target(a: int, b: int) -> np.ndarray:
            idx = starts[a:b, None] + np.arange(t - k)
            return np.asarray(raw[idx])

        native = {(n * (t - k), c, h, w): -1, (n * t, c, h, w): -2}
        layout = f"[{n * (t - k)} or {n * t}, {c}, {h}, {w}] (input_raw_data's layout)"
    else:
        raise ConfigError(f"{path} is not a file movmnist score reads (kind {kind})")
    pred = _load_array(pred_path, "input_raw_data" if kind == "predrnn-npz" else None)
    shape = tuple(pred.shape)
    batch = (n, t - k, c, h, w)
    if shape != batch and shape not in native:
        raise ScoreError(
            f"prediction shape {list(shape)} does not fit pack {manifest['pack']}: expected {layout}"
            f" or {list(batch)} (N, T, C, H, W)"
        )
    if pred.dtype != np.uint8 and not np.issubdtype(pred.dtype, np.floating):
        raise ScoreError(f"prediction must be uint8 (0..255) or float ([0, 1]); got dtype {pred.dtype}")

    def prediction(a: int, b: int) -> np.ndarray:
        if shape == batch:
            return np.asarray(pred[a:b])
        how = native[shape]
        if how >= 0:  # [T', N, H, W(, C)], skip the first `how` frames
            x = np.moveaxis(np.asarray(pred[how:, a:b]), 0, 1)
            return x[:, :, None] if x.ndim == 4 else np.moveaxis(x, -1, 2)
        per = t - k if how == -1 else t  # stacked frames, sequence-major
        x = np.asarray(pred[a * per : b * per]).reshape(b - a, per, c, h, w)
        return x[:, per - (t - k) :]

    for a in range(0, n, CHUNK):
        b = min(n, a + CHUNK)
        yield _unit(prediction(a, b), "prediction"), _unit(np.asarray(target(a, b)), "target")
