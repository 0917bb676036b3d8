"""A folder of PNG or JPEG images: backgrounds (render.background.source) or unlabelled sprites.

`source.path` is the folder. Image files directly in it (*.png, *.jpg, *.jpeg, any case; hidden
files and other files skipped) are the one split `all`; otherwise each subfolder that holds
image files is a split of its own name (train/, test/, ...). A split's images are taken in the
order of their file names (sorted), so index i is the same file on every machine; they are
decoded with Pillow (the sources' owner of it), grey (modes L and 1) or RGB (RGB, palette
without transparency, CMYK, YCbCr), a split with any RGB image making its grey ones RGB. Every
image of a source must have one size (nothing is resized here). The folder has no classes:
every label is 0.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from movmnist.errors import SourceError
from movmnist.files import open_regular
from movmnist.sources.base import Images, check_declared, check_same_shapes, readonly, split_summary, unknown_split
from movmnist.text import cut

SUFFIXES = (".png", ".jpg", ".jpeg")
FLAT = "all"  # the split of the images directly in the folder
_GREY = {"L": "L", "1": "L"}  # Pillow mode -> the mode it is decoded in
_RGB = {"RGB": "RGB", "P": "RGB", "CMYK": "RGB", "YCbCr": "RGB"}
_FIX = "save it as 8-bit grey or RGB"


def _images_in(folder: Path) -> tuple[str, ...]:
    """The image files directly in `folder`, by name (sorted)."""
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise SourceError(f"cannot read the folder {folder}: {exc.strerror or exc}") from None
    names = (e.name for e in entries if e.suffix.lower() in SUFFIXES and not e.name.startswith("."))
    return tuple(sorted(n for n in names if (folder / n).is_file()))


@dataclass(frozen=True, eq=False)
class ImageFolderSource:
    """A folder of images; `splits` maps each split to its folder and its files' names, sorted."""

    folder: Path
    splits: dict[str, tuple[Path, tuple[str, ...]]]

    kind = "images"
    synthetic = False

    def split_names(self) -> tuple[str, ...]:
        return tuple(self.splits)

    def load(self, split: str) -> Images:
        """The split's images [M, h, w] or [M, h, w, 3] uint8, labels [M] int64 (all 0), decoded once."""
        return self._load(split)[0]

    def describe(self) -> dict[str, Any]:
        splits, sha256 = {}, {}
        for split in self.splits:
            images, digest = self._load(split)
            splits[split] = split_summary(images)
            sha256[split] = digest
        return {
            "kind": self.kind,
            "path": str(self.folder),
            "synthetic": self.synthetic,
            "splits": splits,
            "sha256": sha256,  # of each split's file names and bytes, in order
        }

    def _load(self, split: str) -> tuple[Images, str]:
        if split not in self.splits:
            raise unknown_split(f"the image folder {self.folder}", split, self.splits)
        folder, names = self.splits[split]
        stamps = []
        for name in names:
            try:
                st = (folder / name).stat()
            except OSError as exc:
                raise SourceError(f"cannot read {folder / name}: {exc.strerror or exc}") from None
            stamps.append((name, st.st_mtime_ns, st.st_size))
        return _decode(folder, tuple(stamps))


