"""Build an evaluation pack: its config through the normal builder, then its consumer's files.

`make_pack(name, out)` builds `configs/packs/NAME.yaml` (with `--set` overrides) into a
temporary folder beside `out/NAME`, writes each file of the catalogue row
(`config.packs`) under its consumer's name, computes the content digest of their arrays,
writes `pack.json` (the pack's manifest: its config, files, digests) last, and only then
moves the folder into place; the HDF5 build is removed. An interrupted or failed pack
leaves no `out/NAME`. An out-of-distribution suite builds each of its variants the same
way, into a dataset of its own, and checks its protocols on the built data
(`builder.leakage`) before it writes a file: pack.json holds the report, and a leak
refuses the pack.

The digest is over the arrays, not the file bytes (a zip's or gzip's framing may vary with
the library version): for each file in catalogue order, its path, then for each array in
it (an npz's members sorted by name) its name, dtype, shape and C-order bytes; an IDX file
counts as one uint8 array [N, H, W].
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from movmnist import __version__, files
from movmnist.builder import leakage
from movmnist.builder.driver import Reporter, build
from movmnist.config import Config
from movmnist.config.load import load_config
from movmnist.config.packs import NAMES, PACKS, Pack, PackFile
from movmnist.core.pool import Pool
from movmnist.errors import ConfigError, DownloadError, OutputError, SourceError
from movmnist.read.dataset import Dataset, Split
from movmnist.sources import load_pool
from movmnist.tools.exports.arrays import write_npy, write_predrnn_npz
from movmnist.tools.score import MANIFEST

_BLOCK = 1 << 22
REPO = Path(__file__).resolve().parents[2]  # a source checkout's root, where configs/packs/ lives


def find(name: str) -> Pack:
    """The catalogue row `name`; ConfigError naming the packs there are."""
    try:
        return PACKS[name]
    except KeyError:
        raise ConfigError(f"no pack named {name!r}; use one of: {', '.join(NAMES)} (movmnist packs)") from None


def config_path(pack: Pack) -> Path:
    """The pack's config file, configs/packs/NAME.yaml of the source checkout."""
    path = REPO / pack.config
    if not path.is_file():
        raise ConfigError(
            f"{pack.config} is not there ({REPO} is not a movmnist source checkout); packs are built from one"
        )
    return path


def pack_config(name: str, overrides: Sequence[str] = (), variant: str = "") -> Config:
    """The validated config of pack `name` (or of its variant `variant`), with `dotted.key=value` overrides.

    A variant's own overrides come after the user's: they decide what the variant varies. An
    override `VARIANT:dotted.key=value` applies to that variant only, after its own."""
    pack = find(name)
    own = {v.name: v.overrides for v in pack.variants}
    if variant and variant not in own:
        raise ConfigError(f"pack {name} has no variant {variant!r}; use one of: {', '.join(own) or 'none'}")
    common, targeted = [], []
    for item in overrides:
        key = item.partition("=")[0]
        if ":" not in key:
            common.append(item)
            continue
        which, _, rest = item.partition(":")
        if which not in own:
            raise ConfigError(
                f"--set {item}: pack {name} has no variant {which!r}; prefix one of: {', '.join(own) or 'none'}"
            )
        if which == variant:
            targeted.append(rest)
    return load_config(config_path(pack), (*common, *own.get(variant, ()), *targeted))


# --- digests ---------------------------------------------------------------------------


def _hash_npy(f: IO[bytes], name: str, digest: Any) -> tuple[list[int], str]:
    """Feed one .npy stream's array (name, dtype, shape, bytes) to `digest`; return its shape and dtype."""
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    if fortran:
        raise OutputError(f"{name} is Fortran-ordered; it was not written by movmnist")
    digest.update(f"{name} {dtype.str} {list(shape)}\n".encode())
    while block := f.read(_BLOCK):
        digest.update(block)
    return list(shape), dtype.str


def file_digest(path: Path, kind: str) -> dict[str, Any]:
    """sha256 of the arrays of one pack file, with their shapes and dtypes."""
    digest = hashlib.sha256()
    arrays: dict[str, Any] = {}
    if kind == "npy-tnhw":
        with open(path, "rb") as f:
            shape, dtype = _hash_npy(f, "array", digest)
            arrays["array"] = {"shape": shape, "dtype": dtype}
    elif kind in ("predrnn-npz", "srvp-npz"):
        with zipfile.ZipFile(path) as z:
            for member in sorted(z.namelist()):
                with z.open(member) as f:
                    shape, dtype = _hash_npy(f, member.removesuffix(".npy"), digest)
                    arrays[member.removesuffix(".npy")] = {"shape": shape, "dtype": dtype}
    else:  # idx-images
        with gzip.open(path, "rb") as f:
            _, n, h, w = struct.unpack(">IIII", f.read(16))
            digest.update(f"images |u1 {[n, h, w]}\n".encode())
            while block := f.read(_BLOCK):
                digest.update(block)
        arrays["images"] = {"shape": [n, h, w], "dtype": "|u1"}
    return {"sha256": digest.hexdigest(), "arrays": arrays}


