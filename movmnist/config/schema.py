"""The config schema: one validated, frozen `Config`, built from the section models.

Everything downstream receives a `Config` and never reads raw dicts. Validation is
pydantic v2 in strict mode: it gives us the dotted location of every problem, forbids
unknown keys, and dumps the resolved config back to plain data for the manifest;
`messages` rewords its errors into one line that names the field, the rule and the value.
Each top-level key is a section model (`sections`), built from the field types in `fields`;
here are the checks across sections and the round trip to plain data. Preset and codec
names come from their catalogues (`presets`, `codecs`). Reading YAML is `load`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from movmnist.config import presets
from movmnist.config.fields import ALL, _compact, _Model
from movmnist.config.messages import format_errors
from movmnist.config.sections import (
    DYNAMIC_PRESETS,
    SPLITS,
    Annotations,
    BuildCfg,
    Canvas,
    Corruptions,
    Digits,
    Engine,
    Motion,
    Output,
    Render,
    SequenceCfg,
    Source,
    Splits,
)
from movmnist.errors import ConfigError
from movmnist.text import local_name

# `events` holds a bit per wall (4) and, when digits collide, one per other digit slot: 64 bits at most.
COLLIDING_DIGITS = 60


class Config(_Model):
    """The whole, resolved build config."""

    seed: int = Field(0, ge=0, le=2**63 - 1)
    canvas: Canvas = Canvas()
    sequence: SequenceCfg = SequenceCfg()
    digits: Digits = Digits()
    motion: Motion = Motion()
    render: Render = Render()
    annotations: Annotations = Annotations()
    corruptions: Corruptions = Corruptions()
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
        for name in ("captions", "event_captions"):
            if preset.warped and getattr(self.annotations, name):
                raise PydanticCustomError(
                    "fit",
                    "annotations.{name} describe digits that translate, and motion.preset {p} turns and scales"
                    " them; set annotations.{name}: false or pick another preset",
                    {"p": preset.name, "name": name},
                )
        if preset.walls_only and (self.motion.boundary != "bounce" or self.motion.acceleration):
            raise PydanticCustomError(
                "fit",
                "motion.preset {p} is its own walls and steps; leave motion.boundary: bounce"
                " and motion.acceleration: 0",
                {"p": preset.name},
            )
        if preset.collides and self.digits.count[1] > COLLIDING_DIGITS:
            raise PydanticCustomError(
                "fit",
                "motion.preset {p} records which digits collide in a 64-bit `events` value, so digits.count"
                " must be <= {most} (got {k})",
                {"p": preset.name, "most": COLLIDING_DIGITS, "k": self.digits.count[1]},
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
        if self.render.colour is not None and preset.warped:
            raise PydanticCustomError(
                "fit",
                "render.colour tints fixed sprites, and motion.preset {p} warps grey digits every frame;"
                " drop render.colour or pick another preset",
                {"p": preset.name},
            )
        if self.render.colour is not None and self.source.colour:
            raise PydanticCustomError(
                "fit",
                "render.colour tints grey digits, and source.colour already gives them colours;"
                " set source.colour: false or drop render.colour",
                {},
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

    @model_validator(mode="after")
    def _corruptions_fit(self) -> Config:
        c = self.corruptions
        if not c.active:
            return self
        if c.input_frames >= self.sequence.length:
            raise PydanticCustomError(
                "fit",
                "corruptions.input_frames must be < sequence.length ({t}), leaving target frames clean (got {k})",
                {"t": self.sequence.length, "k": c.input_frames},
            )
        side = min(self.canvas.height, self.canvas.width)
        if c.perceptual is not None and c.perceptual.size >= side:
            raise PydanticCustomError(
                "fit",
                "corruptions.perceptual.size must be < the canvas's shorter side ({s}), as its top-left is drawn"
                " in [0, side - size) (got {v})",
                {"s": side, "v": c.perceptual.size},
            )
        if c.dynamic is not None and (self.motion.preset not in DYNAMIC_PRESETS or self.motion.boundary != "bounce"):
            raise PydanticCustomError(
                "fit",
                "corruptions.dynamic perturbs the velocity of Srivastava et al.'s bounce (OpenSTL's motion): it needs"
                " motion.preset {ok} and motion.boundary: bounce (got {p}, {b})",
                {"ok": " or ".join(DYNAMIC_PRESETS), "p": self.motion.preset, "b": self.motion.boundary},
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
        local one, and `--resume` compares it to refuse a different config. Local paths
        (source.path, source.data_dir) are cut to their last component: where the builder
        kept its files is not the dataset's business, and does not change its bytes.
        """
        data = self.to_data()
        del data["engine"]
        for source in (data["source"], data["render"]["background"]["source"]):
            for key in ("path", "data_dir"):  # the builder's own folders stay on its machine: only their names
                if source.get(key):
                    source[key] = local_name(source[key])
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
