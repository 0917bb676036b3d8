"""The config schema: the pydantic models of one validated, frozen `Config`.

Everything downstream receives a `Config` and never reads raw dicts. Validation is
pydantic v2 in strict mode: it gives us the dotted location of every problem, forbids
unknown keys, and dumps the resolved config back to plain data for the manifest;
`messages` rewords its errors into one line that names the field, the rule and the value.
Preset and codec names come from their catalogues (`presets`, `codecs`). Reading YAML is
`load`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from movmnist.config import codecs, presets
from movmnist.config.messages import format_errors
from movmnist.errors import ConfigError


def _as_range(value: Any) -> Any:
    """Accept a scalar (a fixed value) or a two-item [min, max] list; return a (min, max) pair."""
    if isinstance(value, bool):
        raise PydanticCustomError(
            "range", "must be a number or a [min, max] pair (got {value})", {"value": repr(value)}
        )
    if isinstance(value, int | float):
        return (value, value)
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise PydanticCustomError(
                "range", "must be a number or a [min, max] pair (got {n} items)", {"n": len(value)}
            )
        lo, hi = value
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            raise PydanticCustomError("range", "must have min <= max (got [{lo}, {hi}])", {"lo": lo, "hi": hi})
        return tuple(value)
    raise PydanticCustomError("range", "must be a number or a [min, max] pair (got {value})", {"value": repr(value)})


IntRange = Annotated[tuple[int, int], BeforeValidator(_as_range)]
FloatRange = Annotated[tuple[float, float], BeforeValidator(_as_range)]

_POOL_RE = re.compile(r"^(?P<split>[A-Za-z_][\w/-]*)(\[(?P<start>-?\d+)?:(?P<stop>-?\d+)?\])?$")
# A TFDS name: dataset[/config][:version], as tfds.builder takes it.
_TFDS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.+-]+)?(:\d+\.\d+\.\d+)?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Canvas(_Model):
    """The frame size in pixels."""

    height: int = Field(64, ge=8, le=4096)
    width: int = Field(64, ge=8, le=4096)


class SequenceCfg(_Model):
    """Frames per sequence."""

    length: int = Field(20, ge=2, le=100_000)


class Digits(_Model):
    """How many sprites per sequence, their size, and how they are drawn from the pool."""

    count: IntRange = (2, 2)
    size: int | None = Field(None, ge=2, le=4096, description="resample sprites to size x size; null: the source's")
    assign: Literal["random", "each"] = "random"

    @model_validator(mode="after")
    def _check(self) -> Digits:
        lo, hi = self.count
        if lo < 1 or hi > 64:
            raise PydanticCustomError("bounds", "count must be within [1, 64] (got {v})", {"v": list(self.count)})
        return self


if TYPE_CHECKING:  # the names are the catalogues' keys; mypy sees plain strings
    PresetName = str
    CodecName = str
else:
    PresetName = Literal[presets.NAMES]
    CodecName = Literal[codecs.NAMES]


class Motion(_Model):
    """The motion rules (a named preset), speed, and the free parameters on top of any preset."""

    preset: PresetName = presets.DEFAULT
    speed: FloatRange = (0.1, 0.1)
    acceleration: float = Field(0.0, ge=0, le=1, description="sd of the per-frame velocity noise")
    boundary: Literal["bounce", "wrap", "open"] = "bounce"

    @model_validator(mode="after")
    def _check(self) -> Motion:
        lo, hi = self.speed
        if not (0 <= lo <= hi <= 1 and hi > 0):
            raise PydanticCustomError(
                "bounds", "speed must be within [0, 1] with max > 0 (got {v})", {"v": list(self.speed)}
            )
        return self


class Render(_Model):
    """How overlapping sprites are combined, and what touches the walls."""

    combine: Literal["max", "sum", "over"] = "max"
    bounce_on: Literal["patch", "ink"] = "patch"


class Annotations(_Model):
    """Which annotations beyond labels, positions and source_index each shard stores."""

    trajectories: bool = True
    velocities: bool = True
    boxes: bool = True
    amodal_boxes: bool = True
    masks: bool = True
    visibility: bool = True
    events: bool = True


class Source(_Model):
    """Where the digit images come from. Fields a kind does not use are ignored."""

    kind: Literal["tfds", "idx", "npz", "synthetic"] = "tfds"
    name: str = Field("mnist", description="tfds only: the TFDS dataset, e.g. mnist, fashion_mnist, cifar10")
    data_dir: str | None = Field(
        None, description="tfds only: TFDS data dir; null: $TFDS_DATA_DIR or ~/tensorflow_datasets"
    )
    mirror: str | None = Field(None, description="tfds only: URL base to download the IDX sets from instead")
    path: str | None = None
    seed: int = Field(0, ge=0, description="synthetic only: which synthetic digits")
    colour: bool = Field(False, description="synthetic only: tint each digit, giving RGB images")

    @model_validator(mode="after")
    def _check(self) -> Source:
        if self.kind in ("idx", "npz") and not self.path:
            raise PydanticCustomError(
                "path", "path is required for kind '{kind}'; set source.path=DIR", {"kind": self.kind}
            )
        if self.kind == "tfds" and not _TFDS_NAME_RE.match(self.name):
            raise PydanticCustomError(
                "path",
                "name must be a TFDS dataset name like 'mnist', 'emnist/letters' or 'cifar10:3.0.2' (got {v})",
                {"v": repr(self.name)},
            )
        if self.mirror is not None and not re.match(r"^https?://", self.mirror):
            raise PydanticCustomError(
                "path", "mirror must be an http(s):// URL base (got {v})", {"v": repr(self.mirror)}
            )
        return self


_HUGE = 1 << 62


class PoolSpec(_Model):
    """A slice of one of the source's own splits, written like a Python slice: `train[:50000]`,
    `train[-10000:]` (negative bounds count from the split's end)."""

    split: str
    start: int = 0
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        m = _POOL_RE.match(text.strip())
        if not m:
            raise PydanticCustomError(
                "pool",
                "must look like 'train', 'train[:50000]' or 'train[-10000:]' (got {v})",
                {"v": repr(text)},
            )
        start, stop = m.group("start"), m.group("stop")
        return cls(split=m.group("split"), start=int(start) if start else 0, stop=int(stop) if stop else None)

    def bounds(self, count: int) -> tuple[int, int]:
        """(start, stop) in a split of `count` images, negative bounds counting from its end (unclipped)."""
        start = self.start + count if self.start < 0 else self.start
        stop = count if self.stop is None else self.stop + count if self.stop < 0 else self.stop
        return start, stop

    def overlaps(self, other: PoolSpec) -> bool:
        """Whether the slices share images in a split of any size so large that every bound is
        inside it. The build checks again with the split's real size (`overlap_at`), which
        decides slices that count from different ends, such as train[:50000] and train[-10000:]."""
        return self.overlap_at(other, _HUGE)

    def overlap_at(self, other: PoolSpec, count: int) -> bool:
        """Whether the two slices share an image of a split of `count` images."""
        if self.split != other.split:
            return False
        (a0, a1), (b0, b1) = self.bounds(count), other.bounds(count)
        a0, a1, b0, b1 = (min(max(v, 0), count) for v in (a0, a1, b0, b1))
        return max(a0, b0) < min(a1, b1) and a0 < a1 and b0 < b1

    def __str__(self) -> str:
        if self.start == 0 and self.stop is None:
            return self.split
        return f"{self.split}[{self.start or ''}:{'' if self.stop is None else self.stop}]"


def _as_pool(value: Any) -> Any:
    if isinstance(value, str):
        return PoolSpec.parse(value)
    return value


ALL = -1  # `sequences: all`: one sequence per pool image (digits.assign: each), resolved by `resolve_counts`
MAX_SEQUENCES = 10**10


def _as_count(value: Any) -> Any:
    """A sequence count: an integer in [0, 10**10], or 'all' (stored as ALL until resolved)."""
    if value == "all":
        return ALL
    if isinstance(value, bool) or not isinstance(value, int):
        raise PydanticCustomError("range", "must be an integer or 'all' (got {v})", {"v": repr(value)})
    if value < 0:
        raise PydanticCustomError("range", "must be >= 0 (got {v})", {"v": value})
    if value > MAX_SEQUENCES:
        raise PydanticCustomError("range", "must be <= {hi} (got {v})", {"hi": MAX_SEQUENCES, "v": value})
    return value


class Split(_Model):
    """One split of the dataset: how many sequences, and which source images it may use."""

    sequences: Annotated[int, BeforeValidator(_as_count)]
    pool: Annotated[PoolSpec, BeforeValidator(_as_pool)]


SPLITS = ("train", "val", "test")


class Splits(_Model):
    """The dataset's splits. A split of size 0 is not built."""

    # val carves the last 10,000 images out of the source's train split (MNIST's 50,000 /
    # 10,000 division, and it works for any train split larger than 10,000).
    train: Split = Split(sequences=10_000, pool=PoolSpec(split="train", start=0, stop=-10_000))
    val: Split = Split(sequences=1_000, pool=PoolSpec(split="train", start=-10_000))
    test: Split = Split(sequences=10_000, pool=PoolSpec(split="test"))

    @model_validator(mode="before")
    @classmethod
    def _fill_from_defaults(cls, data: Any) -> Any:
        # A split given in part (`splits.val.sequences=0`) keeps the other fields of its
        # own default, which differ per split (the pool), so field defaults cannot do it.
        if not isinstance(data, Mapping):
            return data
        filled = dict(data)
        for name in SPLITS:
            given = data.get(name)
            if isinstance(given, Mapping):
                default = cls.model_fields[name].default
                filled[name] = {"sequences": default.sequences, "pool": str(default.pool), **given}
        return filled

    @model_validator(mode="after")
    def _no_leakage(self) -> Splits:
        active = self.active()
        for i, (a, sa) in enumerate(active):
            for b, sb in active[i + 1 :]:
                if sa.pool.overlaps(sb.pool):
                    raise PydanticCustomError(
                        "leak",
                        "splits.{b}.pool ({pb}) shares source images with splits.{a}.pool ({pa});"
                        " give the splits disjoint slices",
                        {"a": a, "pa": str(sa.pool), "b": b, "pb": str(sb.pool)},
                    )
        return self

    def active(self) -> list[tuple[str, Split]]:
        """The splits that will be built, in order."""
        return [(name, getattr(self, name)) for name in SPLITS if getattr(self, name).sequences != 0]


class Output(_Model):
    """How shards are laid out and compressed."""

    shard_size: int = Field(2000, ge=1, le=10**8, description="sequences per shard file")
    compression: CodecName = codecs.DEFAULT
    compression_level: int = Field(1, ge=0, le=22, description="gzip 0-9 (default 1), zstd 1-22 (default 3)")

    @model_validator(mode="before")
    @classmethod
    def _default_level(cls, data: Any) -> Any:
        # The field's default (1) is gzip's; a codec with another default gets it here,
        # only when no level is given, so gzip configs (and their bytes) are unchanged.
        if isinstance(data, Mapping) and "compression_level" not in data:
            name = data.get("compression")
            codec = codecs.CODECS.get(name) if isinstance(name, str) else None  # else: refused below
            if codec is not None and codec.levels is not None:
                return {**data, "compression_level": codec.levels[2]}
        return data

    @model_validator(mode="after")
    def _check_level(self) -> Output:
        levels = codecs.CODECS[self.compression].levels
        if levels is not None:
            lo, hi, _ = levels
            if not lo <= self.compression_level <= hi:
                raise PydanticCustomError(
                    "bounds",
                    "compression_level must be within [{lo}, {hi}] for {codec} (got {v})",
                    {"lo": lo, "hi": hi, "codec": self.compression, "v": self.compression_level},
                )
        return self


class BuildCfg(_Model):
    """Execution knobs that never change the output bytes."""

    chunk_size: int = Field(
        256,
        ge=1,
        le=100_000,
        description="sequences generated at a time (at least 4096 where frames are drawn as written)",
    )


_ADDRESS_RE = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$")


class Engine(_Model):
    """Where shard tasks run: local worker processes, or a Dask cluster. Never changes the bytes."""

    kind: Literal["local", "dask"] = "local"
    address: str | None = Field(None, description="dask only: scheduler address; none starts a LocalCluster")

    @model_validator(mode="after")
    def _check(self) -> Engine:
        if self.address is not None and self.kind != "dask":
            raise PydanticCustomError(
                "path", "address is for kind 'dask' only; set engine.kind=dask or drop engine.address", {}
            )
        if self.address is not None and not _ADDRESS_RE.match(self.address):
            raise PydanticCustomError(
                "path", "address must look like tcp://HOST:PORT (got {v})", {"v": repr(self.address)}
            )
        return self


class Config(_Model):
    """The whole, resolved build config."""

    seed: int = Field(0, ge=0, le=2**63 - 1)
    canvas: Canvas = Canvas()
    sequence: SequenceCfg = SequenceCfg()
    digits: Digits = Digits()
    motion: Motion = Motion()
    render: Render = Render()
    annotations: Annotations = Annotations()
    source: Source = Source()
    splits: Splits = Splits()
    output: Output = Output()
    build: BuildCfg = BuildCfg()
    engine: Engine = Engine()

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        # A preset's customary settings fill the fields the config leaves out; explicit
        # values always win. Done before validation so `config show` shows the result.
        if not isinstance(data, Mapping) or not isinstance(data.get("motion"), Mapping):
            return data
        name = data["motion"].get("preset", presets.DEFAULT)
        preset = presets.PRESETS.get(name) if isinstance(name, str) else None  # else: refused below
        if preset is None:
            return data
        filled = dict(data)
        for (section, key), value in preset.defaults.items():
            given = filled.get(section, {})
            if isinstance(given, Mapping) and key not in given:
                filled[section] = {**given, key: value}
        return filled

    @model_validator(mode="after")
    def _digit_fits(self) -> Config:
        size = self.digits.size
        if size is not None and (size > self.canvas.height or size > self.canvas.width):
            raise PydanticCustomError(
                "fit",
                "digits.size must fit the canvas ({h}x{w}) (got {s})",
                {"h": self.canvas.height, "w": self.canvas.width, "s": size},
            )
        preset = presets.PRESETS[self.motion.preset]
        if preset.warped and (self.motion.boundary != "bounce" or self.render.bounce_on != "patch"):
            raise PydanticCustomError(
                "fit",
                "motion.preset {p} bounces its digits' centres itself; leave motion.boundary: bounce"
                " and render.bounce_on: patch",
                {"p": preset.name},
            )
        if preset.margin and min(self.canvas.height, self.canvas.width) <= 2 * preset.margin:
            raise PydanticCustomError(
                "fit",
                "motion.preset {p} keeps digit centres {m} px inside the canvas, so canvas.height and"
                " canvas.width must be > {twice} (got {h}x{w})",
                {
                    "p": preset.name,
                    "m": preset.margin,
                    "twice": 2 * preset.margin,
                    "h": self.canvas.height,
                    "w": self.canvas.width,
                },
            )
        if self.render.bounce_on == "ink" and self.motion.boundary != "bounce":
            raise PydanticCustomError(
                "fit",
                "render.bounce_on: ink needs motion.boundary: bounce (got {b}); set bounce_on: patch",
                {"b": self.motion.boundary},
            )
        if self.digits.assign != "each":
            for name, split in self.splits.active():
                if split.sequences == ALL:
                    raise PydanticCustomError(
                        "fit",
                        "splits.{name}.sequences may be 'all' only with digits.assign: each; give a number",
                        {"name": name},
                    )
        return self

    def resolve_counts(self, pool_sizes: Mapping[str, int]) -> Config:
        """This config with every `sequences: all` replaced by its split's pool size.

        With `digits.assign: each`, sequence i of a split uses image i of its pool, so a
        split may not ask for more sequences than its pool has images.
        """
        splits = {}
        for name, split in self.splits.active():
            size = pool_sizes[name]
            if split.sequences == ALL:
                split = split.model_copy(update={"sequences": size})
            elif self.digits.assign == "each" and split.sequences > size:
                raise ConfigError(
                    f"splits.{name}.sequences is {split.sequences} but digits.assign: each makes one sequence per"
                    f" image and pool {split.pool} has {size}; lower it or write sequences: all"
                )
            splits[name] = split
        return self.model_copy(update={"splits": self.splits.model_copy(update=splits)})

    def to_data(self) -> dict[str, Any]:
        """Plain, JSON-able data that `Config.from_data` reads back to an equal config."""
        data = self.model_dump(mode="json")
        for split in SPLITS:
            data["splits"][split]["pool"] = str(getattr(self.splits, split).pool)
        for key in ("count",):
            data["digits"][key] = _compact(data["digits"][key])
        data["motion"]["speed"] = _compact(data["motion"]["speed"])
        for split in SPLITS:
            if data["splits"][split]["sequences"] == ALL:
                data["splits"][split]["sequences"] = "all"
        return data

    def dataset_data(self) -> dict[str, Any]:
        """`to_data` without the engine section: everything that decides the output bytes.

        Shards and manifests record this, so a dataset built on Dask is byte-identical to a
        local one, and `--resume` compares it to refuse a different config.
        """
        data = self.to_data()
        del data["engine"]
        return data

    @classmethod
    def from_data(cls, data: Any) -> Config:
        """Validate plain data; raise ConfigError with a one-line message on any problem."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"the config must be a mapping of sections (got {type(data).__name__})")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise ConfigError(format_errors(exc, cls)) from None


def _compact(pair: Sequence[Any]) -> Any:
    lo, hi = pair
    return lo if lo == hi else [lo, hi]