def pack_digest(entries: Sequence[dict[str, Any]]) -> str:
    """The pack's digest: sha256 over each file's path and array digest, in catalogue order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry['path']} {entry['sha256']}\n".encode())
    return digest.hexdigest()


# --- writers ---------------------------------------------------------------------------


def write_idx_images(images: np.ndarray, f: IO[bytes]) -> None:
    """[N, H, W] uint8 as a gzipped IDX3 file (magic 2051), mtime 0 so that the bytes repeat."""
    n, h, w = images.shape
    with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0) as z:
        z.write(struct.pack(">IIII", 2051, n, h, w))
        z.write(np.ascontiguousarray(images).data)


def write_srvp_npz(split: Split, pool: Pool, f: IO[bytes], chunk: int = 256) -> None:
    """`split` as SRVP's test npz (`config.packs`, kind srvp-npz): sequences through `write_npy`
    (time-major, in bounded memory), then latents, labels and the digit images from `pool`."""
    n, _, h, w = split.shape[:4]
    items = split.with_annotations()
    free = np.array([h, w]) - np.asarray(pool.images.shape[1:3])
    latents, labels, digits = [], [], []
    for a in range(0, n, chunk):
        item = items[a : min(n, a + chunk)]
        velocity = np.rint(item["velocities"] * free).astype(np.int64)  # normalised by the free range
        latents.append(np.concatenate([item["positions"].astype(np.int64), velocity], axis=-1))
        labels.append(item["labels"].astype(np.uint8))
        digits.append(pool.images[np.searchsorted(pool.source_index, item["source_index"])])
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED, compresslevel=1, allowZip64=True) as z:
        with z.open("sequences.npy", "w", force_zip64=True) as entry:
            write_npy(split, entry, "tnhw")
        arrays = {
            "latents": np.concatenate(latents).transpose(1, 0, 2, 3),  # [N, T, K, 4] -> [T, N, K, 4]
            "labels": np.concatenate(labels),
            "digits": np.concatenate(digits),
        }
        for name, array in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.ascontiguousarray(array))


def _write(spec: PackFile, pack: Pack, cfg: Config, dataset: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_file(path, sync=False) as f:
        if spec.kind == "npy-tnhw":
            write_npy(dataset[spec.split], f, "tnhw")
        elif spec.kind == "predrnn-npz":
            write_predrnn_npz(dataset[spec.split], f, input_frames=pack.input_frames)
        elif spec.kind == "srvp-npz":
            pool = load_pool(cfg.source, getattr(cfg.splits, spec.split).pool, cfg.digits.size)
            write_srvp_npz(dataset[spec.split], pool, f)
        else:
            split = getattr(cfg.splits, spec.split)
            pool = load_pool(cfg.source, split.pool, cfg.digits.size)
            if pool.images.ndim != 3:
                raise ConfigError(f"{spec.path} holds grayscale digits; the source's images are {pool.images.shape}")
            write_idx_images(pool.images, f)


class _Overall:
    """One progress total over the builds of a pack's datasets (each build reports its own start)."""

    def __init__(self, progress: Reporter, total: int) -> None:
        self.progress = progress
        progress.start(total)

    def start(self, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        self.progress.advance(n)


@contextlib.contextmanager
def _staging(parent: Path, name: str) -> Iterator[Path]:
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def make_pack(
    name: str,
    out: str | Path,
    overrides: Sequence[str] = (),
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Reporter | None = None,
) -> dict[str, Any]:
    """Build pack `name` into `out/NAME`; return its manifest (also written there as pack.json)."""
    pack = find(name)
    cfgs = {v: pack_config(name, overrides, v) for v in ("", *(v.name for v in pack.variants))}
    parent = Path(out)
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"{parent} is a file, not a directory; choose another -o")
    target = parent / name
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists; pass --overwrite to replace it, or choose another -o")
    if progress is not None and pack.variants:
        total = sum(max(s.sequences, 0) for c in cfgs.values() for _, s in c.splits.active())
        progress = _Overall(progress, total)
    with _staging(parent, name) as tmp:
        built, datasets = {}, {}
        for variant, cfg in cfgs.items():
            where = tmp / (f"dataset-{variant}" if variant else "dataset")
            try:
                built[variant] = build(cfg, where, workers=workers, progress=progress)
            except (SourceError, DownloadError) as exc:
                if not variant:
                    raise
                raise type(exc)(  # the fix the source suggests, spelled for this one variant
                    f"{exc} (pack {name}, variant {variant}: prefix its --set items with {variant}:, e.g."
                    f" --set {variant}:source.kind=idx --set {variant}:source.path=DIR)"
                ) from None
            datasets[variant] = Dataset(where)
        specs = {spec.path: spec for spec in pack.files}
        observed = {}
        for path in dict.fromkeys(p for protocol in pack.protocols for p in (*protocol.train, *protocol.test)):
            spec = specs[path]
            pool = getattr(cfgs[spec.variant].splits, spec.split).pool.split
            observed[path] = leakage.observe(datasets[spec.variant][spec.split], built[spec.variant].source, pool)
        reports = [leakage.protocol_report(protocol, observed) for protocol in pack.protocols]
        leakage.check(pack, reports)
        folder = tmp / name
        entries = []
        for spec in pack.files:
            _write(spec, pack, cfgs[spec.variant], datasets[spec.variant], folder / spec.path)
            digest = file_digest(folder / spec.path, spec.kind)
            entry = {"path": spec.path, "kind": spec.kind, "split": spec.split, **digest}
            entries.append(entry | {"variant": spec.variant} if spec.variant else entry)
        for dataset in datasets.values():
            dataset.close()
        data = {
            "pack": pack.name,
            "reproduces": pack.reproduces,
            "movmnist_version": __version__,
            "digest": pack_digest(entries),
            "target": pack.target,
            "input_frames": pack.input_frames,
            "overrides": list(overrides),
            "files": entries,
            "source": built[""].source,
            "config": built[""].config,
        }
        if pack.variants:
            data["variants"] = {
                v.name: {"overrides": list(v.overrides), "source": built[v.name].source, "config": built[v.name].config}
                for v in pack.variants
            }
        if reports:
            data["protocols"] = reports
        files.write_atomic(folder / MANIFEST, (json.dumps(data, indent=2) + "\n").encode(), sync=False)
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    return data
