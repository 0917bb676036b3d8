"""The manifest: the dataset's source of truth, written last and atomically.

If `manifest.json` exists, the build finished. Readers find shards only through it,
never by globbing, and never open a path outside the dataset directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from movmnist.config.messages import format_errors
from movmnist.errors import ConfigError, DatasetError
from movmnist.files import read_bounded
from movmnist.text import cut, short

if TYPE_CHECKING:
    from movmnist.config import Config

MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
BUILDING = ".movmnist-building.json"
LOCK = ".movmnist-lock"  # held while a builder runs: its pid and host
FORMAT = "movmnist"
FORMAT_VERSION = 1
SHARD_NAME = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.h5$")
CARD_FILES = ("README.md", "preview.gif")  # the dataset card (movmnist.card): its text and the GIF it shows
RECORD_NAME = re.compile(r"^(train|val|test)-\d{5}-of-\d{5}\.h5\.sha256$")  # written after each shard
TEMP_NAME = re.compile(r"^\..+\.tmp-\d+(-[0-9a-f]+)?$")  # files.temporary_path; older builds: no random part
# A part of a build (`build --shard-index K --num-shards N`, store.parts): its record once finished
# (.json), its marker while it runs (.building.json), its lock (.lock). `merge` removes them.
PART_NAME = re.compile(r"^\.movmnist-part-(\d{5})-of-(\d{5})\.(json|building\.json|lock)$")


def is_ours(name: str) -> bool:
    """Whether a file name in a dataset directory is one that a build writes."""
    return name in (MANIFEST, BUILDING, LOCK, *CARD_FILES) or bool(
        SHARD_NAME.match(name) or RECORD_NAME.match(name) or TEMP_NAME.match(name) or PART_NAME.match(name)
    )


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class ShardEntry(_Entry):
    """One shard file: sequences [first, first + sequences) of its split, with its digest and size."""

    file: str
    first: int = Field(ge=0)
    sequences: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)

    @field_validator("file")
    @classmethod
    def _a_shard_name(cls, value: str) -> str:
        if not SHARD_NAME.match(value):  # never a path: readers open only names inside the dataset
            raise PydanticCustomError(
                "range", "is not a shard file name; refusing to open it (got {v})", {"v": short(value)}
            )
        return value


class SplitEntry(_Entry):
    """One split: its sequence count, the pool its digits came from, and its shards in order."""

    sequences: int = Field(ge=0)
    pool: str = ""
    pool_size: int | None = Field(None, ge=0)
    shards: tuple[ShardEntry, ...] = Field(strict=False)  # a JSON list


class SourceSplit(BaseModel):
    """What the source's description says of one of its splits (more keys are kept, unread)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    count: int = Field(ge=0)
    image_shape: tuple[int, ...] = Field(strict=False, min_length=2, max_length=3)  # a JSON list
    dtype: str = "uint8"


