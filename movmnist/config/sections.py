"""The config's sections: one frozen pydantic model per top-level key (canvas, sequence,
digits, motion, render, annotations, corruptions, source, splits, output, build, engine), each with the
checks that need only its own fields.

`Config` (`schema`) holds one of each and checks them against one another; the field types
they are built from (ranges, pool slices, sequence counts) are in `fields`. Preset and
codec names come from their catalogues (`presets`, `codecs`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from movmnist.config import codecs, presets, source_kinds
from movmnist.config.fields import FloatRange, IntRange, PoolSpec, _as_count, _as_pool, _Model
from movmnist.text import short

# A TFDS name: dataset[/config][:version], as tfds.builder takes it.
_TFDS_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.+-]+)?(:\d+\.\d+\.\d+)?$")


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
    SourceKindName = str
else:
    PresetName = Literal[presets.NAMES]
    CodecName = Literal[codecs.NAMES]
    SourceKindName = Literal[source_kinds.NAMES]


class Motion(_Model):
    """The motion rules (a named preset), speed, and the free parameters on top of any preset."""

    preset: PresetName = presets.DEFAULT
    speed: FloatRange = (0.1, 0.1)
    acceleration: float = Field(0.0, ge=0, le=1, description="sd of the per-frame velocity noise")
    boundary: Literal["bounce", "wrap", "open"] = "bounce"
    mass: Literal["equal", "ink"] = Field(
        "equal", description="elastic only: each digit's mass in collisions, 1 or its count of ink pixels"
    )

    @model_validator(mode="after")
    def _check(self) -> Motion:
        lo, hi = self.speed
        if not (0 <= lo <= hi <= 1 and hi > 0):
            raise PydanticCustomError(
                "bounds", "speed must be within [0, 1] with max > 0 (got {v})", {"v": list(self.speed)}
            )
        if self.mass != "equal" and not presets.PRESETS[self.preset].collides:
            raise PydanticCustomError(
                "fit",
                "mass is for a preset whose digits collide (elastic); set motion.preset: elastic or drop motion.mass",
                {},
            )
        return self


# render.colour's default palette, palette[label] for labels 0..9: matplotlib's tab10 (Vega's
# category10), ten colours told apart at a glance.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180),  # 0 blue
    (255, 127, 14),  # 1 orange
    (44, 160, 44),  # 2 green
    (214, 39, 40),  # 3 red
    (148, 103, 189),  # 4 purple
    (140, 86, 75),  # 5 brown
    (227, 119, 194),  # 6 pink
    (127, 127, 127),  # 7 grey
    (188, 189, 34),  # 8 olive
    (23, 190, 207),  # 9 cyan
)
COLOURS = len(PALETTE)


def _as_palette(value: Any) -> Any:
    """Ten [r, g, b] triples of integers 0..255, as a tuple of tuples; anything else refused in one line."""
    ok = (
        isinstance(value, list | tuple)
        and len(value) == COLOURS
        and all(
            isinstance(c, list | tuple)
            and len(c) == 3
            and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in c)
            for c in value
        )
    )
    if not ok:
        raise PydanticCustomError(
            "range",
            "must be {n} [r, g, b] triples of integers 0..255, one per label 0..9 (got {v})",
            {"n": COLOURS, "v": short(value)},
        )
    if any(max(c) == 0 for c in value):
        raise PydanticCustomError(
            "range", "must not hold black [0, 0, 0]: a digit drawn in it would have no ink; pick another colour", {}
        )
    return tuple(tuple(c) for c in value)


class Colour(_Model):
    """render.colour: each digit tinted with a palette colour, its label's with probability
    label_correlation, else one of the other nine uniformly (Coloured-MNIST's spurious
    correlation); the frames gain a colour axis of 3 and `colours` records each digit's."""

    palette: Annotated[tuple[tuple[int, int, int], ...], BeforeValidator(_as_palette)] = PALETTE
    label_correlation: float = Field(1.0, ge=0, le=1, description="probability of the label's own palette colour")


# OpenSTL's noisy Moving MNIST (chengtan9907/OpenSTL, openstl/datasets/dataloader_noisy_moving_mnist.py
# at c74deb5): each kind's parameters and defaults are its own; `core.corrupt` applies them.
class Perceptual(_Model):
    """OpenSTL's `perceptual` noise: a size x size square of each input frame set to 0."""

    size: int = Field(24, ge=1, le=4096, description="side of the blacked-out square, in pixels (OpenSTL: 24)")


class Missing(_Model):
    """OpenSTL's `missing` noise: each input frame set to 0 with a probability."""

    probability: float = Field(0.2, ge=0, le=1, description="chance that an input frame is zeroed (OpenSTL: 0.2)")


class Dynamic(_Model):
    """OpenSTL's `dynamic` noise: Gaussian noise on each digit's velocity in each input step."""

    sigma: float = Field(
        0.2, ge=0, le=10, description="sd per velocity component, in units of the digit's speed (OpenSTL: 0.2)"
    )


# The presets whose rule is Srivastava et al.'s clamp-and-negate loop, OpenSTL's own motion:
# the ones `dynamic` can perturb (core.motion.presets.CLAMPED has their velocities).
DYNAMIC_PRESETS = ("srivastava", "tutorial")


class Corruptions(_Model):
    """Noise on the input frames only, each kind off (null) by default; the targets and the
    annotations stay those of the clean scene."""

    input_frames: int = Field(
        10, ge=1, le=100_000, description="frames 0 .. input_frames - 1 are the inputs (OpenSTL: 10 of 20)"
    )
    perceptual: Perceptual | None = None
    missing: Missing | None = None
    dynamic: Dynamic | None = None

    @property
    def active(self) -> bool:
        """Whether any kind is on."""
        return any(k is not None for k in (self.perceptual, self.missing, self.dynamic))