def open_images(path: str | Path) -> ImageFolderSource:
    """Check that `path` is a folder of images (or of split folders of them); decode nothing yet."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise SourceError(f"source.path {folder} does not exist; point it at a folder of PNG or JPEG images")
    if not folder.is_dir():
        raise SourceError(
            f"source.path {folder} is a file, but kind 'images' needs a folder of PNG or JPEG images;"
            " for an npz set source.kind=npz"
        )
    folder = folder.resolve()
    flat = _images_in(folder)
    try:
        subfolders = sorted(e for e in folder.iterdir() if e.is_dir() and not e.name.startswith("."))
    except OSError as exc:
        raise SourceError(f"cannot read the folder {folder}: {exc.strerror or exc}") from None
    nested = {sub.name: (sub, names) for sub in subfolders if (names := _images_in(sub))}
    if flat and nested:
        raise SourceError(
            f"{cut(str(folder))} holds images and also subfolders of images ({', '.join(nested)});"
            f" put its own {len(flat)} images in a subfolder too (each subfolder is a split)"
        )
    if not flat and not nested:
        raise SourceError(
            f"{cut(str(folder))} holds no PNG or JPEG images ({', '.join('*' + s for s in SUFFIXES)}),"
            " directly or in subfolders; point source.path at the folder that holds them"
        )
    splits = {FLAT: (folder, flat)} if flat else nested
    sizes: dict[str, tuple[int, ...]] = {
        name: size for name, (where, names) in splits.items() if (size := _size(where / names[0]))
    }
    check_same_shapes(folder, sizes)
    return ImageFolderSource(folder=folder, splits=splits)


def _size(path: Path) -> tuple[int, int] | None:
    """(h, w) of the image at `path` from its header, or None if it cannot be read (decoding says why)."""
    try:
        with open_regular(path) as f, Image.open(f) as image:
            return image.height, image.width
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return None


@functools.lru_cache(maxsize=8)
def _decode(folder: Path, stamps: tuple[tuple[str, int, int], ...]) -> tuple[Images, str]:
    """Decode one split's files, in order; `stamps` (name, mtime, size) key the cache, so a
    changed folder is read again. Returns the images and a sha256 of the names and bytes."""
    digest = hashlib.sha256()
    pictures: list[np.ndarray] = []
    first: tuple[str, tuple[int, int]] | None = None
    for name, _, _ in stamps:
        path = folder / name
        try:
            with open_regular(path) as f:
                data = f.read()
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
        digest.update(name.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
        picture = _picture(path, data)
        size = (picture.shape[0], picture.shape[1])
        if first is None:
            first = (name, size)
            channels = 3 if picture.ndim == 3 else 1
            what = f"{len(stamps)} images of {size[0]}x{size[1]}"
            check_declared(folder, what, len(stamps) * size[0] * size[1] * channels, fix="use fewer or smaller images")
        elif size != first[1]:
            raise SourceError(
                f"{cut(str(path))} is {size[0]}x{size[1]} but {first[0]} is {first[1][0]}x{first[1][1]};"
                " every image of a split must have one size: resize them alike"
            )
        pictures.append(picture)
    if any(p.ndim == 3 for p in pictures):  # grey images among RGB ones: repeated to RGB
        pictures = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=-1) for p in pictures]
    images = np.ascontiguousarray(np.stack(pictures))
    labels = np.zeros(len(images), np.int64)
    return Images(images=readonly(images), labels=readonly(labels)), digest.hexdigest()


def _picture(path: Path, data: bytes) -> np.ndarray:
    """One file's image: [h, w] uint8 (grey) or [h, w, 3] uint8 (RGB); SourceError if it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
            if mode == "P" and "transparency" in image.info:
                mode = "P with transparency"
            target = _GREY.get(mode) or _RGB.get(mode)
            if target is None:
                raise SourceError(f"{cut(str(path))} {_refusal(mode)}")
            image.load()
            return np.asarray(image.convert(target) if image.mode != target else image, dtype=np.uint8)
    except UnidentifiedImageError:
        raise SourceError(
            f"cannot read {cut(str(path))}: it is not a PNG or JPEG image (or is damaged); replace or remove the file"
        ) from None
    except (Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"cannot read {cut(str(path))}: {reason}; replace or remove the file") from None


def _refusal(mode: str) -> str:
    """Why an image of a Pillow mode the folder does not take is refused, and the fix."""
    if mode in ("RGBA", "LA", "PA", "La", "RGBa", "P with transparency"):
        return f"has an alpha channel (mode {mode}); drop it or composite the image onto black, then {_FIX}"
    if mode.startswith("I") or mode == "F":
        return f"has 16- or 32-bit pixels (mode {mode}); {_FIX}"
    return f"is in mode {mode}; {_FIX}"