class SourceInfo(BaseModel):
    """The digit source's description (`DigitSource.describe()`): the keys readers use, typed; the rest kept."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    kind: str
    path: str | None = None
    name: str | None = None
    synthetic: bool = False
    splits: dict[str, SourceSplit] = {}


class Manifest(_Entry):
    """manifest.json, parsed once at the boundary: what every reader of a dataset goes through.

    config: the build's config as data (`Config.dataset_data()`, engine left out); source:
    the digit source's description (`DigitSource.describe()`), kind-specific. Provenance
    fields that older builds did not record have defaults.
    """

    format: Literal["movmnist"]
    format_version: Literal[1]
    movmnist_version: str = ""
    created: str = ""
    build_seconds: float = Field(0.0, ge=0)
    workers: int = Field(1, ge=1)
    engine: str = "local"
    config: dict[str, Any]
    source: dict[str, Any]
    sequence_shape: tuple[int, ...] = Field(strict=False)  # a JSON list
    splits: dict[str, SplitEntry]  # train, val, test: the splits built, in order

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        if len(self.sequence_shape) not in (3, 4) or min(self.sequence_shape) < 1:
            raise PydanticCustomError("fit", "sequence_shape must be [T, H, W] or [T, H, W, C] of positive sizes", {})
        try:
            SourceInfo.model_validate(self.source)
        except ValidationError as exc:
            raise PydanticCustomError("fit", "source: {e}", {"e": format_errors(exc, SourceInfo)}) from None
        try:
            self.build_config()
        except ConfigError as exc:
            raise PydanticCustomError("fit", "config: {e}", {"e": cut(str(exc))}) from None
        for name, split in self.splits.items():
            if name not in SPLITS:
                raise PydanticCustomError(
                    "fit", "splits holds {s}; a split is one of {known}", {"s": short(name), "known": ", ".join(SPLITS)}
                )
            counted = 0
            for shard in split.shards:
                if not shard.file.startswith(f"{name}-"):
                    raise PydanticCustomError(
                        "fit", "splits.{s} names shard {f} of another split", {"s": name, "f": shard.file}
                    )
                if shard.first != counted:
                    raise PydanticCustomError(
                        "fit",
                        "splits.{s}: shard {f} starts at sequence {first}, expected {n}",
                        {"s": name, "f": shard.file, "first": shard.first, "n": counted},
                    )
                counted += shard.sequences
            if counted != split.sequences:  # a reader would return too few sequences, or fail past the end
                raise PydanticCustomError(
                    "fit",
                    "splits.{s} says {n} sequences but its shards hold {c}",
                    {"s": name, "n": split.sequences, "c": counted},
                )
        return self

    def build_config(self) -> Config:
        """The build's config, validated (defaults filled in for fields an older build did not record)."""
        from movmnist.config import Config

        return Config.from_data(self.config)

    @property
    def shards(self) -> tuple[ShardEntry, ...]:
        """Every shard of every split, in order."""
        return tuple(shard for split in self.splits.values() for shard in split.shards)

    @property
    def sequences(self) -> int:
        return sum(split.sequences for split in self.splits.values())

    def to_data(self) -> dict[str, Any]:
        """Plain JSON-able data, as manifest.json holds it."""
        return self.model_dump(mode="json")

    @classmethod
    def from_data(cls, data: Any, where: str = MANIFEST) -> Manifest:
        """Validate plain data; DatasetError naming the first problem otherwise."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DatasetError(
                f"{where} is not a valid manifest: {format_errors(exc, cls)}; rebuild the dataset"
            ) from None


MANIFEST_LIMIT = 64 << 20  # bytes; a shard takes ~200 of them: room for 300,000 shards


def read_manifest(root: Path) -> Manifest:
    """Load and sanity-check a dataset's manifest; raise DatasetError with the fix."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a directory; give the --out directory of a build")
    path = root / MANIFEST
    if not path.exists():
        if (root / BUILDING).exists():
            raise DatasetError(f"{root}: build in progress or interrupted (no {MANIFEST} yet); wait for it or rebuild")
        if any(PART_NAME.match(entry.name) for entry in root.iterdir()):
            raise DatasetError(
                f"{root} holds parts of a build (build --shard-index) and no {MANIFEST} yet;"
                f" once every part is built, run: movmnist merge {root}"
            )
        raise DatasetError(f"{root} has no {MANIFEST}: not a movmnist dataset; build one with movmnist build")
    try:
        data = json.loads(read_bounded(path, MANIFEST_LIMIT).decode("utf-8"))  # NaN is left to the model to refuse
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deep" if isinstance(exc, RecursionError) else cut(str(exc) or type(exc).__name__, 120)
        raise DatasetError(f"{path} is not readable JSON ({reason}); rebuild the dataset") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a movmnist manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path} has format version {short(data.get('format_version'))}, this movmnist reads {FORMAT_VERSION}; "
            "rebuild the dataset or use a matching movmnist"
        )
    return Manifest.from_data(data, str(path))