class Source(_Model):
    """Where the digit images come from. Fields a kind does not use are ignored."""

    kind: SourceKindName = source_kinds.DEFAULT
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
        if source_kinds.KINDS[self.kind].needs_path and not self.path:
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


class Background(_Model):
    """What the digits are drawn over: nothing (black), or an image per sequence from a source.

    The image (one of `pool`, or of each split's own digit pool slice) is resized to the canvas
    with OpenCV's bicubic arithmetic (`core.background`) and combined with the digits by
    render.combine as the bottom layer; `drift` moves it, wrapping around the canvas. A named
    kind (`BACKGROUNDS`) fills the fields the config leaves out, as motion presets do.
    """

    kind: Literal["none", "image", "openstl-cifar"] = "none"
    source: Source = Field(
        default_factory=lambda: Source(kind="tfds", name="cifar10"),
        description="where the background images come from (a digit source's fields)",
    )
    pool: str | None = Field(
        None, description="the slice of that source every split draws from; null: each split's pool"
    )
    drift: float = Field(0.0, ge=0, le=1024, description="pixels per frame the background moves (wrapping); 0: static")
    binarize: bool = Field(False, description="digit pixels > 1 set to 255, as OpenSTL's mnist_cifar does")

    @field_validator("pool")
    @classmethod
    def _check_pool(cls, value: str | None) -> str | None:
        if value is not None:
            PoolSpec.parse(value)
        return value


# What a named kind of background brings when the config does not say.
BACKGROUNDS: Mapping[str, Mapping[str, Any]] = {
    "none": {},
    "image": {},
    # OpenSTL's mnist_cifar (openstl/datasets/dataloader_moving_mnist.py at c74deb5): a static
    # CIFAR-10 image resized to the canvas bicubically, digits binarised, per-channel max.
    "openstl-cifar": {"source": {"kind": "tfds", "name": "cifar10"}, "binarize": True, "drift": 0.0},
}


def _as_background(value: Any) -> Any:
    """`render.background: NAME` is `{kind: NAME}`; a named kind's settings fill what is left out."""
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, Mapping) or not isinstance(value.get("kind"), str):
        return value
    filled = {**BACKGROUNDS.get(value["kind"], {}), **value}
    for key, default in BACKGROUNDS.get(value["kind"], {}).items():  # `source.data_dir=...` keeps its name
        if isinstance(default, Mapping) and isinstance(value.get(key), Mapping):
            filled[key] = {**default, **value[key]}
    return filled


class Render(_Model):
    """How overlapping sprites are combined, what touches the walls, the digits' colour and what lies beneath."""

    combine: Literal["max", "sum", "over"] = "max"
    bounce_on: Literal["patch", "ink"] = "patch"
    # Off by default (null): grey digits (or the source's own colours).
    colour: Colour | None = None
    background: Annotated[Background, BeforeValidator(_as_background)] = Background()


class Annotations(_Model):
    """Which annotations beyond labels, positions and source_index each shard stores."""

    trajectories: bool = True
    velocities: bool = True
    boxes: bool = True
    amodal_boxes: bool = True
    # Off by default: the instance masks are frame-sized, so they double a shard's bytes and
    # its compression work (README "Annotations: what each costs"); boxes and visibility,
    # which come from the same mask, stay on.
    masks: bool = False
    visibility: bool = True
    events: bool = True
    # Off by default: frame-sized and float16 (two values a pixel), so several times a shard's
    # frames; stores `flow` and `flow_valid` (core.flow).
    flow: bool = False
    # Off by default (0): the number P of query points per sequence whose tracks are stored
    # (`tracks` and `occluded`, core.tracks), spread over its digits.
    tracks: int = Field(0, ge=0, le=4096)
    # Off by default: one sentence per sequence from a fixed grammar over its labels, motion
    # and events (`captions`, core.captions).
    captions: bool = False
    # Off by default: a sentence per bounce or collision with the frames it lies between, from
    # the same grammar (`event_captions` and `event_frames`, core.captions.per_event).
    event_captions: bool = False

    @classmethod
    def none(cls) -> Annotations:
        """Every annotation off (False, and 0 points)."""
        return cls.model_validate({name: type(field.default)() for name, field in cls.model_fields.items()})


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


_ADDRESS_RE = {
    "dask": (re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://\S+$"), "tcp://HOST:PORT"),
    "ray": (re.compile(r"^(auto|[^\s:/]+:\d+)$"), "HOST:PORT (the head's GCS port) or auto"),
}


class Engine(_Model):
    """Where shard tasks run: local worker processes, a Dask or a Ray cluster. Never changes the bytes."""

    kind: Literal["local", "dask", "ray"] = "local"
    address: str | None = Field(
        None, description="dask or ray: the scheduler's / head's address; none starts a local cluster"
    )

    @model_validator(mode="after")
    def _check(self) -> Engine:
        if self.address is None:
            return self
        if self.kind not in _ADDRESS_RE:
            raise PydanticCustomError(
                "path", "address is for kind 'dask' or 'ray' only; set engine.kind or drop engine.address", {}
            )
        pattern, shape = _ADDRESS_RE[self.kind]
        if not pattern.match(self.address):
            raise PydanticCustomError(
                "path", "address must look like {shape} (got {v})", {"shape": shape, "v": repr(self.address)}
            )
        return self
