"""The preset catalogue: every motion preset's name, the settings it brings, and what it does.

One row per preset, as data. The config reads it for names and defaults, the core's
`motion.PRESETS` holds one function per name (tests/config/test_catalogues.py checks that
they agree), and the dataset card prints the description. A new preset is a row here and
a function in `core/motion/presets.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Preset:
    """One motion preset.

    defaults: what the preset sets when the config does not, (section, field) -> value.
    description: the motion rule in a sentence, as the dataset card states it.
    warped: digits turn and scale, so every frame draws its own resampled sprite
        (`core.layers`): grayscale only, its own walls (a margin inside the canvas).
    margin: pixels between the canvas edge and the lines the digits' centres bounce off.
    walls_only: the rule is its walls (motion.boundary bounce, no motion.acceleration).
    collides: digits bounce off one another too (`events` then names the other digit).
    """

    name: str
    defaults: Mapping[tuple[str, str], Any]
    description: str
    warped: bool = False
    margin: int = 0
    walls_only: bool = False
    collides: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


_SVG = {("motion", "speed"): 0.125, ("render", "combine"): "sum", ("digits", "size"): 32}
_SRVP = {("motion", "speed"): 0.111, ("render", "combine"): "sum", ("digits", "size"): 28}

CATALOGUE: tuple[Preset, ...] = (
    Preset(
        "srivastava",
        {("motion", "speed"): 0.1},
        "the bounce of Srivastava et al. 2015, the generator behind `mnist_test_seq.npy`: each digit starts at"
        " a uniform position in its free range (canvas minus digit size) with a uniform direction; every frame"
        " it steps by its velocity, then a position past an edge is clamped to the edge and that velocity"
        " component negated; frame 0 is the position after the first step; positions are truncated to pixels"
        " and digits combined by pixel-wise max",
    ),
    Preset(
        "tutorial",
        {("motion", "speed"): 0.5},
        "the rules of the most copied Moving MNIST tutorial: like Srivastava et al.'s clamp-and-negate bounce,"
        " but each velocity component is the step times a uniform [0, 1) number, both starting non-negative",
    ),
    Preset(
        "tfds",
        {("motion", "speed"): 0.1},
        "tensorflow-datasets' `video/moving_sequence.py`: a Gaussian direction, and an exact reflection in"
        " closed form, p = (x0 + v t) mod 2, position = min(p, 2 - p), rounded half to even",
    ),
    # svg combines by clipped sum of 32 px digits, as edenton/svg does.
    Preset(
        "svg-deterministic",
        _SVG,
        "Denton & Fergus 2018 (edenton/svg): integer positions and velocities in pixels; at a wall the position"
        " is clamped and that velocity component negated",
    ),
    Preset(
        "svg-stochastic",
        _SVG,
        "Denton & Fergus 2018 (edenton/svg): integer positions and velocities in pixels; at a wall a new"
        " velocity is drawn, its normal component pointing away from the wall",
    ),
    # srvp draws 28 px MNIST digits as they are, up to 4 px a frame in a free range of 36: 4 / 36.
    Preset(
        "srvp-deterministic",
        _SRVP,
        "Franceschi et al. 2020 (edouardelasalles/srvp, data/mmnist.py): integer velocities in pixels, exact"
        " sub-pixel reflections within the frame's step, positions rounded to pixels",
        walls_only=True,
    ),
    Preset(
        "srvp-stochastic",
        _SRVP,
        "Franceschi et al. 2020 (edouardelasalles/srvp, data/mmnist.py): integer velocities in pixels; at a wall"
        " both components are drawn anew, the normal one turned away from the wall, and the rest of the step is"
        " travelled with it; positions rounded to pixels",
        walls_only=True,
    ),
    Preset(
        "mmnist++",
        {("motion", "speed"): [0.0, 0.1], ("digits", "count"): 3},
        "MovingMNIST++ of Shi et al. 2015 (after sxjscience/HKO-7): each digit's ink crop moves, turns by a"
        " fixed angle per frame, scales and brightens on a 5-frame rhythm, and its centre bounces off lines"
        " 10 px inside the canvas",
        warped=True,
        margin=10,
    ),
    Preset(
        "elastic",
        {("motion", "speed"): 0.1},
        "elastic collisions after Moving Symbols (rszeto/moving-symbols): each digit's box (render.bounce_on:"
        " its patch or its ink) starts apart from the others, moves in a straight line at a uniform direction,"
        " and at the exact time two boxes touch, or a box a wall, within a frame, the velocity components"
        " along the contact are exchanged as in a two-body elastic collision (motion.mass: equal, or"
        " proportional to ink) or reflected; frame 0 is the start",
        walls_only=True,
        collides=True,
    ),
)

PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in CATALOGUE})
NAMES: tuple[str, ...] = tuple(PRESETS)
DEFAULT = "srivastava"
